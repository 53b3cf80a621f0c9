//! PostgreSQL's writes of points and detections:
//!
//! - a batch of [`COPY_MIN_ROWS`] rows or more (a history load's) is streamed with
//!   binary `COPY` straight into the table under a savepoint: no statement to plan, no
//!   arrays to unpack, rows inserted in multi-row groups. When a row already exists
//!   (a reload, `--force`), the savepoint is rolled back and the batch upserted;
//! - a smaller batch (a cron tick's one point and one detection per detector) is one
//!   upsert statement through `UNNEST` arrays: one round trip, no savepoint (and, on
//!   the bulk lane, no transaction around it: see `super::lane`).
//!
//! Each write commits with `synchronous_commit = off` (`SET LOCAL`, or `set_config`
//! inside the upsert statement itself): the commit returns once
//! its WAL is written, without waiting for the disk flush (PostgreSQL's WAL writer
//! flushes within `wal_writer_delay`, 200 ms by default). A killed `dtk` loses nothing
//! committed; only a crash of the server (or its machine) may lose the newest such
//! commits, and then always a suffix of the WAL: any later synchronous commit (a
//! checkpoint, an alert claim, a lease) flushes every earlier commit first, so a
//! checkpoint is never durable without the points and detections it marks. Lost
//! points and detections are collected and scored again by the next run. The alert
//! ledger, claims, leases and checkpoints keep synchronous commits.

use chrono::{DateTime, Utc};
use detectk_core::model::{DataPoint, DetectionRecord, Direction};
use sqlx::PgConnection;

use super::copy::{CopyRows, HEADER, TRAILER};
use crate::records::{ParamsText, context_text, detection_context};

/// Rows per upsert statement: bounds statement size and server memory.
const CHUNK_ROWS: usize = 50_000;

/// Batches of at least this many rows are copied; smaller ones are one upsert.
pub(crate) const COPY_MIN_ROWS: usize = 64;

/// The point columns, in the order copied and unpacked.
const COPY_POINTS: &str = "COPY dtk_datapoints (metric_name, collected_at, value, is_missing, \
     context, loaded_at) FROM STDIN (FORMAT binary)";

const COPY_DETECTIONS: &str = "COPY dtk_detections (metric_name, detector_id, detected_at, \
     value, is_anomaly, score, lower_bound, upper_bound, direction, percent_deviation, \
     detector_type, detector_params, alert_sent, context) FROM STDIN (FORMAT binary)";

/// The start of a statement that commits with `synchronous_commit = off` (for the rest
/// of its transaction; an autocommitted statement is its own). Its `relax` row is
/// joined in so that it runs first, once: a CTE calling a volatile function is never
/// inlined (PostgreSQL 12+; 11 materializes every CTE), so no `MATERIALIZED` needed.
macro_rules! relaxed {
    () => {
        "WITH relax AS (SELECT set_config('synchronous_commit', 'off', true)) "
    };
}

/// The upsert of points; binds: metric, loaded_at, then one array per column.
const UPSERT_POINTS: &str = concat!(
    relaxed!(),
    "INSERT INTO dtk_datapoints (metric_name, collected_at, value, \
     is_missing, context, loaded_at) \
     SELECT $1, t.collected_at, t.value, t.is_missing, t.context::jsonb, $2 \
     FROM relax, UNNEST($3::timestamptz[], $4::float8[], $5::bool[], $6::text[]) \
     AS t(collected_at, value, is_missing, context) \
     ON CONFLICT (metric_name, collected_at) DO UPDATE SET value = EXCLUDED.value, \
     is_missing = EXCLUDED.is_missing, context = EXCLUDED.context, loaded_at = EXCLUDED.loaded_at"
);

/// The upsert of detections; binds one array per column.
const UPSERT_DETECTIONS: &str = concat!(
    relaxed!(),
    "INSERT INTO dtk_detections (metric_name, detector_id, \
     detected_at, value, is_anomaly, score, lower_bound, upper_bound, direction, \
     percent_deviation, detector_type, detector_params, alert_sent, context) \
     SELECT t.metric_name, t.detector_id, t.detected_at, t.value, t.is_anomaly, t.score, \
     t.lower_bound, t.upper_bound, t.direction, t.percent_deviation, t.detector_type, \
     t.detector_params::jsonb, t.alert_sent, t.context::jsonb \
     FROM relax, UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::bool[], \
     $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::float8[], $11::text[], \
     $12::text[], $13::bool[], $14::text[]) AS t(metric_name, detector_id, detected_at, \
     value, is_anomaly, score, lower_bound, upper_bound, direction, percent_deviation, \
     detector_type, detector_params, alert_sent, context) \
     ON CONFLICT (metric_name, detector_id, detected_at) DO UPDATE SET \
     value = EXCLUDED.value, is_anomaly = EXCLUDED.is_anomaly, score = EXCLUDED.score, \
     lower_bound = EXCLUDED.lower_bound, upper_bound = EXCLUDED.upper_bound, \
     direction = EXCLUDED.direction, percent_deviation = EXCLUDED.percent_deviation, \
     detector_type = EXCLUDED.detector_type, detector_params = EXCLUDED.detector_params, \
     alert_sent = EXCLUDED.alert_sent, context = EXCLUDED.context"
);

