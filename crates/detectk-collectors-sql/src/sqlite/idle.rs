//! The rusqlite connections of one SQLite file that the lanes (the storage's bulk lane,
//! the source lane) keep between uses: opened on demand, at most `keep` kept idle, and
//! only when back outside any transaction.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use super::lane_error::LaneError;

/// How a lane opens a connection to its file, waiting up to the timeout for a lock.
pub(crate) type Open = fn(&Path, Duration) -> Result<Connection, LaneError>;

/// Idle connections to one file.
#[derive(Debug)]
pub(crate) struct IdleConnections {
    path: PathBuf,
    keep: usize,
    timeout: Duration,
    open: Open,
    idle: Mutex<Vec<Connection>>,
}

impl IdleConnections {
    /// Connections to `path` opened by `open`, up to `keep` (at least one) kept idle,
    /// each waiting up to `timeout` for the file's lock. Does not connect.
    pub(crate) fn new(path: PathBuf, keep: usize, timeout: Duration, open: Open) -> Self {
        Self {
            path,
            keep: keep.max(1),
            timeout,
            open,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one.
    pub(crate) fn take(&self) -> Result<Connection, LaneError> {
        let idle = self.lock().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => (self.open)(&self.path, self.timeout),
        }
    }

    /// Keeps `conn` for the next use when it is outside any transaction and fewer
    /// than `keep` are idle; otherwise closes it.
    pub(crate) fn give_back(&self, conn: Connection) {
        if conn.is_autocommit() {
            let mut idle = self.lock();
            if idle.len() < self.keep {
                idle.push(conn);
            }
        }
    }

    /// How many connections are idle.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
