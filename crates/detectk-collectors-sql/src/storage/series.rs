//! Datapoints (`dtk_datapoints`): the series part of the storage.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use detectk_core::async_trait;
use detectk_core::model::DataPoint;
use detectk_core::traits::{LoadDatapoints, SeriesStore, StorageResult};

use super::db::{Conn, SqlDb};
use super::lane::LOAD_POINTS;
use super::{Dialect, SqlStorage, Stmt, begin_write, newest};
use crate::records::{Contexts, context_text, dedupe_points};

/// The columns written for a point, in order.
pub(crate) const POINT_COLUMNS: &str =
    "metric_name, collected_at, value, is_missing, context, loaded_at";
/// The columns an upsert of a point replaces.
pub(crate) const POINT_UPDATES: &str = "value, is_missing, context, loaded_at";
/// The primary key of `dtk_datapoints`.
pub(crate) const POINT_KEY: &str = "metric_name, collected_at";

#[async_trait]
impl<D: Dialect> SeriesStore for SqlStorage<D> {
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        let points = dedupe_points(points);
        if points.is_empty() {
            return Ok(());
        }
        let err = self.err("storing datapoints");
        if let Some(lane) = &self.lane {
            return lane
                .write_points(metric, &points, Utc::now())
                .await
                .map_err(&err);
        }
        let mut conn = self.conn("storing datapoints").await?;
        let mut tx = begin_write::<D>(&mut conn).await.map_err(&err)?;
        D::write_points(&mut *tx, metric, &points, Utc::now())
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>> {
        let err = self.err("loading datapoints");
        if let Some(lane) = &self.lane {
            return lane.load_points(op).await.map_err(&err);
        }
        let rows = Stmt::<D>::new(LOAD_POINTS)
            .text(&op.metric)
            .time(op.from)
            .time(op.to)
            .fetch(&mut *self.conn("loading datapoints").await?)
            .await
            .map_err(&err)?;
        let mut contexts = Contexts::default();
        rows.iter()
            .map(|row| {
                Ok(DataPoint {
                    timestamp: self.required_time(D::time(row, "collected_at"), "collected_at")?,
                    value: D::DB::float(row, "value").map_err(&err)?,
                    is_missing: D::DB::boolean(row, "is_missing").map_err(&err)?,
                    context: D::context(row, "context", &mut contexts).map_err(&err)?,
                })
            })
            .collect()
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        let what = "reading the last datapoint time";
        let row = Stmt::<D>::new(
            "SELECT MAX(collected_at) AS last_time FROM dtk_datapoints WHERE metric_name = ?",
        )
        .text(metric)
        .fetch_first(&mut *self.handle.connect().await?)
        .await
        .map_err(self.err(what))?;
        row.map(|row| D::time(&row, "last_time").map_err(self.err(what)))
            .transpose()
            .map(Option::flatten)
    }

    /// See [`super::newest`].
    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let rows = self
            .newest_times(
                "reading the last datapoint times",
                newest::newest_points(metrics),
                newest::POINT_KEYS,
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(mut key, time)| Some((key.pop()?, time)))
            .collect())
    }
}

/// Keys per statement of the fleet-wide reads and batched leases: SQLite allows at
/// most 500 terms in a compound `SELECT` (see [`keys_table`]), and every statement
/// stays prepared in each connection's cache (small ones keep the tick's memory low).
pub(crate) const KEYS_PER_QUERY: usize = 64;

/// A derived table of `rows` rows of bound parameters named `columns`:
/// `SELECT ? AS a, ? AS b UNION ALL SELECT ?, ? ...`, portable to every dialect.
pub(crate) fn keys_table(columns: &[&str], rows: usize) -> String {
    let first: Vec<String> = columns.iter().map(|c| format!("? AS {c}")).collect();
    let next = vec!["?"; columns.len()].join(", ");
    let mut sql = format!("SELECT {}", first.join(", "));
    for _ in 1..rows {
        sql.push_str(" UNION ALL SELECT ");
        sql.push_str(&next);
    }
    sql
}

/// `INSERT INTO <table> (<columns>) VALUES (row), (row), ... <tail>` for `rows` rows,
/// each `row` a `(?, ?, ...)` of `width` parameters.
pub(crate) fn values_template(
    table: &str,
    columns: &str,
    width: usize,
    rows: usize,
    tail: &str,
) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    let mut sql = String::with_capacity(64 + columns.len() + rows * (row.len() + 2) + tail.len());
    sql.push_str(&format!("INSERT INTO {table} ({columns}) VALUES "));
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// The default [`Dialect::write_points`]: multi-row upserts of at most
/// `MAX_BINDS / 6` rows each (`/ 5` when `loaded_at` is the server's [`Dialect::NOW`]).
pub(crate) async fn upsert_chunked<D: Dialect>(
    conn: &mut Conn<D::DB>,
    metric: &str,
    points: &[&DataPoint],
    loaded_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let tail = D::upsert(POINT_KEY, POINT_UPDATES);
    let binds = if D::NOW.is_some() { 5 } else { 6 };
    for chunk in points.chunks((D::MAX_BINDS / binds).max(1)) {
        let sql = values_template("dtk_datapoints", POINT_COLUMNS, 6, chunk.len(), &tail);
        let mut stmt = Stmt::<D>::new(&sql);
        for p in chunk {
            stmt = stmt
                .text(metric)
                .time(p.timestamp)
                .float(p.value)
                .boolean(p.is_missing)
                .json(context_text(&p.context))
                .now(loaded_at);
        }
        stmt.execute(conn).await?;
    }
    Ok(())
}
