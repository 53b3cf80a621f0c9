//! Many metrics at once: load a directory of configs, build every metric, and run or
//! backfill them with bounded concurrency. One metric's failure, or panic, is that
//! metric's outcome; the others go on.
//!
//! Each metric may have its own time limit ([`FleetOptions::timeout`]), and besides
//! the global bound, metrics sharing a storage or a source can be bounded
//! ([`FleetOptions::per_storage`], [`FleetOptions::per_source`]).
//!
//! # Scale-out: shards and run leases
//!
//! Several workers split a fleet with [`Fleet::retain_shard`]: metric `name` is in
//! shard `i` of `n` when `fnv1a_64(name) % n == i` ([`Shard`]). Before running a
//! metric, a worker takes its run lease in the metric's storage and skips the metric
//! when another worker holds it (overlapping shards, a retry while the first attempt
//! still runs); a dead worker's lease expires after [`RUN_LEASE_TTL_ENV`] seconds
//! (default 60) and the next run takes over. See `docs/scale-out.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), detectk_core::ConfigError> {
//! use detectk_core::Registry;
//! use detectk_core::config::LoadOptions;
//! use detectk_core::fleet::{Fleet, FleetOptions};
//! use detectk_core::pipeline::RunOptions;
//!
//! let registry = Registry::with_builtins(); // plus the backend crates you link
//! let fleet = Fleet::load(&registry, &["metrics".into()], &LoadOptions::default())?;
//! let report = fleet
//!     .run(RunOptions { execution_time: chrono::Utc::now(), dry_run: false }, FleetOptions::default())
//!     .await;
//! println!("{} ok, {} failed", report.ok(), report.failed());
//! # Ok(())
//! # }
//! ```

mod chunk;
mod run_lease;
mod shard;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use futures::{FutureExt, Stream, StreamExt};

use crate::config::{LoadOptions, PartialConfig, load_configs};
use crate::error::{ConfigError, Error};
use crate::pipeline::{
    BackfillOptions, BackfillReport, BatchProgress, MetricPlan, RunOptions, RunReport, Runner,
    build_partial,
};
use crate::registry::Registry;

pub use run_lease::{
    DEFAULT_RUN_LEASE_TTL, HELD_ELSEWHERE, RUN_LEASE_TTL_ENV, run_lease_key, run_lease_ttl,
};
pub use shard::{Shard, ShardError, fnv1a_64};

/// Test-only hook: a run or backfill of the metric named by this variable panics as it
/// starts, so tests can prove a panic fails that metric alone. Not for production use.
#[doc(hidden)]
pub const TEST_PANIC_ENV: &str = "DETECTK_TEST_PANIC";

/// Test-only hook: a run of the metric named by this variable, once it holds the
/// metric's run lease, waits forever (renewing the lease) instead of running, so tests
/// can kill a worker that holds a lease. Not for production use.
#[doc(hidden)]
pub const TEST_HOLD_ENV: &str = "DETECTK_TEST_HOLD_RUN";

/// How a fleet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetOptions {
    /// Metrics processed at the same time (at least 1).
    pub concurrency: usize,
    /// At most this many metrics at a time per storage (metrics sharing a storage, as
    /// its description names it); `None`: only `concurrency` bounds them.
    pub per_storage: Option<usize>,
    /// At most this many metrics at a time per source (collector, as its description
    /// names it); `None`: only `concurrency` bounds them.
    pub per_source: Option<usize>,
    /// Each metric's own time limit; one that exceeds it fails with
    /// [`Error::Timeout`] and the others go on. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Take each metric's run lease before running it and skip metrics another worker
    /// holds (see [the module docs](self#scale-out-shards-and-run-leases)). On by default; dry runs never lease.
    pub lease: bool,
}

impl FleetOptions {
    /// Options running `concurrency` metrics at a time (0 counts as 1).
    pub fn with_concurrency(concurrency: usize) -> Self {
        Self {
            concurrency: concurrency.max(1),
            per_storage: None,
            per_source: None,
            timeout: None,
            lease: true,
        }
    }

    /// Bounds the metrics running at once per storage (0 counts as 1).
    pub fn per_storage(mut self, limit: usize) -> Self {
        self.per_storage = Some(limit.max(1));
        self
    }

    /// Bounds the metrics running at once per source (0 counts as 1).
    pub fn per_source(mut self, limit: usize) -> Self {
        self.per_source = Some(limit.max(1));
        self
    }

    /// Gives each metric at most `timeout` (`None`: no limit).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether runs take per-metric run leases (default true).
    pub fn lease(mut self, lease: bool) -> Self {
        self.lease = lease;
        self
    }
}

impl Default for FleetOptions {
    /// Four metrics at a time, as `dtk run` does by default.
    fn default() -> Self {
        Self::with_concurrency(4)
    }
}

/// What happened to one metric of a fleet.
#[derive(Debug)]
#[non_exhaustive]
pub struct MetricOutcome<R> {
    /// Metric name.
    pub metric: String,
    /// Its report, or why it failed (a panic is an [`Error::Internal`]).
    pub result: Result<R, Error>,
    /// Wall time the metric took.
    pub elapsed: std::time::Duration,
}

