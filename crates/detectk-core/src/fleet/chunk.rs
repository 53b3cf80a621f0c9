//! A fleet's leased run, a chunk of metrics at a time: per storage, one statement takes
//! the run leases of the chunk's metrics, one reads their newest points and one their
//! newest detections (under the leases, so no other worker changes them meanwhile);
//! the metrics then run (each with its own bounds and timeout) while one task renews
//! every unfinished metric's lease, and finished metrics' leases are released in one
//! statement per storage as the next chunk starts (and at the end).
//!
//! The semantics are those of one lease per metric (see `run_lease`): a metric is
//! processed by at most one worker at a time; a metric whose lease another worker holds
//! is skipped; a dead worker stops renewing and its leases expire after the TTL.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures::{Stream, StreamExt};

use super::run_lease::{HELD_ELSEWHERE, RUN_LEASE_TTL_ENV, run_lease_key, run_lease_ttl};
use super::{Bounds, Fleet, FleetOptions, MetricOutcome, TEST_HOLD_ENV, isolated, limited};
use crate::alert::unique_token;
use crate::error::{BackendError, BackendErrorKind, Error};
use crate::pipeline::{Known, MetricPlan, RunOptions, RunReport};
use crate::traits::{AlertLeases, Storage};

/// Metrics per chunk: leases are taken, renewed and released for this many at once.
pub(super) const CHUNK: usize = 256;

/// A metric's run lease: its slot in the [`LeaseBook`] and its key.
type LeaseSlot = Option<(usize, String)>;

/// What the chunk start decided for one metric.
enum Start {
    /// Run it (leased when its storage keeps alert state), knowing what was read.
    Run(Option<Known>),
    /// Another worker holds its run lease.
    Held,
    /// Its storage's leases or reads failed.
    Failed(Error),
}

/// The run leases one storage gave one chunk (one token).
struct Leased {
    storage: Arc<dyn Storage>,
    token: String,
    /// Keys of metrics not finished yet: renewed.
    held: HashSet<String>,
    /// Keys of finished metrics, not yet released (no longer renewed).
    done: Vec<String>,
}

/// Every run lease this process holds, renewed together and released in batches.
#[derive(Default)]
struct LeaseBook {
    leases: Mutex<Vec<Leased>>,
    /// Held by a renewal round and by a release: a renewal re-takes the leases it
    /// listed, so a release between its listing and its statement would be undone
    /// (the finished metric's lease taken again, blocking other workers until it
    /// expired).
    io: tokio::sync::Mutex<()>,
}

impl LeaseBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Leased>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a storage's leases of a chunk; returns their slot.
    fn add(&self, leased: Leased) -> usize {
        let mut leases = self.lock();
        leases.push(leased);
        leases.len() - 1
    }

    /// The metric of `key` in `slot` is finished: stop renewing, release soon.
    fn finish(&self, slot: usize, key: String) {
        if let Some(l) = self.lock().get_mut(slot)
            && l.held.remove(&key)
        {
            l.done.push(key);
        }
    }

    /// What to renew: (storage, token, keys) of every slot with unfinished metrics.
    fn to_renew(&self) -> Vec<(Arc<dyn Storage>, String, Vec<String>)> {
        self.lock()
            .iter()
            .filter(|l| !l.held.is_empty())
            .map(|l| {
                let keys = l.held.iter().cloned().collect();
                (Arc::clone(&l.storage), l.token.clone(), keys)
            })
            .collect()
    }

    /// Takes the finished keys to release, per slot.
    fn take_done(&self) -> Vec<(Arc<dyn Storage>, String, Vec<String>)> {
        self.lock()
            .iter_mut()
            .filter(|l| !l.done.is_empty())
            .map(|l| {
                let keys = std::mem::take(&mut l.done);
                (Arc::clone(&l.storage), l.token.clone(), keys)
            })
            .collect()
    }

    /// Releases the finished metrics' leases (a failure is logged: they expire).
    async fn flush(&self, ttl: Duration) {
        let _no_renewal = self.io.lock().await;
        for (storage, token, keys) in self.take_done() {
            if let Err(e) = storage.release_alert_leases(&keys, &token).await {
                tracing::warn!(
                    storage = storage.describe(),
                    "could not release {} run lease(s) (they expire in {}s): {e}",
                    keys.len(),
                    ttl.as_secs()
                );
            }
        }
    }
}

/// Marks a metric finished in the book when dropped (done, failed, timed out or panicked).
struct Finish {
    book: Arc<LeaseBook>,
    lease: LeaseSlot,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some((slot, key)) = self.lease.take() {
            self.book.finish(slot, key);
        }
    }
}

