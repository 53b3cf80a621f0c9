//! Detections (`dtk_detections`): the detections part of the storage.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use detectk_core::async_trait;
use detectk_core::model::{Detection, DetectionRecord, Direction};
use detectk_core::traits::{DetectionStore, LoadDetections, MarkAlertSent, StorageResult};
use serde_json::Value;

use super::db::{Conn, SqlDb};
use super::dialect::RowOf;
use super::series::values_template;
use super::{Dialect, SqlStorage, Stmt, begin_write, newest};
use crate::records::{
    ParamsText, context_from_value, dedupe_detections, detection_context, split_detection_context,
};

/// The columns written for a detection, in order.
pub(crate) const DETECTION_COLUMNS: &str = "metric_name, detector_id, detected_at, value, \
     is_anomaly, score, lower_bound, upper_bound, direction, percent_deviation, detector_type, \
     detector_params, alert_sent, context";
/// The columns an upsert of a detection replaces.
pub(crate) const DETECTION_UPDATES: &str = "value, is_anomaly, score, lower_bound, upper_bound, \
     direction, percent_deviation, detector_type, detector_params, alert_sent, context";
/// The primary key of `dtk_detections`.
pub(crate) const DETECTION_KEY: &str = "metric_name, detector_id, detected_at";

#[async_trait]
impl<D: Dialect> DetectionStore for SqlStorage<D> {
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        let records = dedupe_detections(records);
        if records.is_empty() {
            return Ok(());
        }
        let err = self.err("storing detections");
        if let Some(lane) = &self.lane {
            return lane.write_detections(&records).await.map_err(&err);
        }
        let mut conn = self.conn("storing detections").await?;
        let mut tx = begin_write::<D>(&mut conn).await.map_err(&err)?;
        D::write_detections(&mut *tx, &records)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    async fn load_detections(&self, op: &LoadDetections) -> StorageResult<Vec<DetectionRecord>> {
        let err = self.err("loading detections");
        // One detector: its primary-key range, read in key order (the time index would
        // look each row up); all detectors: the time index.
        let mut sql = String::from("SELECT * FROM dtk_detections WHERE metric_name = ?");
        if op.detector_id.is_some() {
            sql.push_str(" AND detector_id = ?");
        }
        sql.push_str(" AND detected_at >= ? AND detected_at < ?");
        if op.anomalies_only_before.is_some() {
            sql.push_str(" AND (is_anomaly = ? OR detected_at >= ?)");
        }
        sql.push_str(" ORDER BY detected_at, detector_id");
        let mut stmt = Stmt::<D>::new(&sql).text(&op.metric);
        if let Some(id) = &op.detector_id {
            stmt = stmt.text(id);
        }
        stmt = stmt.time(op.from).time(op.to);
        if let Some(t) = op.anomalies_only_before {
            stmt = stmt.boolean(true).time(t);
        }
        let rows = stmt
            .fetch(&mut *self.conn("loading detections").await?)
            .await
            .map_err(&err)?;
        rows.iter().map(|row| self.detection(row)).collect()
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let err = self.err("reading the last detection time");
        let row = Stmt::<D>::new(
            "SELECT MAX(detected_at) AS last_time FROM dtk_detections \
             WHERE metric_name = ? AND detector_id = ?",
        )
        .text(metric)
        .text(detector_id)
        .fetch_first(&mut *self.handle.connect().await?)
        .await
        .map_err(&err)?;
        row.map(|row| D::time(&row, "last_time").map_err(&err))
            .transpose()
            .map(Option::flatten)
    }

    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let err = self.err("reading the last detection times");
        // A loose index scan: one primary-key seek per detector for the next detector ID
        // and one for its newest time. `GROUP BY detector_id` would read every detection
        // of the metric (thousands of wide rows per detector) on every tick.
        let rows = Stmt::<D>::new(
            "WITH RECURSIVE ids (id) AS ( \
               SELECT MIN(detector_id) FROM dtk_detections WHERE metric_name = ? \
               UNION ALL \
               SELECT (SELECT MIN(d.detector_id) FROM dtk_detections d \
                       WHERE d.metric_name = ? AND d.detector_id > ids.id) \
               FROM ids WHERE ids.id IS NOT NULL \
             ) \
             SELECT ids.id AS detector_id, \
               (SELECT MAX(d.detected_at) FROM dtk_detections d \
                WHERE d.metric_name = ? AND d.detector_id = ids.id) AS last_time \
             FROM ids WHERE ids.id IS NOT NULL",
        )
        .text(metric)
        .text(metric)
        .text(metric)
        .fetch(&mut *self.handle.connect().await?)
        .await
        .map_err(&err)?;
        let mut last = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id = D::DB::text(row, "detector_id").map_err(&err)?;
            let time = D::time(row, "last_time").map_err(&err)?;
            if let (Some(id), Some(time)) = (id, time) {
                last.insert(id, time);
            }
        }
        Ok(last)
    }

    /// See [`super::newest`].
    async fn last_detection_times_of(
        &self,
        pairs: &[(String, String)],
    ) -> StorageResult<HashMap<(String, String), DateTime<Utc>>> {
        let rows = self
            .newest_times(
                "reading the last detection times",
                newest::newest_detections(pairs),
                newest::DETECTION_KEYS,
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(mut key, time)| {
                let id = key.pop()?;
                Some(((key.pop()?, id), time))
            })
            .collect())
    }

    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        let detector_ids = &op.detector_ids;
        if detector_ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE dtk_detections SET alert_sent = ? WHERE metric_name = ? AND detected_at = ? \
             AND detector_id IN ({})",
            vec!["?"; detector_ids.len()].join(", ")
        );
        let mut stmt = Stmt::<D>::new(&sql)
            .boolean(true)
            .text(&op.metric)
            .time(op.timestamp);
        for id in detector_ids {
            stmt = stmt.text(id);
        }
        stmt.execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err("marking alerts sent"))?;
        Ok(())
    }
}

