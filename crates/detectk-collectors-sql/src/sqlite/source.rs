//! SQLite's source lane: a collector on a user's database FILE runs the rendered query
//! through rusqlite on a blocking thread and decodes each value where SQLite hands it
//! over (no worker thread handing rows across threads, no boxed row; sqlx's driver
//! costs about 1 µs per row, which is most of a backfill).
//!
//! The result is sqlx's, cell for cell ([`decode_value`] mirrors `decode_row`), and so
//! are the errors: failures while running the query or decoding become the same
//! `sqlx::Error`s (see `lane_error`), and a query that does not even open or prepare
//! (a missing file, a syntax error, several statements) is handed to the sqlx
//! collector, which reports it exactly as before (so does a statement without result
//! columns). The `timeout` is honoured: when it
//! expires (or the query's future is dropped) the running statement is interrupted.
//! An in-memory source has no lane (its database lives in sqlx's pool).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use detectk_core::model::{Cell, Table};
use detectk_core::{BackendError, Collector, async_trait};
use rusqlite::{Connection, InterruptHandle, OpenFlags};
use sqlx::Sqlite;

use super::SqliteHandle;
use super::decode::{Declared, decode_value};
use super::idle::IdleConnections;
use super::lane_error::LaneError;
use crate::collect::{Decoded, QueryFailure, collect, name_column};
use crate::collector::SqlCollector;

/// A collector on an SQLite file: rusqlite for the queries, sqlx for what rusqlite
/// cannot even prepare.
pub(crate) struct LiteCollector {
    handle: SqliteHandle,
    sqlx: SqlCollector<Sqlite>,
    conns: Arc<SourceConnections>,
}

impl std::fmt::Debug for LiteCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteCollector")
            .field("handle", &self.handle)
            .finish()
    }
}

impl LiteCollector {
    /// A collector on the file `path` behind `handle`, reading through `conns`.
    /// Does not connect.
    pub(crate) fn new(handle: SqliteHandle, conns: Arc<SourceConnections>) -> Self {
        Self {
            sqlx: SqlCollector::new(handle.clone()),
            handle,
            conns,
        }
    }
}

#[cfg(test)]
impl LiteCollector {
    /// The lane's idle connections (a query that ran in the lane leaves one).
    pub(crate) fn idle_connections(&self) -> usize {
        self.conns.pool.idle()
    }
}

#[async_trait]
impl Collector for LiteCollector {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        let timeout = self.handle.settings().timeout();
        let server = self.handle.server();
        let unprepared = AtomicBool::new(false);
        let done = collect(crate::Driver::Sqlite, &server, timeout, async {
            match run(Arc::clone(&self.conns), query.to_string()).await {
                Ran::Done(result) => result,
                Ran::Unprepared(e) => {
                    unprepared.store(true, Ordering::Relaxed);
                    Err(QueryFailure::Sql(e.into()))
                }
            }
        })
        .await;
        if unprepared.load(Ordering::Relaxed) {
            return self.sqlx.query(query).await;
        }
        done.map_err(|e| e.at(self.handle.describe()))
    }
}

/// How a query went in the lane.
enum Ran {
    /// It ran: the table, or why running or decoding failed.
    Done(Result<Decoded, QueryFailure>),
    /// Opening the file or preparing the query failed, or it is not a query (no
    /// result columns): the sqlx path runs it and reports what it does.
    Unprepared(LaneError),
}

/// Runs `query` on a blocking thread; dropping the returned future (a timeout)
/// interrupts the statement.
async fn run(conns: Arc<SourceConnections>, query: String) -> Ran {
    let cancel = Arc::new(Cancel::default());
    let guard = CancelOnDrop(Arc::clone(&cancel));
    let joined = tokio::task::spawn_blocking(move || conns.run(&query, &cancel)).await;
    guard.0.finished.store(true, Ordering::Relaxed);
    match joined {
        Ok(ran) => ran,
        Err(_) => Ran::Done(Err(QueryFailure::Sql(sqlx::Error::WorkerCrashed))),
    }
}