/// Writes the (de-duplicated) points of `metric` in the open transaction on `conn`.
pub(crate) async fn write_points(
    conn: &mut PgConnection,
    metric: &str,
    points: &[&DataPoint],
    loaded_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if points.len() >= COPY_MIN_ROWS {
        let chunks = points.chunks(CHUNK_ROWS).map(|chunk| {
            let mut rows = CopyRows::with_capacity(chunk.len() * 64);
            for p in chunk {
                rows.row(6)
                    .text(metric)?
                    .time(p.timestamp)?
                    .float(p.value)
                    .boolean(p.is_missing)
                    .json(context_text(&p.context).as_deref())?
                    .time(loaded_at)?;
            }
            Ok(rows)
        });
        if copied(conn, COPY_POINTS, chunks).await? {
            return Ok(());
        }
    }
    upsert_points(conn, metric, points, loaded_at).await
}

/// Writes the (de-duplicated) detections in the open transaction on `conn`.
pub(crate) async fn write_detections(
    conn: &mut PgConnection,
    records: &[&DetectionRecord],
) -> Result<(), sqlx::Error> {
    if records.len() >= COPY_MIN_ROWS {
        let mut params = ParamsText::default();
        let chunks = records.chunks(CHUNK_ROWS).map(|chunk| {
            let mut rows = CopyRows::with_capacity(chunk.len() * 256);
            for r in chunk {
                let d = &r.detection;
                rows.row(14)
                    .text(&r.metric)?
                    .text(&r.detector_id)?
                    .time(d.timestamp)?
                    .float(d.value)
                    .boolean(d.is_anomaly)
                    .float(d.score)
                    .float(d.lower_bound)
                    .float(d.upper_bound)
                    .opt_text(d.direction.map(Direction::as_str))?
                    .float(d.percent_deviation)
                    .text(&r.detector_type)?
                    .json(Some(&params.of(&r.detector_params)))?
                    .boolean(r.alert_sent)
                    .json(detection_context(r).as_deref())?;
            }
            Ok(rows)
        });
        if copied(conn, COPY_DETECTIONS, chunks).await? {
            return Ok(());
        }
    }
    upsert_detections(conn, records).await
}

/// Streams `chunks` through `statement` (a binary `COPY ... FROM STDIN`) under a
/// savepoint, in a transaction that commits with `synchronous_commit = off`.
/// `Ok(false)`: a row already existed, and nothing was written.
async fn copied(
    conn: &mut PgConnection,
    statement: &str,
    chunks: impl Iterator<Item = Result<CopyRows, String>>,
) -> Result<bool, sqlx::Error> {
    sqlx::raw_sql("SET LOCAL synchronous_commit = off; SAVEPOINT dtk_copy")
        .execute(&mut *conn)
        .await?;
    match copy(conn, statement, chunks).await {
        Ok(()) => {
            sqlx::query("RELEASE SAVEPOINT dtk_copy")
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            sqlx::query("ROLLBACK TO SAVEPOINT dtk_copy")
                .execute(&mut *conn)
                .await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// One `COPY` of every chunk's rows (one message per chunk). An encoding failure
/// aborts the copy and is an [`sqlx::Error::Encode`].
async fn copy(
    conn: &mut PgConnection,
    statement: &str,
    chunks: impl Iterator<Item = Result<CopyRows, String>>,
) -> Result<(), sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(HEADER).await?;
    for chunk in chunks {
        let rows = match chunk {
            Ok(rows) => rows,
            Err(e) => {
                copy.abort(e.clone()).await?;
                return Err(sqlx::Error::Encode(e.into()));
            }
        };
        copy.send(rows.into_bytes()).await?;
    }
    copy.send(TRAILER).await?;
    copy.finish().await?;
    Ok(())
}

/// Upserts points through `UNNEST` arrays, [`CHUNK_ROWS`] per statement, each
/// committing with `synchronous_commit = off`. Outside a transaction, a batch of fewer
/// than [`CHUNK_ROWS`] points is one atomic statement.
pub(crate) async fn upsert_points(
    conn: &mut PgConnection,
    metric: &str,
    points: &[&DataPoint],
    loaded_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for chunk in points.chunks(CHUNK_ROWS) {
        sqlx::query(UPSERT_POINTS)
            .bind(metric)
            .bind(loaded_at)
            .bind(column(chunk, |p| p.timestamp))
            .bind(column(chunk, |p| p.value))
            .bind(column(chunk, |p| p.is_missing))
            .bind(column(chunk, |p| context_text(&p.context)))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Upserts detections through `UNNEST` arrays, [`CHUNK_ROWS`] per statement, as
/// [`upsert_points`].
pub(crate) async fn upsert_detections(
    conn: &mut PgConnection,
    records: &[&DetectionRecord],
) -> Result<(), sqlx::Error> {
    let mut params = ParamsText::default();
    for chunk in records.chunks(CHUNK_ROWS) {
        sqlx::query(UPSERT_DETECTIONS)
            .bind(column(chunk, |r| r.metric.as_str()))
            .bind(column(chunk, |r| r.detector_id.as_str()))
            .bind(column(chunk, |r| r.detection.timestamp))
            .bind(column(chunk, |r| r.detection.value))
            .bind(column(chunk, |r| r.detection.is_anomaly))
            .bind(column(chunk, |r| r.detection.score))
            .bind(column(chunk, |r| r.detection.lower_bound))
            .bind(column(chunk, |r| r.detection.upper_bound))
            .bind(column(chunk, |r| {
                r.detection.direction.map(Direction::as_str)
            }))
            .bind(column(chunk, |r| r.detection.percent_deviation))
            .bind(column(chunk, |r| r.detector_type.as_str()))
            .bind(column(chunk, |r| params.of(&r.detector_params)))
            .bind(column(chunk, |r| r.alert_sent))
            .bind(column(chunk, detection_context))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One column of `rows`, as an array to bind.
fn column<'a, R, T>(rows: &[&'a R], f: impl FnMut(&'a R) -> T) -> Vec<T> {
    rows.iter().copied().map(f).collect()
}
