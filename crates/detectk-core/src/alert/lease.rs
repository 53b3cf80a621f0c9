//! The per-metric alert lease: one run at a time decides on, claims, sends and
//! records a metric's alerts.
//!
//! A run acquires the lease by compare-and-set in the storage
//! ([`Storage::acquire_alert_lease`]), waiting (bounded) while another run holds it,
//! keeps it alive while a slow delivery is in progress, and releases it at the end.
//! A holder that dies stops renewing; its lease expires after the TTL and the next
//! run takes over.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{BackendError, BackendErrorKind, Error};
use crate::traits::{AlertLease, Storage};

/// How long a lease lasts unless renewed.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// Environment variable overriding `DEFAULT_LEASE_TTL` (30 seconds), in whole seconds (at least 1).
pub const LEASE_TTL_ENV: &str = "DETECTK_ALERT_LEASE_SECONDS";

/// A run waits at most this many lease lifetimes for another run to finish.
const WAIT_TTLS: u32 = 10;

/// The lease TTL: [`LEASE_TTL_ENV`] when set to a positive number, else the default.
pub fn lease_ttl() -> Duration {
    std::env::var(LEASE_TTL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LEASE_TTL)
}

/// A token unique to this process and call: process ID, wall-clock nanos and a counter.
pub(crate) fn unique_token(now: DateTime<Utc>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        now.timestamp_nanos_opt().unwrap_or_default(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A lease this process holds in `dtk_alert_leases` (the alert lease of a metric, or
/// a run lease, see `crate::fleet`): renewed while work runs, released at the end.
#[derive(Debug)]
pub(crate) struct HeldLease<'a> {
    storage: &'a dyn Storage,
    metric: &'a str,
    key: String,
    token: String,
    ttl: Duration,
    /// The lease in messages: `alert` or `run`.
    what: &'static str,
    /// Logged when a renewal finds the lease taken over.
    taken_over: String,
}

impl<'a> HeldLease<'a> {
    /// A lease of `metric` under `key` with a fresh token, not yet taken.
    pub(crate) fn new(
        storage: &'a dyn Storage,
        metric: &'a str,
        key: String,
        ttl: Duration,
        what: &'static str,
        taken_over: String,
    ) -> Self {
        Self {
            storage,
            metric,
            key,
            token: unique_token(Utc::now()),
            ttl,
            what,
            taken_over,
        }
    }

    /// Acquires the alert lease of `metric`, waiting while another run holds it, for
    /// at most ten lease lifetimes (a dead holder's lease expires within one).
    pub(crate) async fn acquire(storage: &'a dyn Storage, metric: &'a str) -> Result<Self, Error> {
        let ttl = lease_ttl();
        let lease = Self::new(
            storage,
            metric,
            metric.to_string(),
            ttl,
            "alert",
            "the alert lease was taken over by another run while this one was sending".into(),
        );
        let started = Instant::now();
        let limit = ttl * WAIT_TTLS;
        let mut pause = Duration::from_millis(50);
        loop {
            if lease.try_take().await.map_err(|e| lease.error(e))? {
                return Ok(lease);
            }
            if started.elapsed() >= limit {
                return Err(lease.error(BackendError::new(
                    BackendErrorKind::Timeout,
                    storage.describe(),
                    format!(
                        "another run held the alert lease of metric `{metric}` for more than {}s; \
                         is a delivery hanging? (the lease lasts {}s unless renewed, see {LEASE_TTL_ENV})",
                        limit.as_secs(),
                        ttl.as_secs()
                    ),
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    pub(crate) fn error(&self, source: BackendError) -> Error {
        Error::Storage {
            metric: self.metric.to_string(),
            source: Box::new(source),
        }
    }

    /// One acquire (or renewal) attempt. The plan's storage retries transient errors
    /// (see [`crate::layers::RetryStorage`]): a retry whose first attempt succeeded
    /// finds the lease held by its own token and succeeds.
    pub(crate) async fn try_take(&self) -> Result<bool, BackendError> {
        let now = Utc::now();
        let expires_at = now + TimeDelta::from_std(self.ttl).unwrap_or(TimeDelta::seconds(30));
        let request = AlertLease::new(self.key.clone(), self.token.clone(), now, expires_at);
        self.storage.acquire_alert_lease(&request).await
    }

    /// Runs `work` while renewing the lease every third of its lifetime.
    ///
    /// A renewal that fails is logged and tried again; the work is never interrupted
    /// (a message half sent cannot be taken back).
    pub(crate) async fn while_held<F: Future>(&self, work: F) -> F::Output {
        let renew = async {
            loop {
                tokio::time::sleep(self.ttl / 3).await;
                match self.try_take().await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(metric = self.metric, "{}", self.taken_over),
                    Err(e) => tracing::warn!(
                        metric = self.metric,
                        "could not renew the {} lease: {e}",
                        self.what
                    ),
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

    /// Releases the lease; a failure is logged (the lease then expires by itself).
    pub(crate) async fn release(self) {
        let released = self
            .storage
            .release_alert_lease(&self.key, &self.token)
            .await;
        if let Err(e) = released {
            tracing::warn!(
                metric = self.metric,
                "could not release the {} lease (it expires in {}s): {e}",
                self.what,
                self.ttl.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_within_a_process() {
        let now = Utc::now();
        assert_ne!(unique_token(now), unique_token(now));
    }
}
