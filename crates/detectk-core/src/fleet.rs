//! Many metrics at once: load a directory of configs, build every metric, and run or
//! backfill them with bounded concurrency. One metric's failure, or panic, is that
//! metric's outcome; the others go on.
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

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use futures::{FutureExt, Stream, StreamExt};

use crate::config::{LoadOptions, PartialConfig, load_configs};
use crate::error::{ConfigError, Error};
use crate::pipeline::{
    BackfillOptions, BackfillReport, BatchProgress, MetricPlan, RunOptions, RunReport, Runner,
    build_partial,
};
use crate::registry::Registry;

/// Test-only hook: a run or backfill of the metric named by this variable panics as it
/// starts, so tests can prove a panic fails that metric alone. Not for production use.
#[doc(hidden)]
pub const TEST_PANIC_ENV: &str = "DETECTK_TEST_PANIC";

/// How a fleet runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetOptions {
    /// Metrics processed at the same time (at least 1).
    pub concurrency: usize,
}

impl FleetOptions {
    /// Options running `concurrency` metrics at a time (0 counts as 1).
    pub fn with_concurrency(concurrency: usize) -> Self {
        Self {
            concurrency: concurrency.max(1),
        }
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
}

impl MetricOutcome<RunReport> {
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
        self.metrics.len() - self.failed()
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

    /// The built metrics, in file order.
    pub fn plans(&self) -> &[MetricPlan] {
        &self.plans
    }

    /// The configs that could not be loaded or built.
    pub fn invalid(&self) -> &[ConfigError] {
        &self.invalid
    }

    /// Runs every metric (`dtk run`), `options.concurrency` at a time; yields each
    /// outcome in the fleet's order as soon as it and those before it are done.
    pub fn run_each(
        &self,
        run: RunOptions,
        options: FleetOptions,
    ) -> impl Stream<Item = MetricOutcome<RunReport>> + '_ {
        futures::stream::iter(self.plans.iter())
            .map(move |plan| isolated(plan, self.runner.run(plan, run)))
            .buffered(options.concurrency.max(1))
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
        futures::stream::iter(self.plans.iter())
            .map(move |plan| {
                let metric = plan.config.name.as_str();
                let work = self
                    .runner
                    .backfill(plan, backfill, move |p| progress(metric, p));
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
    let result = AssertUnwindSafe(async {
        if std::env::var(TEST_PANIC_ENV).is_ok_and(|m| m == metric) {
            panic!("injected by {TEST_PANIC_ENV}");
        }
        work.await
    })
    .catch_unwind()
    .await
    .unwrap_or_else(|payload| Err(Error::from_panic(&metric, payload.as_ref())));
    MetricOutcome { metric, result }
}
