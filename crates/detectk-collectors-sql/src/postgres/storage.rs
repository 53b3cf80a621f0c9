//! The PostgreSQL storage: upserts through `UNNEST` arrays (no bind-parameter limit),
//! atomic alert claims with `INSERT ... ON CONFLICT DO UPDATE ... WHERE`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use detectk_core::model::{DataPoint, DetectionRecord};
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertLedger, AlertRecord, CheckpointStore, DetectionStore,
    FinishAlert, LoadAlerts, LoadDatapoints, LoadDetections, MarkAlertSent, SeriesStore,
    StorageResult,
};
use detectk_core::{Storage, async_trait};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Connection, Row};

use super::{PgHandle, schema};
use crate::Driver;
use crate::records::{
    context_from_value, context_text, dedupe_detections, dedupe_points, detection_context,
};
use crate::stored::{detection_record, migration_result};

/// Rows per statement: bounds statement size and server memory, not a protocol limit.
const CHUNK_ROWS: usize = 50_000;

const INSERT_POINTS: &str = "INSERT INTO dtk_datapoints (metric_name, collected_at, value, is_missing, context, loaded_at) \
     SELECT $1, t.collected_at, t.value, t.is_missing, t.context::jsonb, $2 \
     FROM UNNEST($3::timestamptz[], $4::float8[], $5::bool[], $6::text[]) \
     AS t(collected_at, value, is_missing, context)";

const UPSERT_POINTS: &str = "INSERT INTO dtk_datapoints (metric_name, collected_at, value, is_missing, context, loaded_at) \
     SELECT $1, t.collected_at, t.value, t.is_missing, t.context::jsonb, $2 \
     FROM UNNEST($3::timestamptz[], $4::float8[], $5::bool[], $6::text[]) \
     AS t(collected_at, value, is_missing, context) \
     ON CONFLICT (metric_name, collected_at) DO UPDATE SET value = EXCLUDED.value, \
     is_missing = EXCLUDED.is_missing, context = EXCLUDED.context, loaded_at = EXCLUDED.loaded_at";

/// Keeps datapoints, detections, checkpoints and alert state in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    pub(super) handle: PgHandle,
}

impl PostgresStorage {
    pub(crate) fn new(handle: PgHandle) -> Self {
        Self { handle }
    }

    fn detection(&self, row: &PgRow) -> Result<DetectionRecord, sqlx::Error> {
        let context = context_from_value(row.try_get("context")?);
        let params: Option<Value> = row.try_get("detector_params")?;
        let timestamp = row.try_get("detected_at")?;
        detection_record(row, timestamp, params.unwrap_or(Value::Null), context)
    }
}