/// The renewal task of a leased run; stopped when the run's stream is dropped.
#[derive(Default)]
struct Renewer {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Renewer {
    /// Starts renewing `book`'s leases every third of `ttl`, once.
    fn start(&self, book: &Arc<LeaseBook>, ttl: Duration) {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if task.is_none() {
            *task = Some(tokio::spawn(renew(Arc::clone(book), ttl)));
        }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// Renews every unfinished metric's lease each third of `ttl`; a renewal that fails,
/// or finds a lease taken over, is logged (the runs go on).
async fn renew(book: Arc<LeaseBook>, ttl: Duration) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let _no_release = book.io.lock().await;
        for (storage, token, keys) in book.to_renew() {
            let now = Utc::now();
            let expires_at = now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::seconds(60));
            let request = AlertLeases::new(keys, token, now, expires_at);
            match storage.acquire_alert_leases(&request).await {
                Ok(held) if held.len() == request.keys.len() => {}
                Ok(held) => tracing::warn!(
                    storage = storage.describe(),
                    "{} run lease(s) were taken over by another worker (this run outlived \
                     {}s without renewing; see {RUN_LEASE_TTL_ENV})",
                    request.keys.len() - held.len(),
                    ttl.as_secs()
                ),
                Err(e) => tracing::warn!(
                    storage = storage.describe(),
                    "could not renew {} run lease(s): {e}",
                    request.keys.len()
                ),
            }
        }
    }
}

impl Fleet {
    /// Runs every metric under run leases taken a chunk at a time; outcomes in the
    /// fleet's order. The next chunk starts as the previous one's last metrics run (no
    /// barrier: a slow metric holds only its own slot).
    pub(super) fn run_leased(
        &self,
        run: RunOptions,
        options: FleetOptions,
        bounds: Bounds,
    ) -> impl Stream<Item = MetricOutcome<RunReport>> + Unpin + '_ {
        let ttl = run_lease_ttl();
        let book = Arc::new(LeaseBook::default());
        let renewer = Arc::new(Renewer::default());
        let (chunk_book, run_book, end_book) = (Arc::clone(&book), Arc::clone(&book), book);
        let end_renewer = Arc::clone(&renewer);
        let work = futures::stream::iter(self.plans.chunks(CHUNK))
            .then(move |chunk| {
                let (book, renewer) = (Arc::clone(&chunk_book), Arc::clone(&renewer));
                Box::pin(async move {
                    renewer.start(&book, ttl);
                    book.flush(ttl).await;
                    let starts = self.start_chunk(chunk, ttl, &book).await;
                    chunk.iter().zip(starts).collect::<Vec<_>>()
                })
            })
            .flat_map(futures::stream::iter)
            .map(move |(plan, (start, lease))| {
                let bounds = bounds.clone();
                let finish = Finish {
                    book: Arc::clone(&run_book),
                    lease,
                };
                let work = async move {
                    let _finish = finish;
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
                    limited(plan, options.timeout, work).await
                };
                isolated(plan, work)
            })
            .buffered(options.concurrency.max(1));
        let end = futures::stream::once(Box::pin(async move {
            end_book.flush(ttl).await;
            drop(end_renewer);
        }))
        .filter_map(|()| futures::future::ready(None));
        work.chain(end)
    }

    /// Per storage of the chunk: migrate, take the run leases, read what the runs need.
    async fn start_chunk(
        &self,
        chunk: &[MetricPlan],
        ttl: Duration,
        book: &LeaseBook,
    ) -> Vec<(Start, LeaseSlot)> {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, plan) in chunk.iter().enumerate() {
            let key = plan.storage.describe();
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let mut starts: Vec<Option<(Start, LeaseSlot)>> = (0..chunk.len()).map(|_| None).collect();
        for (_, members) in groups {
            let first = &chunk[members[0]];
            let storage = Arc::clone(&first.storage);
            if !storage.keeps_alert_state() {
                // No compare-and-set (ClickHouse without a `state:` storage): unleased.
                for i in members {
                    starts[i] = Some((Start::Run(None), None));
                }
                continue;
            }
            match self.lease_group(chunk, &members, &storage, ttl).await {
                Ok((group_starts, lease)) => {
                    let slot = book.add(lease);
                    for (i, start) in members.into_iter().zip(group_starts) {
                        let held = matches!(start, Start::Run(_))
                            .then(|| (slot, run_lease_key(&chunk[i].config.name)));
                        starts[i] = Some((start, held));
                    }
                }
                Err(e) => {
                    for i in members {
                        let failed = Start::Failed(Error::Storage {
                            metric: chunk[i].config.name.clone(),
                            source: Box::new(copy_error(&e)),
                        });
                        starts[i] = Some((failed, None));
                    }
                }
            }
        }
        starts
            .into_iter()
            .map(|s| s.unwrap_or((Start::Run(None), None)))
            .collect()
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
            held: request
                .keys
                .into_iter()
                .filter(|k| held.contains(k))
                .collect(),
            done: Vec::new(),
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