impl MetricOutcome<RunReport> {
    /// Why the metric was not processed (e.g. "held by another worker"), if it was not.
    pub fn skipped(&self) -> Option<&str> {
        self.result.as_ref().ok().and_then(|r| r.skipped.as_deref())
    }

    /// Why the metric failed: the run's error, or its undelivered alert (the run
    /// itself finished and its report is kept).
    pub fn failure(&self) -> Option<&Error> {
        match &self.result {
            Ok(report) => report.alert_failure.as_deref(),
            Err(e) => Some(e),
        }
    }
}

impl MetricOutcome<BackfillReport> {
    /// Why the metric failed, if it did.
    pub fn failure(&self) -> Option<&Error> {
        self.result.as_ref().err()
    }
}

/// Every metric's outcome, in the fleet's order, and the configs that were invalid.
#[derive(Debug)]
#[non_exhaustive]
pub struct FleetReport<R> {
    /// One outcome per built metric.
    pub metrics: Vec<MetricOutcome<R>>,
    /// Invalid configs (each lists all its problems); they were not run.
    pub invalid: Vec<ConfigError>,
}

impl FleetReport<RunReport> {
    /// Metrics that succeeded.
    pub fn ok(&self) -> usize {
        self.metrics.len() - self.failed() - self.skipped()
    }

    /// Metrics skipped because another worker held their run lease.
    pub fn skipped(&self) -> usize {
        self.metrics
            .iter()
            .filter(|m| m.skipped().is_some())
            .count()
    }

    /// Metrics that failed (an undelivered alert included).
    pub fn failed(&self) -> usize {
        self.metrics
            .iter()
            .filter(|m| m.failure().is_some())
            .count()
    }
}

impl FleetReport<BackfillReport> {
    /// Metrics that succeeded.
    pub fn ok(&self) -> usize {
        self.metrics.len() - self.failed()
    }

    /// Metrics that failed.
    pub fn failed(&self) -> usize {
        self.metrics
            .iter()
            .filter(|m| m.failure().is_some())
            .count()
    }
}

/// Built metrics, the configs that could not be built, and the runner they share
/// (it remembers which storages were migrated).
#[derive(Debug)]
pub struct Fleet {
    plans: Vec<MetricPlan>,
    invalid: Vec<ConfigError>,
    runner: Runner,
}

impl Fleet {
    /// Loads every metric config under `paths` (files, or directories searched
    /// recursively) and builds each with `registry`. A config that does not load or
    /// build is kept in [`Fleet::invalid`]; an unreadable path is an error.
    pub fn load(
        registry: &Registry,
        paths: &[PathBuf],
        options: &LoadOptions,
    ) -> Result<Self, ConfigError> {
        let loaded = load_configs(paths, options, |_| true)?;
        let mut fleet = Self::build(registry, loaded.configs);
        fleet.invalid.splice(0..0, loaded.errors);
        Ok(fleet)
    }

    /// Builds each loaded config with `registry`.
    pub fn build(registry: &Registry, configs: Vec<PartialConfig>) -> Self {
        let mut fleet = Self::from_plans(Vec::new());
        for partial in configs {
            match build_partial(registry, partial) {
                Ok(plan) => fleet.plans.push(plan),
                Err(e) => fleet.invalid.push(e),
            }
        }
        fleet
    }

    /// A fleet of metrics already built.
    pub fn from_plans(plans: Vec<MetricPlan>) -> Self {
        Self {
            plans,
            invalid: Vec::new(),
            runner: Runner::new(),
        }
    }

    /// Keeps only the metrics of `shard` (see [`Shard`]); returns how many were left out.
    pub fn retain_shard(&mut self, shard: Shard) -> usize {
        let before = self.plans.len();
        self.plans.retain(|p| shard.contains(&p.config.name));
        before - self.plans.len()
    }

    /// The built metrics, in file order.
    pub fn plans(&self) -> &[MetricPlan] {
        &self.plans
    }

    /// The configs that could not be loaded or built.
    pub fn invalid(&self) -> &[ConfigError] {
        &self.invalid
    }

