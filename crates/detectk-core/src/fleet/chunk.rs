//! A fleet's leased run, a chunk of metrics at a time: per storage, one statement takes
//! the run leases of the chunk's metrics, one reads their newest points and one their
//! newest detections (under the leases, so no other worker changes them meanwhile);
//! the metrics then run (each with its own bounds and timeout) while the leases are
//! renewed together, and one statement releases them.
//!
//! The semantics are those of one lease per metric (see `run_lease`): a metric is
//! processed by at most one worker at a time; a metric whose lease another worker holds
//! is skipped; a dead worker stops renewing and its leases expire after the TTL.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures::StreamExt;

use super::run_lease::{HELD_ELSEWHERE, run_lease_key, run_lease_ttl};
use super::{Bounds, Fleet, MetricOutcome, TEST_HOLD_ENV, isolated, limited};
use crate::alert::unique_token;
use crate::error::{BackendError, BackendErrorKind, Error};
use crate::pipeline::{Known, MetricPlan, RunOptions, RunReport};
use crate::traits::{AlertLeases, Storage};

/// Metrics per chunk: leases are taken, renewed and released for this many at once.
pub(super) const CHUNK: usize = 256;

/// What the chunk start decided for one metric.
enum Start {
    /// Run it (leased when its storage keeps alert state), knowing what was read.
    Run(Option<Known>),
    /// Another worker holds its run lease.
    Held,
    /// Its storage's leases or reads failed.
    Failed(Error),
}

/// The run leases one storage gave this chunk.
struct Leased {
    storage: Arc<dyn Storage>,
    token: String,
    keys: Vec<String>,
}

impl Fleet {
    /// Runs `chunk` under batched run leases; outcomes in the chunk's order.
    pub(super) async fn run_chunk(
        &self,
        chunk: &[MetricPlan],
        run: RunOptions,
        concurrency: usize,
        timeout: Option<Duration>,
        bounds: &Bounds,
    ) -> Vec<MetricOutcome<RunReport>> {
        let ttl = run_lease_ttl();
        let (starts, leased) = self.start_chunk(chunk, ttl).await;
        let work = futures::stream::iter(chunk.iter().zip(starts))
            .map(|(plan, start)| {
                let bounds = bounds.clone();
                let work = async move {
                    let metric = plan.config.name.as_str();
                    let known = match start {
                        Start::Run(known) => known,
                        Start::Held => {
                            tracing::info!(metric, "skipped: {HELD_ELSEWHERE}");
                            return Ok(RunReport::skipped(
                                metric,
                                run.execution_time,
                                HELD_ELSEWHERE,
                            ));
                        }
                        Start::Failed(e) => return Err(e),
                    };
                    let _permits = bounds.acquire(plan).await;
                    let work = async {
                        if std::env::var(TEST_HOLD_ENV).is_ok_and(|m| m == metric) {
                            std::future::pending::<()>().await;
                        }
                        self.runner.run_known(plan, run, known).await
                    };
                    limited(plan, timeout, work).await
                };
                isolated(plan, work)
            })
            .buffered(concurrency.max(1))
            .collect::<Vec<_>>();
        let outcomes = while_renewed(&leased, ttl, work).await;
        for lease in &leased {
            if let Err(e) = lease
                .storage
                .release_alert_leases(&lease.keys, &lease.token)
                .await
            {
                tracing::warn!(
                    storage = lease.storage.describe(),
                    "could not release {} run lease(s) (they expire in {}s): {e}",
                    lease.keys.len(),
                    ttl.as_secs()
                );
            }
        }
        outcomes
    }

    /// Per storage of the chunk: migrate, take the run leases, read what the runs need.
    async fn start_chunk(&self, chunk: &[MetricPlan], ttl: Duration) -> (Vec<Start>, Vec<Leased>) {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, plan) in chunk.iter().enumerate() {
            let key = plan.storage.describe();
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let mut starts: Vec<Option<Start>> = (0..chunk.len()).map(|_| None).collect();
        let mut leased = Vec::new();
        for (_, members) in groups {
            let first = &chunk[members[0]];
            let storage = Arc::clone(&first.storage);
            if !storage.keeps_alert_state() {
                // No compare-and-set (ClickHouse without a `state:` storage): unleased.
                for i in members {
                    starts[i] = Some(Start::Run(None));
                }
                continue;
            }
            match self.lease_group(chunk, &members, &storage, ttl).await {
                Ok((group_starts, lease)) => {
                    for (i, start) in members.into_iter().zip(group_starts) {
                        starts[i] = Some(start);
                    }
                    leased.push(lease);
                }
                Err(e) => {
                    for i in members {
                        starts[i] = Some(Start::Failed(Error::Storage {
                            metric: chunk[i].config.name.clone(),
                            source: Box::new(copy_error(&e)),
                        }));
                    }
                }
            }
        }
        let starts = starts
            .into_iter()
            .map(|s| s.unwrap_or(Start::Run(None)))
            .collect();
        (starts, leased)
    }

