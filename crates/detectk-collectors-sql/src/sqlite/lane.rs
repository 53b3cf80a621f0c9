//! SQLite's bulk lane: a FILE storage reads its history window and writes batches of
//! points and detections through rusqlite on connections of its own, with no worker
//! thread, no boxed row and no copy of each value on the way (sqlx's driver costs about
//! 1 µs per row). The work runs on tokio's blocking threads.
//!
//! The rows, columns, upserts and `BEGIN IMMEDIATE` transactions are the sqlx path's
//! (see `storage::series` and `storage::detections`); the connections get the same
//! PRAGMAs as the pool's (WAL, `synchronous = NORMAL`, the checkpoint interval, the busy
//! timeout), so a writer waits for a concurrent one instead of failing. An in-memory
//! storage has no lane (two libraries cannot share one in-memory database).
//!
//! The window comes from the points' day blocks where they exist (see `sqlite::window`:
//! the same points as the row query); a write of points rebuilds, in its transaction,
//! the blocks of the days it wrote into and of those reads found without one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use detectk_core::async_trait;
use detectk_core::model::{DataPoint, DetectionRecord, Direction};
use detectk_core::traits::LoadDatapoints;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::Lite;
use super::idle::IdleConnections;
use super::lane_error::LaneError;
use super::time_text::{not_a_time, parse_time_text, time_text};
use super::window::{StaleDays, day_of, read_window, rebuild_day};
use crate::records::{context_text, detection_context};
use crate::storage::Dialect;
use crate::storage::detections::{DETECTION_COLUMNS, DETECTION_KEY, DETECTION_UPDATES};
use crate::storage::lane::BulkLane;
use crate::storage::newest::{KeyedRead, Newest};
use crate::storage::series::{POINT_COLUMNS, POINT_KEY, POINT_UPDATES, values_template};

/// The bulk lane of one SQLite storage file (shared by every storage on the file).
#[derive(Debug)]
pub(crate) struct LiteLane {
    conns: Arc<Connections>,
    /// The single-row upsert of a point.
    upsert_point: Arc<str>,
    /// The single-row upsert of a detection.
    upsert_detection: Arc<str>,
    /// Days window reads found without a block, rebuilt by the metric's next write.
    stale: Arc<StaleDays>,
}

impl LiteLane {
    /// A lane on the storage file `path`; `keep` idle connections at most, each waiting
    /// up to `timeout` for the file's lock. Does not connect.
    pub(crate) fn new(path: PathBuf, keep: usize, timeout: Duration) -> Self {
        let upsert = |table, columns, width, key, updates| {
            Arc::from(values_template(
                table,
                columns,
                width,
                1,
                &Lite::upsert(key, updates),
            ))
        };
        Self {
            conns: Arc::new(Connections {
                pool: IdleConnections::new(path, keep, timeout, open_storage),
                writer: Mutex::new(()),
            }),
            upsert_point: upsert("dtk_datapoints", POINT_COLUMNS, 6, POINT_KEY, POINT_UPDATES),
            upsert_detection: upsert(
                "dtk_detections",
                DETECTION_COLUMNS,
                14,
                DETECTION_KEY,
                DETECTION_UPDATES,
            ),
            stale: Arc::default(),
        }
    }

    /// Runs `work` on a connection on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, LaneError> + Send + 'static,
    ) -> Result<T, sqlx::Error> {
        let conns = Arc::clone(&self.conns);
        match tokio::task::spawn_blocking(move || conns.with(work)).await {
            Ok(done) => done.map_err(sqlx::Error::from),
            Err(_) => Err(sqlx::Error::WorkerCrashed),
        }
    }

    /// Runs the write transaction `work` on a connection on a blocking thread, after
    /// the lane's other writers of this process: SQLite has one writer per file, and a
    /// writer queued here starts the moment the previous one commits, where one waiting
    /// in SQLite's busy handler sleeps (1 to 100 ms a try) and polls.
    async fn writing(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<(), LaneError> + Send + 'static,
    ) -> Result<(), sqlx::Error> {
        let conns = Arc::clone(&self.conns);
        let write = move || {
            let _turn = conns.writer.lock().unwrap_or_else(PoisonError::into_inner);
            conns.with(work)
        };
        match tokio::task::spawn_blocking(write).await {
            Ok(done) => done.map_err(sqlx::Error::from),
            Err(_) => Err(sqlx::Error::WorkerCrashed),
        }
    }
}

#[async_trait]
impl BulkLane for LiteLane {
    async fn load_points(&self, op: &LoadDatapoints) -> Result<Vec<DataPoint>, sqlx::Error> {
        let (metric, from, to) = (op.metric.clone(), time_text(op.from), time_text(op.to));
        let stale = Arc::clone(&self.stale);
        self.blocking(move |conn| read_window(conn, &metric, &from, &to, &stale))
            .await
    }