impl<D: Dialect> SqlStorage<D> {
    /// A `dtk_detections` row as a record (`stats` and `skipped` live in `context`).
    fn detection(&self, row: &RowOf<D>) -> StorageResult<DetectionRecord> {
        let err = self.err("reading detections");
        let text = |c: &str| D::DB::text(row, c).map_err(&err);
        let float = |c: &str| D::DB::float(row, c).map_err(&err);
        let context = context_from_value(D::json(row, "context").map_err(&err)?);
        let (context, stats, skipped) = split_detection_context(context);
        Ok(DetectionRecord {
            metric: text("metric_name")?.unwrap_or_default(),
            detector_id: text("detector_id")?.unwrap_or_default(),
            detector_type: text("detector_type")?.unwrap_or_default(),
            detector_params: D::json(row, "detector_params")
                .map_err(&err)?
                .unwrap_or(Value::Null),
            detection: Detection {
                timestamp: self.required_time(D::time(row, "detected_at"), "detected_at")?,
                value: float("value")?,
                is_anomaly: D::DB::boolean(row, "is_anomaly").map_err(&err)?,
                score: float("score")?,
                lower_bound: float("lower_bound")?,
                upper_bound: float("upper_bound")?,
                direction: text("direction")?.as_deref().and_then(Direction::parse),
                percent_deviation: float("percent_deviation")?,
                skipped,
                stats,
            },
            alert_sent: D::DB::boolean(row, "alert_sent").map_err(&err)?,
            context,
        })
    }
}

/// The default [`Dialect::write_detections`]: multi-row upserts of at most
/// `MAX_BINDS / 14` rows each.
pub(crate) async fn upsert_chunked<D: Dialect>(
    conn: &mut Conn<D::DB>,
    records: &[&DetectionRecord],
) -> Result<(), sqlx::Error> {
    let tail = D::upsert(DETECTION_KEY, DETECTION_UPDATES);
    let mut params = ParamsText::default();
    for chunk in records.chunks((D::MAX_BINDS / 14).max(1)) {
        let sql = values_template("dtk_detections", DETECTION_COLUMNS, 14, chunk.len(), &tail);
        let mut stmt = Stmt::<D>::new(&sql);
        for r in chunk {
            let d = &r.detection;
            stmt = stmt
                .text(&r.metric)
                .text(&r.detector_id)
                .time(d.timestamp)
                .float(d.value)
                .boolean(d.is_anomaly)
                .float(d.score)
                .float(d.lower_bound)
                .float(d.upper_bound)
                .opt_text(d.direction.map(Direction::as_str))
                .float(d.percent_deviation)
                .text(&r.detector_type)
                .json(Some(params.of(&r.detector_params)))
                .boolean(r.alert_sent)
                .json(detection_context(r));
        }
        stmt.execute(conn).await?;
    }
    Ok(())
}
