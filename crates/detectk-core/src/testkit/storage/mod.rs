//! The storage conformance suite: every check of the [`crate::Storage`] contract.

mod alerts;
mod batch;
mod datapoints;
mod detections;
mod leases;
mod state;

pub use alerts::*;
pub use batch::*;
pub use datapoints::*;
pub use detections::*;
pub use leases::*;
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

/// Runs `$check(target)` for every listed check and records it under its name.
macro_rules! run_checks {
    ($report:expr, $target:expr, [$($check:ident),+ $(,)?]) => {
        $( $report.record(stringify!($check), $check($target).await); )+
    };
}

/// Runs every storage check against `target` and reports which failed.
pub async fn run_storage_suite(target: &StorageTarget<'_>) -> SuiteReport {
    let mut report = SuiteReport::new(format!("storage suite on {}", target.storage.describe()));
    run_checks!(
        report,
        target,
        [
            storage_migrate_is_idempotent,
            storage_datapoints_round_trip,
            storage_datapoints_half_open_sorted,
            storage_missing_points,
            storage_context_json,
            storage_datapoint_upsert_is_idempotent,
            storage_duplicate_timestamps_in_one_batch,
            storage_last_datapoint_time,
            storage_metrics_are_isolated,
            storage_utc_round_trip,
            storage_null_and_nan_values,
            storage_empty_writes,
            storage_large_batch,
            storage_concurrent_upserts,
            storage_detections_round_trip,
            storage_detections_null_fields,
            storage_detections_sorted_and_filtered,
            storage_detection_upsert_is_idempotent,
            storage_mark_alert_sent,
            storage_checkpoints,
            storage_claim_alert_lifecycle,
            storage_claim_alert_one_winner,
            storage_claim_alert_stale_pending,
            storage_last_sent_alert,
            storage_latest_alert,
            storage_claim_alert_own_token,
            storage_alert_lease_exclusive,
            storage_alert_lease_one_winner,
            storage_retention,
            storage_last_datapoint_times,
            storage_last_detection_times,
            storage_load_alerts,
        ]
    );
    report
}