    /// Runs every metric (`dtk run`), `options.concurrency` at a time (and within the
    /// per-storage and per-source bounds); yields each outcome in the fleet's order as
    /// soon as it and those before it are done. Unless `run.dry_run` or
    /// `options.lease` is off, each metric first takes its run lease and is skipped
    /// ([`MetricOutcome::skipped`]) when another worker holds it.
    pub fn run_each(
        &self,
        run: RunOptions,
        options: FleetOptions,
    ) -> impl Stream<Item = MetricOutcome<RunReport>> + '_ {
        let bounds = Bounds::new(&self.plans, &options);
        let concurrency = options.concurrency.max(1);
        if options.lease && !run.dry_run {
            // A chunk at a time under batched run leases (see `chunk`).
            return futures::future::Either::Left(self.run_leased(run, options, bounds));
        }
        let each = futures::stream::iter(self.plans.iter())
            .map(move |plan| {
                let bounds = bounds.clone();
                let work = async move {
                    let _permits = bounds.acquire(plan).await;
                    limited(plan, options.timeout, self.runner.run(plan, run)).await
                };
                isolated(plan, work)
            })
            .buffered(concurrency);
        futures::future::Either::Right(each)
    }

    /// Runs every metric and collects the outcomes; see [`Fleet::run_each`].
    pub async fn run(&self, run: RunOptions, options: FleetOptions) -> FleetReport<RunReport> {
        self.report(self.run_each(run, options).collect().await)
    }

    /// Backfills every metric (`dtk backfill`), `options.concurrency` at a time;
    /// `progress` hears each finished batch with its metric's name.
    pub fn backfill_each<'a>(
        &'a self,
        backfill: BackfillOptions,
        options: FleetOptions,
        progress: &'a (dyn Fn(&str, BatchProgress) + Sync),
    ) -> impl Stream<Item = MetricOutcome<BackfillReport>> + 'a {
        let bounds = Bounds::new(&self.plans, &options);
        futures::stream::iter(self.plans.iter())
            .map(move |plan| {
                let bounds = bounds.clone();
                let metric = plan.config.name.as_str();
                let work = async move {
                    let _permits = bounds.acquire(plan).await;
                    let work = self
                        .runner
                        .backfill(plan, backfill, move |p| progress(metric, p));
                    limited(plan, options.timeout, work).await
                };
                isolated(plan, work)
            })
            .buffered(options.concurrency.max(1))
    }

    /// Backfills every metric and collects the outcomes; see [`Fleet::backfill_each`].
    pub async fn backfill(
        &self,
        backfill: BackfillOptions,
        options: FleetOptions,
    ) -> FleetReport<BackfillReport> {
        let quiet = |_: &str, _: BatchProgress| {};
        self.report(
            self.backfill_each(backfill, options, &quiet)
                .collect()
                .await,
        )
    }

    fn report<R>(&self, metrics: Vec<MetricOutcome<R>>) -> FleetReport<R> {
        FleetReport {
            metrics,
            invalid: self.invalid.clone(),
        }
    }
}

/// Runs one metric's work; a panic becomes that metric's [`Error::Internal`].
async fn isolated<R>(
    plan: &MetricPlan,
    work: impl Future<Output = Result<R, Error>>,
) -> MetricOutcome<R> {
    let metric = plan.config.name.clone();
    let clock = std::time::Instant::now();
    let result = AssertUnwindSafe(async {
        if std::env::var(TEST_PANIC_ENV).is_ok_and(|m| m == metric) {
            panic!("injected by {TEST_PANIC_ENV}");
        }
        work.await
    })
    .catch_unwind()
    .await
    .unwrap_or_else(|payload| Err(Error::from_panic(&metric, payload.as_ref())));
    MetricOutcome {
        metric,
        result,
        elapsed: clock.elapsed(),
    }
}

/// Fails `work` with [`Error::Timeout`] when it outlasts `timeout`. `work` is boxed at
/// once: a metric's run or backfill future is several KiB, and the fleet's stream moves
/// each metric's future (a pointer, this way).
fn limited<'a, R>(
    plan: &'a MetricPlan,
    timeout: Option<Duration>,
    work: impl Future<Output = Result<R, Error>> + 'a,
) -> impl Future<Output = Result<R, Error>> + 'a {
    let work = Box::pin(work);
    async move {
        let Some(timeout) = timeout else {
            return work.await;
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                metric: plan.config.name.clone(),
                seconds: timeout.as_secs(),
            }),
        }
    }
}

/// The per-storage and per-source semaphores of a fleet run.
#[derive(Debug, Clone, Default)]
struct Bounds {
    storages: Arc<HashMap<String, Arc<Semaphore>>>,
    sources: Arc<HashMap<String, Arc<Semaphore>>>,
}

impl Bounds {
    fn new(plans: &[MetricPlan], options: &FleetOptions) -> Self {
        let table = |limit: Option<usize>, key: &dyn Fn(&MetricPlan) -> String| {
            let mut map = HashMap::new();
            if let Some(limit) = limit {
                for plan in plans {
                    map.entry(key(plan))
                        .or_insert_with(|| Arc::new(Semaphore::new(limit.max(1))));
                }
            }
            Arc::new(map)
        };
        Self {
            storages: table(options.per_storage, &|p| p.storage.describe()),
            sources: table(options.per_source, &|p| p.collector.describe()),
        }
    }

    /// Waits for the metric's storage and source permits (storage first, always in
    /// that order, so two metrics never wait on each other).
    async fn acquire(&self, plan: &MetricPlan) -> Vec<OwnedSemaphorePermit> {
        let mut permits = Vec::new();
        // Without a bound (the default) the descriptions are not even written out.
        if !self.storages.is_empty()
            && let Some(s) = self.storages.get(&plan.storage.describe())
        {
            permits.extend(s.clone().acquire_owned().await.ok());
        }
        if !self.sources.is_empty()
            && let Some(s) = self.sources.get(&plan.collector.describe())
        {
            permits.extend(s.clone().acquire_owned().await.ok());
        }
        permits
    }
}