    /// Takes the run leases of `members` (indices into `chunk`) in `storage`, then
    /// reads the newest point and detections of those it holds.
    async fn lease_group(
        &self,
        chunk: &[MetricPlan],
        members: &[usize],
        storage: &Arc<dyn Storage>,
        ttl: Duration,
    ) -> Result<(Vec<Start>, Leased), BackendError> {
        let first = chunk[members[0]].config.name.as_str();
        match self.runner.migrate(first, storage.as_ref()).await {
            Ok(()) => {}
            Err(Error::Storage { source, .. }) => return Err(*source),
            Err(e) => {
                return Err(BackendError::new(
                    BackendErrorKind::Schema,
                    storage.describe(),
                    e.to_string(),
                ));
            }
        }
        // A name twice in the chunk: the first takes the lease, the others find it held.
        let mut seen = HashSet::new();
        let keys: Vec<String> = members
            .iter()
            .map(|&i| run_lease_key(&chunk[i].config.name))
            .filter(|k| seen.insert(k.clone()))
            .collect();
        let token = unique_token(Utc::now());
        let now = Utc::now();
        let expires_at = now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::seconds(60));
        let request = AlertLeases::new(keys, token.clone(), now, expires_at);
        let held = storage.acquire_alert_leases(&request).await?;
        let leased = Leased {
            storage: Arc::clone(storage),
            token,
            keys: request
                .keys
                .into_iter()
                .filter(|k| held.contains(k))
                .collect(),
        };
        let mut taken = HashSet::new();
        let runs: Vec<bool> = members
            .iter()
            .map(|&i| {
                let key = run_lease_key(&chunk[i].config.name);
                held.contains(&key) && taken.insert(key)
            })
            .collect();
        let known = match self.read_known(chunk, members, &runs, storage).await {
            Ok(known) => Some(known),
            Err(e) => {
                // The runs read for themselves.
                tracing::warn!(
                    storage = storage.describe(),
                    "could not read the newest points and detections at once: {e}"
                );
                None
            }
        };
        let starts = members
            .iter()
            .zip(&runs)
            .map(|(&i, run)| {
                if !run {
                    return Start::Held;
                }
                let name = &chunk[i].config.name;
                Start::Run(
                    known
                        .as_ref()
                        .map(|k| k.get(name).cloned().unwrap_or_default()),
                )
            })
            .collect();
        Ok((starts, leased))
    }

    /// The newest point and detections of the metrics of `members` that run.
    async fn read_known(
        &self,
        chunk: &[MetricPlan],
        members: &[usize],
        runs: &[bool],
        storage: &Arc<dyn Storage>,
    ) -> Result<HashMap<String, Known>, BackendError> {
        let running: Vec<&MetricPlan> = members
            .iter()
            .zip(runs)
            .filter(|(_, run)| **run)
            .map(|(&i, _)| &chunk[i])
            .collect();
        if running.is_empty() {
            return Ok(HashMap::new());
        }
        let names: Vec<String> = running.iter().map(|p| p.config.name.clone()).collect();
        let pairs: Vec<(String, String)> = running
            .iter()
            .flat_map(|p| {
                p.detectors
                    .iter()
                    .map(|d| (p.config.name.clone(), d.info.id.clone()))
            })
            .collect();
        let points = storage.last_datapoint_times(&names).await?;
        let detections = if pairs.is_empty() {
            HashMap::new()
        } else {
            storage.last_detection_times_of(&pairs).await?
        };
        let mut known: HashMap<String, Known> = names
            .into_iter()
            .map(|name| {
                let last_point = points.get(&name).copied();
                (
                    name,
                    Known {
                        last_point,
                        last_detections: HashMap::new(),
                    },
                )
            })
            .collect();
        for ((metric, detector), t) in detections {
            if let Some(k) = known.get_mut(&metric) {
                k.last_detections.insert(detector, t);
            }
        }
        Ok(known)
    }
}

/// The same failure for another metric (the driver's text is already in the message).
fn copy_error(e: &BackendError) -> BackendError {
    BackendError {
        kind: e.kind,
        server: e.server.clone(),
        location: e.location.clone(),
        message: e.message.clone(),
        hint: e.hint.clone(),
        transient: e.transient,
        source: None,
    }
}

/// Runs `work` while renewing every lease of `leased` each third of `ttl`; a renewal
/// that fails, or finds a lease taken over, is logged (the work goes on).
async fn while_renewed<F: Future>(leased: &[Leased], ttl: Duration, work: F) -> F::Output {
    let renew = async {
        loop {
            tokio::time::sleep(ttl / 3).await;
            for lease in leased.iter().filter(|l| !l.keys.is_empty()) {
                let now = Utc::now();
                let expires_at = now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::seconds(60));
                let request =
                    AlertLeases::new(lease.keys.clone(), lease.token.clone(), now, expires_at);
                match lease.storage.acquire_alert_leases(&request).await {
                    Ok(held) if held.len() == lease.keys.len() => {}
                    Ok(held) => tracing::warn!(
                        storage = lease.storage.describe(),
                        "{} run lease(s) were taken over by another worker (this run \
                         outlived {}s without renewing)",
                        lease.keys.len() - held.len(),
                        ttl.as_secs()
                    ),
                    Err(e) => tracing::warn!(
                        storage = lease.storage.describe(),
                        "could not renew {} run lease(s): {e}",
                        lease.keys.len()
                    ),
                }
            }
        }
    };
    tokio::pin!(work);
    tokio::pin!(renew);
    tokio::select! {
        biased;
        out = &mut work => out,
        () = &mut renew => unreachable!("the renewal loop never ends"),
    }
}
