//! The MySQL/MariaDB storage: chunked multi-row upserts with
//! `ON DUPLICATE KEY UPDATE v = VALUES(v)` (the form MariaDB accepts), and alert
//! claims as an insert that only one claimer can win, or a guarded update.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use detectk_core::model::{DataPoint, DetectionRecord, Direction};
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertLedger, AlertRecord, CheckpointStore, DetectionStore,
    FinishAlert, LoadAlerts, LoadDatapoints, LoadDetections, MarkAlertSent, SeriesStore,
    StorageResult,
};
use detectk_core::{Storage, async_trait};
use sqlx::mysql::MySqlRow;
use sqlx::{Connection, MySql, QueryBuilder, Row};

use super::{MysqlHandle, schema};
use crate::Driver;
use crate::chunked::insert_chunked;
use crate::records::{
    context_text, dedupe_detections, dedupe_points, detection_context, finite, parse_context,
};
use crate::stored::{detection_record, migration_result, params_from_text};

/// Rows per statement, within the 65,535 bind parameters of one statement.
const DATAPOINT_ROWS: usize = 65_000 / 5;
const DETECTION_ROWS: usize = 65_000 / 14;

/// Keeps datapoints, detections, checkpoints and alert state in MySQL or MariaDB.
#[derive(Debug, Clone)]
pub struct MysqlStorage {
    pub(super) handle: MysqlHandle,
}

pub(super) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(super) fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub(super) fn json_text(row: &MySqlRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    row.try_get_unchecked(column)
}

impl MysqlStorage {
    pub(crate) fn new(handle: MysqlHandle) -> Self {
        Self { handle }
    }

    fn detection(&self, row: &MySqlRow) -> Result<DetectionRecord, sqlx::Error> {
        let context = parse_context(json_text(row, "context")?.as_deref());
        let params = params_from_text(json_text(row, "detector_params")?);
        let timestamp = utc(row.try_get("detected_at")?);
        detection_record(row, timestamp, params, context)
    }
}

