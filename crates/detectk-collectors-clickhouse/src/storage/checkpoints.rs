//! `dtk_checkpoints`: named progress markers; clearing writes a tombstone row.

use chrono::{DateTime, Utc};
use clickhouse::Row;
use detectk_core::async_trait;
use detectk_core::traits::{AlertLease, CheckpointStore, StorageResult};
use serde::{Deserialize, Serialize};

use super::ClickHouseStorage;
use super::versions::reserve;

#[derive(Row, Serialize, Deserialize)]
struct CheckpointRow {
    metric_name: String,
    job: String,
    position: u32,
    position_us: i64,
    is_deleted: u8,
    updated_at: u32,
    version: u64,
}

/// Checkpoints are kept here; the alert lease is not (see the `alerts` module).
#[async_trait]
impl CheckpointStore for ClickHouseStorage {
    /// The marker of `metric` / `job`, unless absent or cleared.
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        // Filter only on key columns under FINAL; the tombstone is checked here.
        let query = self
            .client()
            .query(
                "SELECT position_us, is_deleted FROM dtk_checkpoints FINAL \
                 WHERE metric_name = ? AND job = ?",
            )
            .bind(metric)
            .bind(job);
        let rows: Vec<(i64, u8)> = self
            .fetch_all(&format!("read checkpoint `{job}` of `{metric}`"), query)
            .await?;
        Ok(rows
            .first()
            .filter(|(_, deleted)| *deleted == 0)
            .and_then(|(us, _)| DateTime::from_timestamp_micros(*us)))
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.write_checkpoint(metric, job, Some(position)).await
    }

    /// Clears with a tombstone row.
    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        self.write_checkpoint(metric, job, None).await
    }

    async fn acquire_alert_lease(&self, _lease: &AlertLease) -> StorageResult<bool> {
        Err(self.no_alert_state("hold the alert lease"))
    }

    async fn release_alert_lease(&self, _metric: &str, _token: &str) -> StorageResult<()> {
        Err(self.no_alert_state("release the alert lease"))
    }
}

impl ClickHouseStorage {
    /// Sets the marker (`Some`) or clears it (`None`).
    async fn write_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: Option<DateTime<Utc>>,
    ) -> StorageResult<()> {
        let at = position.unwrap_or_default();
        let row = CheckpointRow {
            metric_name: metric.to_string(),
            job: job.to_string(),
            position: u32::try_from(at.timestamp()).unwrap_or(0),
            position_us: at.timestamp_micros(),
            is_deleted: u8::from(position.is_none()),
            updated_at: Self::now_secs(),
            version: reserve(1),
        };
        self.insert_rows("dtk_checkpoints", &[row]).await
    }
}
