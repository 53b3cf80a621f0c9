//! `dtk_detections`: upserts, range reads and the `alert_sent` flag.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use detectk_core::traits::{DetectionStore, LoadDetections, MarkAlertSent, StorageResult};
use detectk_core::{DetectionRecord, async_trait};

use super::ClickHouseStorage;
use super::rows::{DETECTION_COLUMNS, DetectionRow};
use super::versions::{from_datetime_secs, reserve, second_range, to_datetime_secs};

const TABLE: &str = "dtk_detections";

#[async_trait]
impl DetectionStore for ClickHouseStorage {
    /// Inserts or replaces `records` in one batch.
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let first = reserve(records.len());
        let now = Self::now_secs();
        let rows = records
            .iter()
            .zip(first..)
            .map(|(r, version)| {
                DetectionRow::new(r, now, version).map_err(|e| self.value_error(&r.metric, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.insert_rows(TABLE, &rows).await
    }

    /// Detections of `metric` (of one detector or all) in `[from, to)`, by time then detector.
    async fn load_detections(&self, op: &LoadDetections) -> StorageResult<Vec<DetectionRecord>> {
        let metric = op.metric.as_str();
        let detector_id = op.detector_id.as_deref();
        let Some((lo, hi)) = second_range(op.from, op.to) else {
            return Ok(Vec::new());
        };
        let mut sql = format!(
            "SELECT {DETECTION_COLUMNS} FROM {TABLE} FINAL \
             WHERE metric_name = ? AND detected_at >= toDateTime(?)"
        );
        if hi.is_some() {
            sql.push_str(" AND detected_at < toDateTime(?)");
        }
        if detector_id.is_some() {
            sql.push_str(" AND detector_id = ?");
        }
        sql.push_str(" ORDER BY detected_at, detector_id");
        let mut query = self.client().query(&sql).bind(metric).bind(lo);
        if let Some(hi) = hi {
            query = query.bind(hi);
        }
        if let Some(id) = detector_id {
            query = query.bind(id);
        }
        let rows: Vec<DetectionRow> = self
            .fetch_all(&format!("load detections of `{metric}`"), query)
            .await?;
        rows.into_iter()
            .map(|r| r.into_record().map_err(|e| self.decode_error(TABLE, e)))
            .collect()
    }

    /// Timestamp of the newest detection of `metric` by `detector_id`.
    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let query = self
            .client()
            .query(
                "SELECT count(), toUInt32(max(detected_at)) FROM dtk_detections \
                 WHERE metric_name = ? AND detector_id = ?",
            )
            .bind(metric)
            .bind(detector_id);
        let rows: Vec<(u64, u32)> = self
            .fetch_all(&format!("last detection time of `{metric}`"), query)
            .await?;
        Ok(rows
            .first()
            .filter(|(n, _)| *n > 0)
            .map(|(_, t)| from_datetime_secs(*t)))
    }

    /// Newest detection time of every detector of `metric`, in one grouped query.
    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let query = self
            .client()
            .query(
                "SELECT detector_id, toUInt32(max(detected_at)) FROM dtk_detections \
                 WHERE metric_name = ? GROUP BY detector_id",
            )
            .bind(metric);
        let rows: Vec<(String, u32)> = self
            .fetch_all(&format!("last detection times of `{metric}`"), query)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, t)| (id, from_datetime_secs(t)))
            .collect())
    }

    /// Re-inserts the detections of `op.metric` at `op.timestamp` by `op.detector_ids`
    /// with `alert_sent = 1` and a newer version.
    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        let (metric, detector_ids, timestamp) =
            (op.metric.as_str(), op.detector_ids.as_slice(), op.timestamp);
        if detector_ids.is_empty() {
            return Ok(());
        }
        let Some(at) = to_datetime_secs(timestamp) else {
            return Ok(()); // no stored detection can have this timestamp
        };
        let marks = vec!["?"; detector_ids.len()].join(", ");
        let sql = format!(
            "SELECT {DETECTION_COLUMNS} FROM {TABLE} FINAL \
             WHERE metric_name = ? AND detected_at = toDateTime(?) AND detector_id IN ({marks})"
        );
        let mut query = self.client().query(&sql).bind(metric).bind(at);
        for id in detector_ids {
            query = query.bind(id.as_str());
        }
        let mut rows: Vec<DetectionRow> = self
            .fetch_all(&format!("load detections of `{metric}` to mark"), query)
            .await?;
        rows.retain(|r| r.alert_sent == 0);
        let first = reserve(rows.len());
        let now = Self::now_secs();
        for (row, version) in rows.iter_mut().zip(first..) {
            row.alert_sent = 1;
            row.updated_at = now;
            row.version = version;
        }
        self.insert_rows(TABLE, &rows).await
    }
}