#[async_trait]
impl SeriesStore for MysqlStorage {
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        let points = dedupe_points(points);
        if points.is_empty() {
            return Ok(());
        }
        let err = self.handle.err("storing datapoints");
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin().await.map_err(&err)?;
        insert_chunked::<MySql, _>(
            &mut tx,
            &points,
            DATAPOINT_ROWS,
            "INSERT INTO dtk_datapoints (metric_name, collected_at, value, is_missing, context, loaded_at) ",
            " ON DUPLICATE KEY UPDATE value = VALUES(value), is_missing = VALUES(is_missing), \
             context = VALUES(context), loaded_at = VALUES(loaded_at)",
            |mut b, p| {
                b.push_bind(metric)
                    .push_bind(naive(p.timestamp))
                    .push_bind(finite(p.value))
                    .push_bind(p.is_missing)
                    .push_bind(context_text(&p.context))
                    .push("UTC_TIMESTAMP(6)");
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
             WHERE metric_name = ? AND collected_at >= ? AND collected_at < ? ORDER BY collected_at",
        )
        .bind(metric)
        .bind(naive(from))
        .bind(naive(to))
        .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        rows.iter()
            .map(|row| {
                let context = json_text(row, "context")?;
                Ok(DataPoint {
                    timestamp: utc(row.try_get("collected_at")?),
                    value: row.try_get("value")?,
                    is_missing: row.try_get("is_missing")?,
                    context: parse_context(context.as_deref()),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(&err)
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        let err = self.handle.err("reading the last datapoint time");
        let last: Option<NaiveDateTime> = sqlx::query_scalar(
            "SELECT MAX(collected_at) FROM dtk_datapoints WHERE metric_name = ?",
        )
        .bind(metric)
        .fetch_one(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        Ok(last.map(utc))
    }

    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        if metrics.is_empty() {
            return Ok(HashMap::new());
        }
        let err = self.handle.err("reading the last datapoint times");
        let mut query = QueryBuilder::<MySql>::new(
            "SELECT metric_name, MAX(collected_at) FROM dtk_datapoints WHERE metric_name IN (",
        );
        let mut list = query.separated(", ");
        for metric in metrics {
            list.push_bind(metric);
        }
        query.push(") GROUP BY metric_name");
        let rows: Vec<(String, NaiveDateTime)> = query
            .build_query_as()
            .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
            .await
            .map_err(&err)?;
        Ok(rows.into_iter().map(|(m, t)| (m, utc(t))).collect())
    }
}

#[async_trait]
impl DetectionStore for MysqlStorage {
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        let records = dedupe_detections(records);
        if records.is_empty() {
            return Ok(());
        }
        let err = self.handle.err("storing detections");
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin().await.map_err(&err)?;
        insert_chunked::<MySql, _>(
            &mut tx,
            &records,
            DETECTION_ROWS,
            "INSERT INTO dtk_detections (metric_name, detector_id, detected_at, value, is_anomaly, \
             score, lower_bound, upper_bound, direction, percent_deviation, detector_type, \
             detector_params, alert_sent, context) ",
            " ON DUPLICATE KEY UPDATE value = VALUES(value), is_anomaly = VALUES(is_anomaly), \
             score = VALUES(score), lower_bound = VALUES(lower_bound), upper_bound = VALUES(upper_bound), \
             direction = VALUES(direction), percent_deviation = VALUES(percent_deviation), \
             detector_type = VALUES(detector_type), detector_params = VALUES(detector_params), \
             alert_sent = VALUES(alert_sent), context = VALUES(context)",
            |mut b, r| {
                let d = &r.detection;
                b.push_bind(r.metric.as_str())
                    .push_bind(r.detector_id.as_str())
                    .push_bind(naive(d.timestamp))
                    .push_bind(finite(d.value))
                    .push_bind(d.is_anomaly)
                    .push_bind(finite(d.score))
                    .push_bind(finite(d.lower_bound))
                    .push_bind(finite(d.upper_bound))
                    .push_bind(d.direction.map(Direction::as_str))
                    .push_bind(finite(d.percent_deviation))
                    .push_bind(r.detector_type.as_str())
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
            "SELECT * FROM dtk_detections WHERE metric_name = ? \
             AND (? IS NULL OR detector_id = ?) AND detected_at >= ? AND detected_at < ? \
             ORDER BY detected_at, detector_id",
        )
        .bind(metric)
        .bind(detector_id)
        .bind(detector_id)
        .bind(naive(from))
        .bind(naive(to))
        .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        rows.iter()
            .map(|row| self.detection(row))
            .collect::<Result<_, _>>()
            .map_err(&err)
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let err = self.handle.err("reading the last detection time");
        let last: Option<NaiveDateTime> = sqlx::query_scalar(
            "SELECT MAX(detected_at) FROM dtk_detections WHERE metric_name = ? AND detector_id = ?",
        )
        .bind(metric)
        .bind(detector_id)
        .fetch_one(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        Ok(last.map(utc))
    }

    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let err = self.handle.err("reading the last detection times");
        let rows: Vec<(String, NaiveDateTime)> = sqlx::query_as(
            "SELECT detector_id, MAX(detected_at) FROM dtk_detections \
             WHERE metric_name = ? GROUP BY detector_id",
        )
        .bind(metric)
        .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        Ok(rows.into_iter().map(|(id, t)| (id, utc(t))).collect())
    }

    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        let (metric, detector_ids, timestamp) =
            (op.metric.as_str(), op.detector_ids.as_slice(), op.timestamp);
        if detector_ids.is_empty() {
            return Ok(());
        }
        let err = self.handle.err("marking alerts sent");
        let mut q = QueryBuilder::<MySql>::new(
            "UPDATE dtk_detections SET alert_sent = TRUE WHERE metric_name = ",
        );
        q.push_bind(metric)
            .push(" AND detected_at = ")
            .push_bind(naive(timestamp))
            .push(" AND detector_id IN (");
        let mut ids = q.separated(", ");
        for id in detector_ids {
            ids.push_bind(id.as_str());
        }
        q.push(")");
        q.build()
            .execute(&mut *self.handle.acquire().await.map_err(&err)?)
            .await
            .map_err(&err)?;
        Ok(())
    }
}

#[async_trait]
impl CheckpointStore for MysqlStorage {
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let err = self.handle.err("reading a checkpoint");
        let position: Option<NaiveDateTime> = sqlx::query_scalar(
            "SELECT position FROM dtk_checkpoints WHERE metric_name = ? AND job = ?",
        )
        .bind(metric)
        .bind(job)
        .fetch_optional(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        Ok(position.map(utc))
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        let err = self.handle.err("writing a checkpoint");
        sqlx::query(
            "INSERT INTO dtk_checkpoints (metric_name, job, position, updated_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)",
        )
        .bind(metric)
        .bind(job)
        .bind(naive(position))
        .execute(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        Ok(())
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        let err = self.handle.err("clearing a checkpoint");
        sqlx::query("DELETE FROM dtk_checkpoints WHERE metric_name = ? AND job = ?")
            .bind(metric)
            .bind(job)
            .execute(&mut *self.handle.acquire().await.map_err(&err)?)
            .await
            .map_err(&err)?;
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
impl AlertLedger for MysqlStorage {
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
impl Storage for MysqlStorage {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn check(&self) -> StorageResult<Option<String>> {
        self.handle.connect().await.map(|_| None)
    }

    async fn migrate(&self) -> StorageResult<()> {
        let mut conn = self.handle.connect().await?;
        let outcome = schema::migrate(&mut conn).await;
        migration_result(Driver::Mysql, &self.handle.server(), outcome)
            .map_err(|e| e.at(self.handle.describe()))
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        let err = self.handle.err("applying retention");
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin().await.map_err(&err)?;
        let points =
            sqlx::query("DELETE FROM dtk_datapoints WHERE metric_name = ? AND collected_at < ?")
                .bind(metric)
                .bind(naive(before))
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        let detections =
            sqlx::query("DELETE FROM dtk_detections WHERE metric_name = ? AND detected_at < ?")
                .bind(metric)
                .bind(naive(before))
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(points.rows_affected() + detections.rows_affected())
    }
}
