//! The SQLite storage: `dtk_*` tables in a local file, WAL mode, idempotent upserts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use detectk_core::model::{DataPoint, DetectionRecord, Direction};
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertLedger, AlertRecord, CheckpointStore, DetectionStore,
    FinishAlert, LoadAlerts, LoadDatapoints, LoadDetections, MarkAlertSent, SeriesStore,
    StorageResult,
};
use detectk_core::{BackendError, BackendErrorKind, Storage, async_trait};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, QueryBuilder, Row, Sqlite};

use super::time::{parse_time_text, time_text};
use super::{SqliteHandle, schema};
use crate::Driver;
use crate::chunked::insert_chunked;
use crate::records::{
    context_text, dedupe_detections, dedupe_points, detection_context, parse_context,
};
use crate::stored::{detection_record, migration_result, params_from_text};

/// SQLite allows 32,766 bind parameters per statement.
const MAX_BINDS: usize = 32_000;

/// Keeps datapoints, detections, checkpoints and alert state in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pub(super) handle: SqliteHandle,
}

impl SqliteStorage {
    pub(crate) fn new(handle: SqliteHandle) -> Self {
        Self { handle }
    }

    pub(super) fn decode_err(&self, what: &str) -> BackendError {
        BackendError::new(
            BackendErrorKind::Decode,
            self.handle.server(),
            what.to_string(),
        )
    }

    pub(super) fn time(&self, row: &SqliteRow, column: &str) -> StorageResult<DateTime<Utc>> {
        let text: String = row
            .try_get(column)
            .map_err(self.handle.err("reading a time"))?;
        parse_time_text(&text)
            .ok_or_else(|| self.decode_err(&format!("`{column}` holds {text:?}, not a time")))
    }

    /// A time read back as text (NULL gives `None`).
    fn stored_time(&self, text: Option<String>) -> StorageResult<Option<DateTime<Utc>>> {
        text.map(|t| parse_time_text(&t).ok_or_else(|| self.decode_err(&format!("bad time {t:?}"))))
            .transpose()
    }

    fn detection(&self, row: &SqliteRow) -> StorageResult<DetectionRecord> {
        let err = self.handle.err("reading detections");
        let context: Option<String> = row.try_get("context").map_err(&err)?;
        let params: Option<String> = row.try_get("detector_params").map_err(&err)?;
        let timestamp = self.time(row, "detected_at")?;
        detection_record(
            row,
            timestamp,
            params_from_text(params),
            parse_context(context.as_deref()),
        )
        .map_err(&err)
    }
}

