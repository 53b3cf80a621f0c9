//! The storage interface, split into the parts callers use.
//!
//! Tables (names are a contract, users query them): `dtk_datapoints`,
//! `dtk_detections`, `dtk_checkpoints`, `dtk_alerts`, `dtk_alert_leases`, `dtk_alert_holds`. Every write
//! is idempotent: writing the same rows twice leaves one copy. All times are UTC;
//! ranges are half-open `[from, to)`; results are sorted by time ascending.

mod alerts;
mod checkpoints;
mod detections;
mod holds;
mod ops;
mod records;
mod series;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::BackendError;
use crate::model::{DataPoint, DetectionRecord};

pub use alerts::AlertLedger;
pub use checkpoints::CheckpointStore;
pub use detections::DetectionStore;
pub use holds::{AlertHold, HoldKind};
pub use ops::{
    AlertClaim, AlertLease, AlertLeases, AlertOutcome, FinishAlert, LoadAlerts, LoadDatapoints,
    LoadDetections, MarkAlertSent,
};
pub use records::{AlertRecord, AlertStatus};
pub use series::SeriesStore;

/// Result of a storage operation.
pub type StorageResult<T> = Result<T, BackendError>;

/// Keeps a metric's datapoints, detections, checkpoints and alert state: everything a
/// metric's data needs, and what plans and runners hold as `Arc<dyn Storage>`.
#[async_trait]
pub trait Storage: SeriesStore + DetectionStore + CheckpointStore + AlertLedger {
    /// Where the data is kept, for messages: `postgres 127.0.0.1:5432/db`. Never credentials.
    fn describe(&self) -> String;

    /// Connects to the storage without writing anything, for `dtk debug`. Returns what
    /// the server says about itself (e.g. its version) when that is cheap. The default
    /// reads the newest point of a metric that does not exist, which needs the tables.
    async fn check(&self) -> StorageResult<Option<String>> {
        self.last_datapoint_time("").await.map(|_| None)
    }

    /// Whether this storage keeps alert claims and the alert lease itself, atomically
    /// across processes. `false` (ClickHouse: no compare-and-set) means the alert
    /// methods fail and a metric must keep its alert state in a `state:` storage.
    fn keeps_alert_state(&self) -> bool {
        true
    }

    /// Creates the `dtk_*` tables if needed and migrates them forward. Idempotent and
    /// safe to call from several processes at once.
    async fn migrate(&self) -> StorageResult<()>;

    /// Deletes datapoints and detections of `metric` older than `before`; returns rows removed
    /// (backends that cannot count return 0).
    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64>;

    /// Stores what one run of `metric` scored: its detections `records`, then its new
    /// `points`. The points go last because the newest stored point is where the next
    /// run resumes: a run that fails in between leaves no point without its detections.
    ///
    /// The default makes the two writes one after the other; a storage that can makes
    /// them one transaction (SQLite files do).
    async fn store_scored(
        &self,
        metric: &str,
        points: &[DataPoint],
        records: &[DetectionRecord],
    ) -> StorageResult<()> {
        if !records.is_empty() {
            self.upsert_detections(records).await?;
        }
        if !points.is_empty() {
            self.upsert_datapoints(metric, points).await?;
        }
        Ok(())
    }
}