#[async_trait]
impl SeriesStore for PostgresStorage {
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        let points = dedupe_points(points);
        if points.is_empty() {
            return Ok(());
        }
        let err = self.handle.err("storing datapoints");
        let loaded_at = Utc::now();
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin().await.map_err(&err)?;
        // New ranges (first loads, backfills) take the cheaper plain INSERT; after the
        // first conflict the remaining chunks go straight to the upsert.
        let mut conflicts = false;
        for chunk in points.chunks(CHUNK_ROWS) {
            let times: Vec<DateTime<Utc>> = chunk.iter().map(|p| p.timestamp).collect();
            let values: Vec<Option<f64>> = chunk.iter().map(|p| p.value).collect();
            let missing: Vec<bool> = chunk.iter().map(|p| p.is_missing).collect();
            let contexts: Vec<Option<String>> =
                chunk.iter().map(|p| context_text(&p.context)).collect();
            let insert = |sql: &'static str| {
                sqlx::query(sql)
                    .bind(metric)
                    .bind(loaded_at)
                    .bind(times.clone())
                    .bind(values.clone())
                    .bind(missing.clone())
                    .bind(contexts.clone())
            };
            if !conflicts {
                sqlx::query("SAVEPOINT dtk_chunk")
                    .execute(&mut *tx)
                    .await
                    .map_err(&err)?;
                match insert(INSERT_POINTS).execute(&mut *tx).await {
                    Ok(_) => {
                        sqlx::query("RELEASE SAVEPOINT dtk_chunk")
                            .execute(&mut *tx)
                            .await
                            .map_err(&err)?;
                        continue;
                    }
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        conflicts = true;
                        sqlx::query("ROLLBACK TO SAVEPOINT dtk_chunk")
                            .execute(&mut *tx)
                            .await
                            .map_err(&err)?;
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            insert(UPSERT_POINTS)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }

    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>> {
        let (metric, from, to) = (op.metric.as_str(), op.from, op.to);
        let err = self.handle.err("loading datapoints");
        let rows = sqlx::query(
            "SELECT collected_at, value, is_missing, context FROM dtk_datapoints \
             WHERE metric_name = $1 AND collected_at >= $2 AND collected_at < $3 ORDER BY collected_at",
        )
        .bind(metric)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        rows.iter()
            .map(|row| {
                Ok(DataPoint {
                    timestamp: row.try_get("collected_at")?,
                    value: row.try_get("value")?,
                    is_missing: row.try_get("is_missing")?,
                    context: context_from_value(row.try_get("context")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(&err)
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        sqlx::query_scalar("SELECT MAX(collected_at) FROM dtk_datapoints WHERE metric_name = $1")
            .bind(metric)
            .fetch_one(&mut *self.handle.connect().await?)
            .await
            .map_err(self.handle.err("reading the last datapoint time"))
    }

    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT metric_name, MAX(collected_at) FROM dtk_datapoints \
             WHERE metric_name = ANY($1) GROUP BY metric_name",
        )
        .bind(metrics)
        .fetch_all(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading the last datapoint times"))?;
        Ok(rows.into_iter().collect())
    }
}

#[async_trait]
impl DetectionStore for PostgresStorage {
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        let records = dedupe_detections(records);
        if records.is_empty() {
            return Ok(());
        }
        let err = self.handle.err("storing detections");
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin().await.map_err(&err)?;
        for chunk in records.chunks(CHUNK_ROWS) {
            let col = |f: &dyn Fn(&DetectionRecord) -> Option<f64>| -> Vec<Option<f64>> {
                chunk.iter().map(|r| f(r)).collect()
            };
            sqlx::query(
                "INSERT INTO dtk_detections (metric_name, detector_id, detected_at, value, is_anomaly, \
                 score, lower_bound, upper_bound, direction, percent_deviation, detector_type, \
                 detector_params, alert_sent, context) \
                 SELECT t.metric_name, t.detector_id, t.detected_at, t.value, t.is_anomaly, t.score, \
                 t.lower_bound, t.upper_bound, t.direction, t.percent_deviation, t.detector_type, \
                 t.detector_params::jsonb, t.alert_sent, t.context::jsonb \
                 FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::bool[], \
                 $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::float8[], $11::text[], \
                 $12::text[], $13::bool[], $14::text[]) AS t(metric_name, detector_id, detected_at, \
                 value, is_anomaly, score, lower_bound, upper_bound, direction, percent_deviation, \
                 detector_type, detector_params, alert_sent, context) \
                 ON CONFLICT (metric_name, detector_id, detected_at) DO UPDATE SET \
                 value = EXCLUDED.value, is_anomaly = EXCLUDED.is_anomaly, score = EXCLUDED.score, \
                 lower_bound = EXCLUDED.lower_bound, upper_bound = EXCLUDED.upper_bound, \
                 direction = EXCLUDED.direction, percent_deviation = EXCLUDED.percent_deviation, \
                 detector_type = EXCLUDED.detector_type, detector_params = EXCLUDED.detector_params, \
                 alert_sent = EXCLUDED.alert_sent, context = EXCLUDED.context",
            )
            .bind(chunk.iter().map(|r| r.metric.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.detector_id.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.detection.timestamp).collect::<Vec<_>>())
            .bind(col(&|r| r.detection.value))
            .bind(chunk.iter().map(|r| r.detection.is_anomaly).collect::<Vec<_>>())
            .bind(col(&|r| r.detection.score))
            .bind(col(&|r| r.detection.lower_bound))
            .bind(col(&|r| r.detection.upper_bound))
            .bind(
                chunk
                    .iter()
                    .map(|r| r.detection.direction.map(|d| d.as_str().to_string()))
                    .collect::<Vec<_>>(),
            )
            .bind(col(&|r| r.detection.percent_deviation))
            .bind(chunk.iter().map(|r| r.detector_type.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.detector_params.to_string()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.alert_sent).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| detection_context(r)).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
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
            "SELECT * FROM dtk_detections WHERE metric_name = $1 \
             AND ($2::text IS NULL OR detector_id = $2) AND detected_at >= $3 AND detected_at < $4 \
             ORDER BY detected_at, detector_id",
        )
        .bind(metric)
        .bind(detector_id)
        .bind(from)
        .bind(to)
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
        sqlx::query_scalar(
            "SELECT MAX(detected_at) FROM dtk_detections WHERE metric_name = $1 AND detector_id = $2",
        )
        .bind(metric)
        .bind(detector_id)
        .fetch_one(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading the last detection time"))
    }

    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT detector_id, MAX(detected_at) FROM dtk_detections \
             WHERE metric_name = $1 GROUP BY detector_id",
        )
        .bind(metric)
        .fetch_all(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading the last detection times"))?;
        Ok(rows.into_iter().collect())
    }

    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        let (metric, detector_ids, timestamp) =
            (op.metric.as_str(), op.detector_ids.as_slice(), op.timestamp);
        if detector_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE dtk_detections SET alert_sent = TRUE \
             WHERE metric_name = $1 AND detected_at = $2 AND detector_id = ANY($3)",
        )
        .bind(metric)
        .bind(timestamp)
        .bind(detector_ids)
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("marking alerts sent"))?;
        Ok(())
    }
}

#[async_trait]
impl CheckpointStore for PostgresStorage {
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        sqlx::query_scalar(
            "SELECT position FROM dtk_checkpoints WHERE metric_name = $1 AND job = $2",
        )
        .bind(metric)
        .bind(job)
        .fetch_optional(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("reading a checkpoint"))
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        sqlx::query(
            "INSERT INTO dtk_checkpoints (metric_name, job, position, updated_at) VALUES ($1, $2, $3, now()) \
             ON CONFLICT (metric_name, job) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at",
        )
        .bind(metric)
        .bind(job)
        .bind(position)
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("writing a checkpoint"))?;
        Ok(())
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM dtk_checkpoints WHERE metric_name = $1 AND job = $2")
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
impl AlertLedger for PostgresStorage {
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
impl Storage for PostgresStorage {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn check(&self) -> StorageResult<Option<String>> {
        self.handle.connect().await.map(|_| None)
    }

    async fn migrate(&self) -> StorageResult<()> {
        let mut conn = self.handle.connect().await?;
        let outcome = schema::migrate(&mut conn, self.handle.schema()).await;
        migration_result(Driver::Postgres, &self.handle.server(), outcome)
            .map_err(|e| e.at(self.handle.describe()))
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        let err = self.handle.err("applying retention");
        let mut conn = self.handle.acquire().await.map_err(&err)?;
        let mut tx = conn.begin().await.map_err(&err)?;
        let points =
            sqlx::query("DELETE FROM dtk_datapoints WHERE metric_name = $1 AND collected_at < $2")
                .bind(metric)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        let detections =
            sqlx::query("DELETE FROM dtk_detections WHERE metric_name = $1 AND detected_at < $2")
                .bind(metric)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(points.rows_affected() + detections.rows_affected())
    }
}
