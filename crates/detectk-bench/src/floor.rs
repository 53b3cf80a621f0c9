//! The storage engine's floor under a history load: what the database itself needs to
//! insert a loaded fleet's rows, with no parsing, binding, network or detection.
//!
//! `fleet-bench floor` copies the fleet's stored `dtk_datapoints` and `dtk_detections`
//! into fresh tables of the same schema (same keys, same indexes) inside the same
//! engine, with one `INSERT ... SELECT` per table in one transaction: every B-tree insert
//! and index update of a history load, and nothing else but reading the rows back (nor
//! the derived tables a storage keeps beside them, such as SQLite's day blocks). A
//! history load cannot take less than this; `dtk backfill`'s wall time divided by the
//! floor's says how much of the load is the engine's own work.
//!
//! - SQLite: into a fresh `floor.db` beside `detectk.db` (WAL, `synchronous = NORMAL`,
//!   as `dtk` opens it), attached to the same connection; the CPU is this process's
//!   (the engine runs in it), deleted afterwards.
//! - PostgreSQL: into a schema `<fleet schema>_floor` (`CREATE TABLE ... (LIKE ...
//!   INCLUDING ALL)`, `synchronous_commit = off` as `dtk` writes points and detections),
//!   dropped afterwards; the CPU is the server backend's, read from `/proc` when the
//!   server runs on this machine.

use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};

use crate::error::BenchError;
use crate::manifest::{STORAGE_FILE, StorageChoice};
use crate::measure::seconds;
use crate::storage::{checked_schema, remove_sqlite_database};

/// The file the SQLite floor is measured into (inside the fleet directory; deleted).
pub const FLOOR_FILE: &str = "floor.db";

/// The tables a history load fills, in the order they are copied.
const TABLES: [&str; 2] = ["dtk_datapoints", "dtk_detections"];

/// What copying a fleet's stored rows inside its engine cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    /// Rows copied (points plus detections).
    pub rows: i64,
    /// Wall seconds of the copy (the transaction, commit included).
    pub wall_s: f64,
    /// CPU seconds the engine spent (`None` when a remote server's cannot be read).
    pub engine_cpu_s: Option<f64>,
}

impl Floor {
    /// Microseconds of wall time per copied row.
    pub fn wall_us_per_row(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.wall_s * 1e6 / self.rows as f64
        }
    }
}

/// Measures the floor of the fleet in `dir` (see the module documentation). The
/// storage must hold a loaded history.
pub async fn measure_floor(dir: &Path, storage: &StorageChoice) -> Result<Floor, BenchError> {
    match storage {
        StorageChoice::Sqlite => sqlite_floor(dir).await,
        StorageChoice::Postgres { url, schema } => postgres_floor(url, schema).await,
    }
}

/// This process's user plus system CPU seconds.
fn own_cpu_s() -> Result<f64, BenchError> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)
        .map_err(|e| BenchError::Usage(format!("getrusage: {e}")))?;
    Ok(seconds(usage.user_time()) + seconds(usage.system_time()))
}