/// The interrupt handle of the connection running a query, and whether its caller
/// gave up.
#[derive(Default)]
struct Cancel {
    running: Mutex<Option<InterruptHandle>>,
    cancelled: AtomicBool,
    finished: AtomicBool,
}

impl Cancel {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<InterruptHandle>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Interrupts the query when the caller stops waiting for it.
struct CancelOnDrop(Arc<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.0.finished.load(Ordering::Relaxed) {
            return;
        }
        self.0.cancelled.store(true, Ordering::Relaxed);
        if let Some(handle) = self.0.slot().as_ref() {
            handle.interrupt();
        }
    }
}

/// The lane's read connections to one source file: opened on demand, at most `keep`
/// kept idle. Shared by every collector on the file (like the sqlx pool), so a fleet
/// of metrics on one source opens a few connections, not one per metric.
#[derive(Debug)]
pub(crate) struct SourceConnections {
    pool: IdleConnections,
}

impl SourceConnections {
    /// Connections to `path`, keeping up to `keep` idle, each waiting up to `timeout`
    /// for a lock. Does not connect.
    pub(crate) fn new(path: PathBuf, keep: usize, timeout: Duration) -> Self {
        Self {
            pool: IdleConnections::new(path, keep, timeout, open_source),
        }
    }

    /// Runs `query` on an idle (or new) connection, publishing its interrupt handle in
    /// `cancel` while it runs; keeps the connection unless the caller gave up.
    fn run(&self, query: &str, cancel: &Cancel) -> Ran {
        let conn = match self.pool.take() {
            Ok(conn) => conn,
            Err(e) => return Ran::Unprepared(e),
        };
        *cancel.slot() = Some(conn.get_interrupt_handle());
        let ran = if cancel.cancelled.load(Ordering::Relaxed) {
            Ran::Done(Err(QueryFailure::Sql(sqlx::Error::PoolClosed)))
        } else {
            fetch(&conn, query)
        };
        cancel.slot().take();
        if !cancel.cancelled.load(Ordering::Relaxed) {
            self.pool.give_back(conn);
        }
        ran
    }
}

/// A connection opened as sqlx opens a collector's: read-write, never creating the
/// file, never changing its journal mode, with the busy timeout.
fn open_source(path: &Path, timeout: Duration) -> Result<Connection, LaneError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(timeout)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Prepares `query`, steps through every row and decodes it; a decoding failure names
/// its column.
fn fetch(conn: &Connection, query: &str) -> Ran {
    let mut statement = match conn.prepare(query) {
        Ok(statement) => statement,
        Err(e) => return Ran::Unprepared(e.into()),
    };
    // No result columns: an empty query (no statement at all) or not a query.
    if statement.column_count() == 0 {
        return Ran::Unprepared(LaneError::Decode("", "not a query".to_string()));
    }
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let declared: Vec<Declared> = statement
        .columns()
        .iter()
        .map(|c| Declared::of(c.decl_type()))
        .collect();
    Ran::Done(
        read_rows(&mut statement, &declared)
            .map(|rows| Decoded {
                rows,
                columns: columns.clone(),
            })
            .map_err(|e| match e {
                QueryFailure::Decode(d) => QueryFailure::Decode(name_column(&columns, d)),
                other => other,
            }),
    )
}

/// Every row of `statement`, decoded.
fn read_rows(
    statement: &mut rusqlite::Statement<'_>,
    declared: &[Declared],
) -> Result<Vec<Vec<Cell>>, QueryFailure> {
    let sql = |e: rusqlite::Error| QueryFailure::Sql(LaneError::from(e).into());
    let mut rows = statement.query([]).map_err(sql)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        let mut cells = Vec::with_capacity(declared.len());
        for (i, declared) in declared.iter().enumerate() {
            let value = row.get_ref(i).map_err(sql)?;
            cells.push(decode_value(value, *declared, i)?);
        }
        out.push(cells);
    }
    Ok(out)
}
