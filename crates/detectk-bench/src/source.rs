//! The fleet's SQLite source: one table `series_points(series_id, ts, value)` keyed by
//! series and time, `ts` as `YYYY-MM-DD HH:MM:SS` text (UTC), as the quickstart's
//! sample and many users' SQLite tables keep it.
//!
//! Rows go in as multi-row `INSERT`s of generated numbers (no user text), a few
//! thousand per statement, in one transaction.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use chrono::DateTime;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};

use crate::error::BenchError;
use crate::series::{INTERVAL_SECONDS, SeriesModel};

/// Rows per `INSERT` statement.
const ROWS_PER_STATEMENT: usize = 4000;

/// Opens (creating with `create`) the source database at `path`.
async fn open(path: &Path, create: bool) -> Result<SqliteConnection, BenchError> {
    let what = format!("{}: open", path.display());
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .map_err(BenchError::db(what.clone()))?
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Delete)
        .synchronous(SqliteSynchronous::Off);
    SqliteConnection::connect_with(&options)
        .await
        .map_err(BenchError::db(what))
}

/// Creates the source at `path` (replacing any) with the points of `slots` for every series.
pub async fn create(
    path: &Path,
    models: &[(u32, SeriesModel)],
    slots: Range<i64>,
) -> Result<u64, BenchError> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BenchError::io(Path::new(&file), e)),
        }
    }
    let mut conn = open(path, true).await?;
    sqlx::query(
        "CREATE TABLE series_points (series_id INTEGER NOT NULL, ts TEXT NOT NULL, \
         value REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID",
    )
    .execute(&mut conn)
    .await
    .map_err(BenchError::db(format!("{}: create table", path.display())))?;
    insert(&mut conn, path, models, slots).await
}

/// Appends the points of `slots` for every series to the source at `path`.
pub async fn append(
    path: &Path,
    models: &[(u32, SeriesModel)],
    slots: Range<i64>,
) -> Result<u64, BenchError> {
    let mut conn = open(path, false).await?;
    insert(&mut conn, path, models, slots).await
}

/// `YYYY-MM-DD HH:MM:SS` of a slot.
fn timestamp(slot: i64) -> String {
    DateTime::from_timestamp(slot * INTERVAL_SECONDS, 0)
        .expect("slot in range")
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Inserts the points in one transaction, series by series (the key's order).
async fn insert(
    conn: &mut SqliteConnection,
    path: &Path,
    models: &[(u32, SeriesModel)],
    slots: Range<i64>,
) -> Result<u64, BenchError> {
    let what = format!("{}: insert points", path.display());
    let stamps: Vec<String> = slots.clone().map(timestamp).collect();
    let mut tx = conn.begin().await.map_err(BenchError::db(what.clone()))?;
    let mut sql = String::with_capacity(ROWS_PER_STATEMENT * 48);
    let mut rows_in_sql = 0usize;
    let mut total = 0u64;
    for (id, model) in models {
        for (slot, stamp) in slots.clone().zip(&stamps) {
            if rows_in_sql == 0 {
                sql.clear();
                sql.push_str("INSERT INTO series_points (series_id, ts, value) VALUES ");
            } else {
                sql.push(',');
            }
            let value = model.point(slot).value;
            // `{:?}` keeps a decimal point and every digit of an f64.
            let _ = write!(sql, "({id},'{stamp}',{value:?})");
            rows_in_sql += 1;
            if rows_in_sql == ROWS_PER_STATEMENT {
                execute(&mut tx, &sql, &what).await?;
                total += rows_in_sql as u64;
                rows_in_sql = 0;
            }
        }
    }
    if rows_in_sql > 0 {
        execute(&mut tx, &sql, &what).await?;
        total += rows_in_sql as u64;
    }
    tx.commit().await.map_err(BenchError::db(what))?;
    Ok(total)
}

/// Runs one generated statement (numbers and timestamps only).
async fn execute(conn: &mut SqliteConnection, sql: &str, what: &str) -> Result<(), BenchError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .map_err(BenchError::db(what))?;
    Ok(())
}