async fn sqlite_floor(dir: &Path) -> Result<Floor, BenchError> {
    let stored = dir.join(STORAGE_FILE);
    if !stored.exists() {
        return Err(BenchError::Usage(format!(
            "{}: no storage; load the fleet's history first (`dtk backfill`)",
            stored.display()
        )));
    }
    let floor = dir.join(FLOOR_FILE);
    remove_sqlite_database(&floor)?;
    let what = |step: &str| format!("{}: {step}", floor.display());
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", floor.display()))
        .map_err(BenchError::db(what("open")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(BenchError::db(what("open")))?;
    let stored_text = stored
        .to_str()
        .ok_or_else(|| BenchError::Usage(format!("{}: not UTF-8", stored.display())))?;
    sqlx::query("ATTACH DATABASE ? AS stored")
        .bind(stored_text)
        .execute(&mut conn)
        .await
        .map_err(BenchError::db(what("attach detectk.db")))?;
    // Tables first, then their indexes, as `dtk`'s migrations created them. Not the
    // triggers keeping the derived day blocks: the floor is the contract tables' own cost.
    let ddl: Vec<(String,)> = sqlx::query_as(
        "SELECT sql FROM stored.sqlite_master WHERE tbl_name IN ('dtk_datapoints', 'dtk_detections') \
         AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type = 'index', name",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(BenchError::db(what("read the schema")))?;
    for (statement,) in ddl {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .map_err(BenchError::db(what("create the tables")))?;
    }

    let (cpu_before, started) = (own_cpu_s()?, Instant::now());
    let mut rows = 0;
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(BenchError::db(what("begin")))?;
    for table in TABLES {
        let copy = format!("INSERT INTO main.{table} SELECT * FROM stored.{table}");
        let done = sqlx::raw_sql(sqlx::AssertSqlSafe(copy))
            .execute(&mut *tx)
            .await
            .map_err(BenchError::db(what(&format!("copy {table}"))))?;
        rows += done.rows_affected() as i64;
    }
    tx.commit().await.map_err(BenchError::db(what("commit")))?;
    let wall_s = started.elapsed().as_secs_f64();
    let engine_cpu_s = Some(own_cpu_s()? - cpu_before);

    conn.close().await.map_err(BenchError::db(what("close")))?;
    remove_sqlite_database(&floor)?;
    Ok(Floor {
        rows,
        wall_s,
        engine_cpu_s,
    })
}

/// User plus system CPU seconds of process `pid`, from `/proc/PID/stat`; `None` when
/// there is no such process here (a server on another machine).
fn process_cpu_s(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()?;
    Some((utime + stime) / ticks as f64)
}

async fn postgres_floor(url: &str, schema: &str) -> Result<Floor, BenchError> {
    let schema = checked_schema(schema)?;
    let floor = format!("{schema}_floor");
    let floor = checked_schema(&floor)?;
    let what = |step: &str| format!("postgres schema {floor}: {step}");
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(BenchError::db(what("connect")))?;
    let mut setup = format!(
        "SET synchronous_commit = off; DROP SCHEMA IF EXISTS {floor} CASCADE; CREATE SCHEMA {floor};"
    );
    for table in TABLES {
        setup.push_str(&format!(
            " CREATE TABLE {floor}.{table} (LIKE {schema}.{table} INCLUDING ALL);"
        ));
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut conn)
        .await
        .map_err(BenchError::db(what("create the tables")))?;
    let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .map_err(BenchError::db(what("backend pid")))?;

    let (cpu_before, started) = (process_cpu_s(pid), Instant::now());
    let mut rows = 0;
    let mut tx = conn.begin().await.map_err(BenchError::db(what("begin")))?;
    for table in TABLES {
        let copy = format!("INSERT INTO {floor}.{table} SELECT * FROM {schema}.{table}");
        let done = sqlx::raw_sql(sqlx::AssertSqlSafe(copy))
            .execute(&mut *tx)
            .await
            .map_err(BenchError::db(what(&format!("copy {table}"))))?;
        rows += done.rows_affected() as i64;
    }
    tx.commit().await.map_err(BenchError::db(what("commit")))?;
    let wall_s = started.elapsed().as_secs_f64();
    let engine_cpu_s = cpu_before
        .zip(process_cpu_s(pid))
        .map(|(before, after)| after - before);

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {floor} CASCADE")))
        .execute(&mut conn)
        .await
        .map_err(BenchError::db(what("drop")))?;
    Ok(Floor {
        rows,
        wall_s,
        engine_cpu_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_of_this_machine_has_a_cpu_time() {
        let me = std::process::id() as i32;
        let cpu = process_cpu_s(me).expect("this process is in /proc");
        assert!(cpu >= 0.0);
        assert_eq!(process_cpu_s(-1), None);
    }

    #[test]
    fn wall_per_row_of_nothing_is_zero() {
        let floor = Floor {
            rows: 0,
            wall_s: 1.0,
            engine_cpu_s: None,
        };
        assert_eq!(floor.wall_us_per_row(), 0.0);
        let floor = Floor { rows: 4, ..floor };
        assert_eq!(floor.wall_us_per_row(), 250_000.0);
    }
}
