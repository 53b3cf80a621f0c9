//! The storage conformance suite: every check of the [`crate::Storage`] contract.

mod alerts;
mod batch;
mod datapoints;
mod detections;
mod holds;
mod leases;
mod run_leases;
mod state;

pub use alerts::*;
pub use batch::*;
pub use datapoints::*;
pub use detections::*;
pub use holds::*;
pub use leases::*;
pub use run_leases::*;
pub use state::*;

use crate::testkit::SuiteReport;
use crate::traits::Storage;

/// The storage under test, plus an independent second handle on the same store.
///
/// `peer` stands for another process: it must be a separately built storage
/// (its own connection pool) over the same database, so races between `storage`
/// and `peer` are races between connections. Both must already be migrated.
#[derive(Clone, Copy)]
pub struct StorageTarget<'a> {
    /// The storage the checks write and read through.
    pub storage: &'a dyn Storage,
    /// An independent handle on the same store, used for races and cross-handle reads.
    pub peer: &'a dyn Storage,
    /// Rows written by the large-batch check (default 100,000).
    pub large_batch_rows: usize,
}

impl<'a> StorageTarget<'a> {
    /// A target with the default large batch size.
    pub fn new(storage: &'a dyn Storage, peer: &'a dyn Storage) -> Self {
        Self {
            storage,
            peer,
            large_batch_rows: 100_000,
        }
    }
}

/// Calls the exported macro `$callback` with `$args` and every storage check as
/// `(test name, check function)`: the one list the suite and the generated tests share.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtk_storage_checks {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)*;
            (migrate_is_idempotent, storage_migrate_is_idempotent),
            (datapoints_round_trip, storage_datapoints_round_trip),
            (datapoints_half_open_sorted, storage_datapoints_half_open_sorted),
            (missing_points, storage_missing_points),
            (context_json, storage_context_json),
            (datapoint_upsert_is_idempotent, storage_datapoint_upsert_is_idempotent),
            (duplicate_timestamps_in_one_batch, storage_duplicate_timestamps_in_one_batch),
            (last_datapoint_time, storage_last_datapoint_time),
            (metrics_are_isolated, storage_metrics_are_isolated),
            (utc_round_trip, storage_utc_round_trip),
            (null_and_nan_values, storage_null_and_nan_values),
            (empty_writes, storage_empty_writes),
            (large_batch, storage_large_batch),
            (concurrent_upserts, storage_concurrent_upserts),
            (detections_round_trip, storage_detections_round_trip),
            (detections_null_fields, storage_detections_null_fields),
            (detections_sorted_and_filtered, storage_detections_sorted_and_filtered),
            (detections_anomalies_only_before, storage_detections_anomalies_only_before),
            (detection_upsert_is_idempotent, storage_detection_upsert_is_idempotent),
            (scored_writes, storage_scored_writes),
            (mark_alert_sent, storage_mark_alert_sent),
            (checkpoints, storage_checkpoints),
            (claim_alert_lifecycle, storage_claim_alert_lifecycle),
            (suppressed_alert, storage_suppressed_alert),
            (claim_alert_one_winner, storage_claim_alert_one_winner),
            (claim_alert_stale_pending, storage_claim_alert_stale_pending),
            (last_sent_alert, storage_last_sent_alert),
            (latest_alert, storage_latest_alert),
            (claim_alert_own_token, storage_claim_alert_own_token),
            (alert_lease_exclusive, storage_alert_lease_exclusive),
            (alert_lease_one_winner, storage_alert_lease_one_winner),
            (run_lease_beside_alert_lease, storage_run_lease_beside_alert_lease),
            (run_leases_in_batch, storage_run_leases_in_batch),
            (retention, storage_retention),
            (last_datapoint_times, storage_last_datapoint_times),
            (last_detection_times, storage_last_detection_times),
            (last_detection_times_of, storage_last_detection_times_of),
            (load_alerts, storage_load_alerts),
            (alert_holds_round_trip, storage_alert_holds_round_trip),
        }
    };
}

/// Runs every listed check against `$target` and records it in `$report`.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtk_run_storage_checks {
    ($report:ident, $target:ident; $(($name:ident, $check:ident)),+ $(,)?) => {
        $( $report.record(stringify!($check), $crate::testkit::$check($target).await); )+
    };
}

/// Runs every storage check against `target` and reports which failed.
pub async fn run_storage_suite(target: &StorageTarget<'_>) -> SuiteReport {
    let mut report = SuiteReport::new(format!("storage suite on {}", target.storage.describe()));
    crate::__dtk_storage_checks!(__dtk_run_storage_checks!(report, target));
    report
}
