//! The per-metric run lease: at most one worker processes a metric at a time.
//!
//! Workers with overlapping shards, a retry started while the first attempt still
//! runs, or a cron tick that overlaps the previous one would otherwise process the
//! same metric twice at once. Before running a metric the fleet takes its run lease
//! by compare-and-set in the metric's storage (for a chunk of metrics at once, see
//! `chunk`); a worker that finds it held by another skips the metric ("skipped: held
//! by another worker"). The holder renews the lease every third of its lifetime while
//! the metric (its chunk) runs and releases it at the end; a
//! worker that dies stops renewing, and its lease expires after the TTL
//! ([`RUN_LEASE_TTL_ENV`]) so the next run takes the metric over.
//!
//! The run lease is kept in the alert-lease table (`dtk_alert_leases`) under the key
//! `run:<metric>` ([`run_lease_key`]) through [`CheckpointStore::acquire_alert_leases`](crate::traits::CheckpointStore::acquire_alert_leases):
//! metric names never contain `:`, so it cannot meet a metric's alert lease, and every
//! storage that keeps alert state (SQL, or a ClickHouse metric's `state:` storage)
//! keeps run leases too, with no new table. A storage that keeps no alert state (a
//! ClickHouse metric without `state:`) cannot lease: such metrics run unleased.

use std::time::Duration;

/// How long a run lease lasts unless renewed.
pub const DEFAULT_RUN_LEASE_TTL: Duration = Duration::from_secs(60);

/// Environment variable overriding [`DEFAULT_RUN_LEASE_TTL`], in whole seconds (at least 1).
pub const RUN_LEASE_TTL_ENV: &str = "DETECTK_RUN_LEASE_SECONDS";

/// Why a metric was skipped when another worker holds its run lease.
pub const HELD_ELSEWHERE: &str = "held by another worker";

/// The run-lease TTL: [`RUN_LEASE_TTL_ENV`] when set to a positive number, else the default.
pub fn run_lease_ttl() -> Duration {
    std::env::var(RUN_LEASE_TTL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_RUN_LEASE_TTL)
}

/// The longest key `dtk_alert_leases.metric_name` holds (MySQL's `VARCHAR(255)`).
const MAX_KEY_LEN: usize = 255;

/// The lease key of `metric` in `dtk_alert_leases`: `run:<metric>`, or for a name too
/// long to fit with the prefix, `run:~<16 hex digits of fnv1a_64(name)>` (metric names
/// never contain `:` or `~`, so neither meets a metric's alert lease or another name).
pub fn run_lease_key(metric: &str) -> String {
    if metric.len() + 4 <= MAX_KEY_LEN {
        format!("run:{metric}")
    } else {
        format!("run:~{:016x}", super::fnv1a_64(metric.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_the_narrowest_column_and_stay_distinct() {
        assert_eq!(run_lease_key("sessions"), "run:sessions");
        let long = "m".repeat(255);
        let key = run_lease_key(&long);
        assert!(
            key.starts_with("run:~") && key.len() <= MAX_KEY_LEN,
            "{key}"
        );
        assert_ne!(key, run_lease_key(&"m".repeat(254)));
        assert_eq!(run_lease_key(&"m".repeat(251)).len(), 255);
    }
}