#[async_trait]
impl SeriesStore for SqliteStorage {
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        let points = dedupe_points(points);
        if points.is_empty() {
            return Ok(());
        }
        let err = self.handle.err("storing datapoints");
        let loaded_at = time_text(Utc::now());
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
        insert_chunked::<Sqlite, _>(
            &mut tx,
            &points,
            MAX_BINDS / 6,
            "INSERT INTO dtk_datapoints (metric_name, collected_at, value, is_missing, context, loaded_at) ",
            " ON CONFLICT (metric_name, collected_at) DO UPDATE SET value = excluded.value, \
             is_missing = excluded.is_missing, context = excluded.context, loaded_at = excluded.loaded_at",
            |mut b, p| {
                b.push_bind(metric)
                    .push_bind(time_text(p.timestamp))
                    .push_bind(p.value)
                    .push_bind(p.is_missing)
                    .push_bind(context_text(&p.context))
                    .push_bind(loaded_at.clone());
            },
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>> {
        let (metric, from, to) = (op.metric.as_str(), op.from, op.to);
        let err = self.handle.err("loading datapoints");
        let rows = sqlx::query(
            "SELECT collected_at, value, is_missing, context FROM dtk_datapoints \
             WHERE metric_name = ?1 AND collected_at >= ?2 AND collected_at < ?3 ORDER BY collected_at",
        )
        .bind(metric)
        .bind(time_text(from))
        .bind(time_text(to))
        .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        rows.iter()
            .map(|row| {
                let context: Option<String> = row.try_get("context").map_err(&err)?;
                Ok(DataPoint {
                    timestamp: self.time(row, "collected_at")?,
                    value: row.try_get("value").map_err(&err)?,
                    is_missing: row.try_get("is_missing").map_err(&err)?,
                    context: parse_context(context.as_deref()),
                })
            })
            .collect()
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        let last: Option<String> = sqlx::query_scalar(
            "SELECT MAX(collected_at) FROM dtk_datapoints WHERE metric_name = ?1",
        )
        .bind(metric)
        .fetch_one(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading the last datapoint time"))?;
        self.stored_time(last)
    }

    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        if metrics.is_empty() {
            return Ok(HashMap::new());
        }
        let err = self.handle.err("reading the last datapoint times");
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT metric_name, MAX(collected_at) FROM dtk_datapoints WHERE metric_name IN (",
        );
        let mut list = query.separated(", ");
        for metric in metrics {
            list.push_bind(metric);
        }
        query.push(") GROUP BY metric_name");
        let rows: Vec<(String, String)> = query
            .build_query_as()
            .fetch_all(&mut *self.handle.connect().await?)
            .await
            .map_err(&err)?;
        rows.into_iter()
            .map(|(m, t)| Ok((m, self.stored_time(Some(t))?.unwrap_or_default())))
            .collect()
    }
}

#[async_trait]
impl DetectionStore for SqliteStorage {
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        let records = dedupe_detections(records);
        if records.is_empty() {
            return Ok(());
        }
        let err = self.handle.err("storing detections");
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
        insert_chunked::<Sqlite, _>(
            &mut tx,
            &records,
            MAX_BINDS / 14,
            "INSERT INTO dtk_detections (metric_name, detector_id, detected_at, value, is_anomaly, \
             score, lower_bound, upper_bound, direction, percent_deviation, detector_type, \
             detector_params, alert_sent, context) ",
            " ON CONFLICT (metric_name, detector_id, detected_at) DO UPDATE SET \
             value = excluded.value, is_anomaly = excluded.is_anomaly, score = excluded.score, \
             lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound, \
             direction = excluded.direction, percent_deviation = excluded.percent_deviation, \
             detector_type = excluded.detector_type, detector_params = excluded.detector_params, \
             alert_sent = excluded.alert_sent, context = excluded.context",
            |mut b, r| {
                let d = &r.detection;
                b.push_bind(r.metric.clone())
                    .push_bind(r.detector_id.clone())
                    .push_bind(time_text(d.timestamp))
                    .push_bind(d.value)
                    .push_bind(d.is_anomaly)
                    .push_bind(d.score)
                    .push_bind(d.lower_bound)
                    .push_bind(d.upper_bound)
                    .push_bind(d.direction.map(Direction::as_str))
                    .push_bind(d.percent_deviation)
                    .push_bind(r.detector_type.clone())
                    .push_bind(r.detector_params.to_string())
                    .push_bind(r.alert_sent)
                    .push_bind(detection_context(r));
            },
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    async fn load_detections(&self, op: &LoadDetections) -> StorageResult<Vec<DetectionRecord>> {
        let (metric, detector_id, from, to) = (
            op.metric.as_str(),
            op.detector_id.as_deref(),
            op.from,
            op.to,
        );
        let err = self.handle.err("loading detections");
        let rows = sqlx::query(
            "SELECT * FROM dtk_detections WHERE metric_name = ?1 \
             AND (?2 IS NULL OR detector_id = ?2) AND detected_at >= ?3 AND detected_at < ?4 \
             ORDER BY detected_at, detector_id",
        )
        .bind(metric)
        .bind(detector_id)
        .bind(time_text(from))
        .bind(time_text(to))
        .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        rows.iter().map(|row| self.detection(row)).collect()
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let last: Option<String> = sqlx::query_scalar(
            "SELECT MAX(detected_at) FROM dtk_detections WHERE metric_name = ?1 AND detector_id = ?2",
        )
        .bind(metric)
        .bind(detector_id)
        .fetch_one(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading the last detection time"))?;
        self.stored_time(last)
    }

    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT detector_id, MAX(detected_at) FROM dtk_detections \
             WHERE metric_name = ?1 GROUP BY detector_id",
        )
        .bind(metric)
        .fetch_all(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading the last detection times"))?;
        rows.into_iter()
            .map(|(id, t)| Ok((id, self.stored_time(Some(t))?.unwrap_or_default())))
            .collect()
    }

    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        let (metric, detector_ids, timestamp) =
            (op.metric.as_str(), op.detector_ids.as_slice(), op.timestamp);
        if detector_ids.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "UPDATE dtk_detections SET alert_sent = 1 WHERE metric_name = ",
        );
        q.push_bind(metric)
            .push(" AND detected_at = ")
            .push_bind(time_text(timestamp))
            .push(" AND detector_id IN (");
        let mut ids = q.separated(", ");
        for id in detector_ids {
            ids.push_bind(id.as_str());
        }
        q.push(")");
        q.build()
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.handle.err("marking alerts sent"))?;
        Ok(())
    }
}

#[async_trait]
impl CheckpointStore for SqliteStorage {
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let position: Option<String> = sqlx::query_scalar(
            "SELECT position FROM dtk_checkpoints WHERE metric_name = ?1 AND job = ?2",
        )
        .bind(metric)
        .bind(job)
        .fetch_optional(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading a checkpoint"))?;
        self.stored_time(position)
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO dtk_checkpoints (metric_name, job, position, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (metric_name, job) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        )
        .bind(metric)
        .bind(job)
        .bind(time_text(position))
        .bind(time_text(Utc::now()))
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("writing a checkpoint"))?;
        Ok(())
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM dtk_checkpoints WHERE metric_name = ?1 AND job = ?2")
            .bind(metric)
            .bind(job)
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.handle.err("clearing a checkpoint"))?;
        Ok(())
    }

    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        self.acquire_lease(lease).await
    }

    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        self.release_lease(metric, token).await
    }
}

#[async_trait]
impl AlertLedger for SqliteStorage {
    async fn claim_alert(&self, claim: &AlertClaim) -> StorageResult<bool> {
        self.claim(claim).await
    }

    async fn finish_alert(&self, op: &FinishAlert) -> StorageResult<()> {
        self.finish(&op.metric, &op.key, &op.token, &op.outcome)
            .await
    }

    async fn last_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        self.last_sent(metric, kind).await
    }

    async fn latest_alert(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        self.latest(metric, kind).await
    }

    async fn load_alerts(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        self.load_range(op).await
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn check(&self) -> StorageResult<Option<String>> {
        self.handle.connect().await.map(|_| None)
    }

    async fn migrate(&self) -> StorageResult<()> {
        let mut conn = self.handle.connect().await?;
        let outcome = schema::migrate(&mut conn).await;
        migration_result(Driver::Sqlite, &self.handle.server(), outcome)
            .map_err(|e| e.at(self.handle.describe()))
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        let err = self.handle.err("applying retention");
        let before = time_text(before);
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
        let points =
            sqlx::query("DELETE FROM dtk_datapoints WHERE metric_name = ?1 AND collected_at < ?2")
                .bind(metric)
                .bind(&before)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        let detections =
            sqlx::query("DELETE FROM dtk_detections WHERE metric_name = ?1 AND detected_at < ?2")
                .bind(metric)
                .bind(&before)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(points.rows_affected() + detections.rows_affected())
    }
}