    async fn newest_times(
        &self,
        reads: &[KeyedRead],
        keys: usize,
    ) -> Option<Result<Vec<Newest>, sqlx::Error>> {
        // The blocking job owns its statements; the sqlx path needs no copy of them.
        let reads = reads.to_vec();
        Some(
            self.blocking(move |conn| read_newest(conn, &reads, keys))
                .await,
        )
    }

    async fn write_points(
        &self,
        metric: &str,
        points: &[&DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let batch = self.point_batch(metric, points, loaded_at);
        let sql = Arc::clone(&self.upsert_point);
        self.writing(move |conn| in_write_transaction(conn, |tx| batch.upsert(tx, &sql)))
            .await
    }

    async fn write_detections(&self, records: &[&DetectionRecord]) -> Result<(), sqlx::Error> {
        let batch = DetectionBatch::of(records);
        let sql = Arc::clone(&self.upsert_detection);
        self.writing(move |conn| in_write_transaction(conn, |tx| batch.upsert(tx, &sql)))
            .await
    }

    async fn write_scored(
        &self,
        metric: &str,
        points: &[&DataPoint],
        records: &[&DetectionRecord],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let detections = DetectionBatch::of(records);
        let points = (!points.is_empty()).then(|| self.point_batch(metric, points, loaded_at));
        let (detection_sql, point_sql) = (
            Arc::clone(&self.upsert_detection),
            Arc::clone(&self.upsert_point),
        );
        self.writing(move |conn| {
            in_write_transaction(conn, |tx| {
                detections.upsert(tx, &detection_sql)?;
                match &points {
                    Some(points) => points.upsert(tx, &point_sql),
                    None => Ok(()),
                }
            })
        })
        .await
    }
}

impl LiteLane {
    /// `points` of `metric` ready to write, with the days whose blocks the write
    /// rebuilds: those it writes into, and those reads found without a block.
    fn point_batch(
        &self,
        metric: &str,
        points: &[&DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> PointBatch {
        let rows: Vec<PointRow> = points.iter().map(|p| PointRow::of(p)).collect();
        let mut days = self.stale.take(metric);
        days.extend(
            rows.iter()
                .filter_map(|r| day_of(&r.at))
                .map(str::to_string),
        );
        PointBatch {
            metric: metric.to_string(),
            loaded_at: time_text(loaded_at),
            rows,
            days,
        }
    }
}

/// The lane's connections to one file: opened on demand, at most `keep` kept idle.
#[derive(Debug)]
struct Connections {
    pool: IdleConnections,
    /// Held by the lane's writer of the moment (see [`LiteLane::writing`]).
    writer: Mutex<()>,
}

impl Connections {
    /// Runs `work` on an idle connection (or a new one), then keeps the connection
    /// when it is back outside any transaction.
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, LaneError>,
    ) -> Result<T, LaneError> {
        let mut conn = self.pool.take()?;
        let done = work(&mut conn);
        self.pool.give_back(conn);
        done
    }
}

/// A read-write connection with the storage pool's PRAGMAs.
fn open_storage(path: &Path, timeout: Duration) -> Result<Connection, LaneError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(timeout)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", super::WAL_AUTOCHECKPOINT_PAGES)?;
    conn.pragma_update(None, "cache_size", super::STORAGE_CACHE_SIZE)?;
    Ok(conn)
}

/// Runs the statements of a keyed read of newest times (rows: `keys` text columns, then
/// the stored time text), each on its own like sqlx's autocommit statements: every key
/// with a time. A key or time that is not text fails as sqlx's decoding would.
fn read_newest(
    conn: &Connection,
    reads: &[KeyedRead],
    keys: usize,
) -> Result<Vec<Newest>, LaneError> {
    let mut newest = Vec::new();
    for read in reads {
        let mut statement = conn.prepare_cached(&read.sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(&read.params))?;
        'rows: while let Some(row) = rows.next()? {
            let mut texts = Vec::with_capacity(keys);
            for i in 0..keys {
                match row.get::<_, Option<String>>(i)? {
                    Some(text) => texts.push(text),
                    None => continue 'rows,
                }
            }
            let Some(text) = row.get::<_, Option<String>>(keys)? else {
                continue;
            };
            let time = parse_time_text(&text)
                .ok_or_else(|| LaneError::Decode("last_time", not_a_time(&text)))?;
            newest.push((texts, time));
        }
    }
    Ok(newest)
}

/// Runs `write` on the connection in one `BEGIN IMMEDIATE` transaction (rolled back
/// when it fails).
fn in_write_transaction(
    conn: &mut Connection,
    write: impl FnOnce(&Connection) -> Result<(), LaneError>,
) -> Result<(), LaneError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write(&tx)?;
    tx.commit()?;
    Ok(())
}

/// The points of one metric to upsert, and the days whose blocks the write rebuilds.
struct PointBatch {
    metric: String,
    loaded_at: String,
    rows: Vec<PointRow>,
    days: BTreeSet<String>,
}

