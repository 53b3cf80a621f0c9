//! The source lane reads exactly what the sqlx collector reads: the same queries on
//! the same file give the same columns and cells (by storage class and declared type,
//! expression columns included) and the same errors (kind, message, hint, retry).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use detectk_core::model::Table;
use detectk_core::{BackendError, Collector};
use tempfile::TempDir;

use super::{LiteCollector, SourceConnections, SqliteHandle};
use crate::collector::SqlCollector;
use crate::pool::PoolCache;
use crate::settings::{Role, SqliteFile, SqliteSettings};

fn settings(path: &Path, timeout: Duration) -> SqliteSettings {
    SqliteSettings {
        file: SqliteFile::Path(path.to_path_buf()),
        role: Role::Collector,
        max_connections: 2,
        timeout,
    }
}

/// A source file with a column of every declared type the decoder distinguishes, and
/// values of every storage class in them.
fn source(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.path().join("source.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (
            id INTEGER PRIMARY KEY,
            i INTEGER, r REAL, s TEXT, b BLOB, flag BOOLEAN, flag2 bool,
            dt DATETIME, ts timestamp, d DATE, tm TIME, v VARCHAR(10), n NUMERIC,
            odd WHATEVER
        );
        INSERT INTO t VALUES
          (1, 42, 1.5, '2024-03-10 02:30:00', x'00ff', 1, 0, 1710037800, 1710037800,
              '2024-03-10', '02:30:00', 'web', 12.5, 'x'),
          (2, -7, -0.25, '2024-03-10T02:30:00.123456', NULL, 0, 1, '2024-03-10 02:30:00',
              '2024-03-10T02:30:00Z', '2024-03-10', 3, '2024-03-10 05:30:00+03:00', 7, 3),
          (3, NULL, NULL, '2024-03-10 02:30', 'text in a blob', NULL, NULL, NULL, 2.5,
              '2024-13-10', NULL, '2024-03-10T02:30', '1e3', x'01'),
          (4, 9223372036854775807, 1e300, '2024-03-10 is a date', 5, 2, 'yes',
              -9223372036854775808, '2024-03-10 02:30:00.5', 20240310, 'noon', '', NULL, 1.0),
          (5, 0, 0.0, 'web', '', 1, 1, '2024-02-29 23:59:59.999999999', 'x', '2024-03-10 02:30:00+00:00',
              '', 'ü', 'abc', NULL);",
    )
    .unwrap();
    path
}

fn collectors(path: &Path, timeout: Duration) -> (SqlCollector<sqlx::Sqlite>, LiteCollector) {
    let s = settings(path, timeout);
    let handle = SqliteHandle::new(&s, &PoolCache::default());
    let sqlx = SqlCollector::new(handle.clone());
    let conns = Arc::new(SourceConnections::new(path.to_path_buf(), 2, timeout));
    let lane = LiteCollector::new(handle, conns);
    (sqlx, lane)
}

/// Everything of an error a user or a retry decision sees.
fn error_view(e: &BackendError) -> String {
    format!(
        "{:?} | {} | {:?} | {} | {}",
        e.kind, e.message, e.hint, e.transient, e
    )
}

fn view(result: &Result<Table, BackendError>) -> String {
    match result {
        Ok(table) => format!("{table:?}"),
        Err(e) => error_view(e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lane_reads_what_sqlx_reads() {
    let dir = TempDir::new().unwrap();
    let path = source(&dir);
    let (sqlx, lane) = collectors(&path, Duration::from_secs(10));
    let queries = [
        "SELECT * FROM t ORDER BY id",
        // Expression columns have no declared type: the value's storage class decides.
        "SELECT id + 0 AS e, dt || '' AS dt_text, flag + 0 AS f, datetime(ts, 'unixepoch') AS u,
                CAST(r AS TEXT) AS rt, NULL AS nothing, typeof(b) AS kind, date('2024-03-10') AS dd
         FROM t ORDER BY id",
        "SELECT strftime('%Y-%m-%d %H:%M:%S', '2024-01-01', '+' || id || ' hours') AS ts,
                id * 1.5 AS value FROM t",
        "SELECT max(dt) AS newest, count(*) AS n, avg(i) AS mean FROM t",
        // No rows: the columns still come back.
        "SELECT i, s FROM t WHERE id > 100",
        "WITH x(a) AS (VALUES (1), ('2024-03-10'), (NULL), (2.5)) SELECT a FROM x",
        // Text that is not UTF-8 fails to decode, naming the column.
        "SELECT id, CAST(x'ff' AS TEXT) AS broken FROM t",
        // Errors while preparing (handed to sqlx) and while running.
        "SELECT nope FROM t",
        "SELECT * FROM missing_table",
        "SELEC 1",
        "SELECT 1; SELECT 2",
        "SELECT abs(-9223372036854775807 - 1)",
        "SELECT json_extract('{not json', '$.a')",
        "",
        // No result columns (handed to sqlx). Idempotent: the two runs may land on the
        // same pooled connection or on two, and must agree either way.
        "CREATE TEMP TABLE IF NOT EXISTS scratch (a)",
    ];
    for query in queries {
        let (a, b) = (sqlx.query(query).await, lane.query(query).await);
        assert_eq!(view(&a), view(&b), "query {query:?}");
    }
    // The first query decoded something of each kind (the comparison is not vacuous).
    let (_, lane) = collectors(&path, Duration::from_secs(10));
    let table = lane.query(queries[0]).await.unwrap();
    assert_eq!(lane.idle_connections(), 1, "the query ran in the lane");
    assert_eq!(table.rows.len(), 5);
    assert!(lane.query(queries[6]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_fails_as_with_sqlx() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("absent.db");
    let (sqlx, lane) = collectors(&path, Duration::from_secs(2));
    let (a, b) = (
        sqlx.query("SELECT 1").await.unwrap_err(),
        lane.query("SELECT 1").await.unwrap_err(),
    );
    assert_eq!(error_view(&a), error_view(&b));
    assert!(!path.exists(), "the collector must not create the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_its_timeout_is_interrupted_and_the_lane_stays_usable() {
    let dir = TempDir::new().unwrap();
    let path = source(&dir);
    let timeout = Duration::from_millis(300);
    let (_, lane) = collectors(&path, timeout);
    // sqlx's collector would leave this running on its worker thread: compare with the
    // error its `collect` builds instead of running it there.
    let handle = SqliteHandle::new(&settings(&path, timeout), &PoolCache::default());
    let expected =
        crate::error::timeout_error(&handle.server(), "query", timeout).at(handle.describe());
    let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
                   SELECT count(*) FROM c";
    let e = lane.query(endless).await.unwrap_err();
    assert_eq!(error_view(&e), error_view(&expected));
    assert!(e.transient);
    // Interrupted, not left running: the lane answers the next queries.
    for _ in 0..3 {
        let table = lane.query("SELECT count(*) AS n FROM t").await.unwrap();
        assert_eq!(table.rows, vec![vec![detectk_core::model::Cell::Int(5)]]);
    }
}
