//! The bulk lane: an optional, faster path than sqlx for a storage's bulk reads and
//! writes (the history window, batches of points and detections). A [`Dialect`] may
//! provide one ([`Dialect::bulk_lane`]); everything else (leases, claims, the alert
//! ledger, checkpoints, migrations) always goes through sqlx. A lane may also run the
//! fleet's keyed reads of newest times ([`BulkLane::newest_times`]).
//!
//! A lane reads and writes exactly the rows, columns and transactions the sqlx path
//! does, and reports failures as `sqlx::Error`s, so the storage maps them to the same
//! errors with the same wording.
//!
//! [`Dialect`]: super::Dialect
//! [`Dialect::bulk_lane`]: super::Dialect::bulk_lane

use chrono::{DateTime, Utc};
use detectk_core::async_trait;
use detectk_core::model::{DataPoint, DetectionRecord};
use detectk_core::traits::LoadDatapoints;

use super::newest::{KeyedRead, Newest};

/// The query of a history window: `(metric, from, to)`, rows in time order.
pub(crate) const LOAD_POINTS: &str = "SELECT collected_at, value, is_missing, context \
     FROM dtk_datapoints WHERE metric_name = ? AND collected_at >= ? AND collected_at < ? \
     ORDER BY collected_at";

/// A storage's faster path for bulk reads and writes (see the module documentation).
#[async_trait]
pub(crate) trait BulkLane: Send + Sync + std::fmt::Debug {
    /// The points of `op`'s window ([`LOAD_POINTS`]).
    async fn load_points(&self, op: &LoadDatapoints) -> Result<Vec<DataPoint>, sqlx::Error>;

    /// Upserts the (de-duplicated) points of `metric` in one write transaction.
    async fn write_points(
        &self,
        metric: &str,
        points: &[&DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>;

    /// Upserts the (de-duplicated) detections in one write transaction.
    async fn write_detections(&self, records: &[&DetectionRecord]) -> Result<(), sqlx::Error>;

    /// Runs a keyed read of newest times (see `storage::newest`), whose rows are `keys`
    /// text columns then the time: every key with a time. `None`: this lane leaves
    /// such reads to sqlx (the default).
    async fn newest_times(
        &self,
        reads: &[KeyedRead],
        keys: usize,
    ) -> Option<Result<Vec<Newest>, sqlx::Error>> {
        let _ = (reads, keys);
        None
    }

    /// Upserts a run's (de-duplicated) detections, then its points of `metric`. The
    /// default writes them in two transactions, detections first; a lane that can
    /// writes both in one.
    async fn write_scored(
        &self,
        metric: &str,
        points: &[&DataPoint],
        records: &[&DetectionRecord],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if !records.is_empty() {
            self.write_detections(records).await?;
        }
        if !points.is_empty() {
            self.write_points(metric, points, loaded_at).await?;
        }
        Ok(())
    }
}