impl PointBatch {
    /// Upserts the points with the statement `sql`, then rebuilds the days' blocks,
    /// inside the caller's transaction.
    fn upsert(&self, tx: &Connection, sql: &str) -> Result<(), LaneError> {
        let mut upsert = tx.prepare_cached(sql)?;
        // What every row shares is bound once: SQLite keeps bindings across rows.
        upsert.raw_bind_parameter(1, &self.metric)?;
        upsert.raw_bind_parameter(6, &self.loaded_at)?;
        for r in &self.rows {
            upsert.raw_bind_parameter(2, &r.at)?;
            upsert.raw_bind_parameter(3, r.value)?;
            upsert.raw_bind_parameter(4, r.is_missing)?;
            upsert.raw_bind_parameter(5, &r.context)?;
            upsert.raw_execute()?;
        }
        for day in &self.days {
            rebuild_day(tx, &self.metric, day)?;
        }
        Ok(())
    }
}

/// Detections to upsert: each detector's shared columns and the rows.
struct DetectionBatch {
    series: Vec<DetectionSeries>,
    rows: Vec<DetectionRow>,
}

impl DetectionBatch {
    fn of(records: &[&DetectionRecord]) -> Self {
        let (series, rows) = detection_rows(records);
        Self { series, rows }
    }

    /// Upserts the detections with the statement `sql` inside the caller's transaction.
    fn upsert(&self, tx: &Connection, sql: &str) -> Result<(), LaneError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut upsert = tx.prepare_cached(sql)?;
        let mut bound = None;
        for r in &self.rows {
            // A detector's columns are bound when its run of rows starts.
            if bound != Some(r.series) {
                let s = &self.series[r.series];
                upsert.raw_bind_parameter(1, &s.metric)?;
                upsert.raw_bind_parameter(2, &s.detector_id)?;
                upsert.raw_bind_parameter(11, &s.detector_type)?;
                upsert.raw_bind_parameter(12, &s.detector_params)?;
                bound = Some(r.series);
            }
            upsert.raw_bind_parameter(3, &r.at)?;
            upsert.raw_bind_parameter(4, r.value)?;
            upsert.raw_bind_parameter(5, r.is_anomaly)?;
            upsert.raw_bind_parameter(6, r.score)?;
            upsert.raw_bind_parameter(7, r.lower_bound)?;
            upsert.raw_bind_parameter(8, r.upper_bound)?;
            upsert.raw_bind_parameter(9, r.direction)?;
            upsert.raw_bind_parameter(10, r.percent_deviation)?;
            upsert.raw_bind_parameter(13, r.alert_sent)?;
            upsert.raw_bind_parameter(14, &r.context)?;
            upsert.raw_execute()?;
        }
        Ok(())
    }
}

/// A point's bound values, as the sqlx path binds them.
struct PointRow {
    at: String,
    value: Option<f64>,
    is_missing: bool,
    context: Option<String>,
}

impl PointRow {
    fn of(p: &DataPoint) -> Self {
        Self {
            at: time_text(p.timestamp),
            value: p.value,
            is_missing: p.is_missing,
            context: context_text(&p.context),
        }
    }
}

/// The columns a detector's run of detections shares, as the sqlx path binds them.
struct DetectionSeries {
    metric: String,
    detector_id: String,
    detector_type: String,
    detector_params: String,
}

/// A detection's own bound values, as the sqlx path binds them; `series` indexes its
/// [`DetectionSeries`].
struct DetectionRow {
    series: usize,
    at: String,
    value: Option<f64>,
    is_anomaly: bool,
    score: Option<f64>,
    lower_bound: Option<f64>,
    upper_bound: Option<f64>,
    direction: Option<&'static str>,
    percent_deviation: Option<f64>,
    alert_sent: bool,
    context: Option<String>,
}

/// The rows of `records`, each run of records of one detector sharing one series.
fn detection_rows(records: &[&DetectionRecord]) -> (Vec<DetectionSeries>, Vec<DetectionRow>) {
    let same_series = |a: &DetectionRecord, b: &DetectionRecord| {
        a.metric == b.metric
            && a.detector_id == b.detector_id
            && a.detector_type == b.detector_type
            && a.detector_params == b.detector_params
    };
    let mut series: Vec<DetectionSeries> = Vec::new();
    let mut rows = Vec::with_capacity(records.len());
    let mut previous: Option<&DetectionRecord> = None;
    for &r in records {
        if !previous.is_some_and(|p| same_series(p, r)) {
            series.push(DetectionSeries {
                metric: r.metric.clone(),
                detector_id: r.detector_id.clone(),
                detector_type: r.detector_type.clone(),
                detector_params: r.detector_params.to_string(),
            });
        }
        previous = Some(r);
        let d = &r.detection;
        rows.push(DetectionRow {
            series: series.len() - 1,
            at: time_text(d.timestamp),
            value: d.value,
            is_anomaly: d.is_anomaly,
            score: d.score,
            lower_bound: d.lower_bound,
            upper_bound: d.upper_bound,
            direction: d.direction.map(Direction::as_str),
            percent_deviation: d.percent_deviation,
            alert_sent: r.alert_sent,
            context: detection_context(r),
        });
    }
    (series, rows)
}
