//! Connection pools shared by every collector and storage with the same connection
//! settings, created on first use (building a collector or storage never connects).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Connection, Database, Pool};

/// A pool that is built, without connecting, the first time it is used.
pub(crate) struct LazyPool<DB: Database> {
    /// Where it connects, for logs (never credentials).
    label: String,
    connect: <DB::Connection as Connection>::Options,
    max_connections: u32,
    /// Bound on waiting for a pooled connection when the pool has open connections.
    timeout: Duration,
    /// Bound on opening a connection when the pool has none.
    connect_timeout: Duration,
    /// `host:port` of a server, checked with a plain TCP connect before the first login.
    tcp_target: Option<(String, u16)>,
    /// Keep connections forever (an in-memory SQLite database lives in its connection).
    keep_connections: bool,
    pool: OnceLock<Pool<DB>>,
}

impl<DB: Database> LazyPool<DB> {
    /// A pool of at most `max_connections` connections; `timeout` bounds the wait for a
    /// busy one, `connect_timeout` the opening of a new one. With a `tcp_target`, a pool
    /// with no open connection first checks that something listens there, so a refused
    /// connection fails at once (the pool itself would retry it until its timeout).
    pub(crate) fn new(
        label: String,
        connect: <DB::Connection as Connection>::Options,
        max_connections: u32,
        (timeout, connect_timeout): (Duration, Duration),
        tcp_target: Option<(String, u16)>,
        keep_connections: bool,
    ) -> Self {
        Self {
            label,
            connect,
            max_connections,
            timeout,
            connect_timeout,
            tcp_target,
            keep_connections,
            pool: OnceLock::new(),
        }
    }

    /// The pool; must be called from within a Tokio runtime. Connects lazily.
    pub(crate) fn get(&self) -> &Pool<DB> {
        self.pool.get_or_init(|| {
            tracing::debug!(
                target: "detectk_collectors_sql",
                database = %self.label,
                max_connections = self.max_connections,
                "opening a connection pool"
            );
            // A pooled server connection is pinged before use (the server may have
            // dropped it); a file's cannot go stale, and for SQLite the ping is a round
            // trip to the connection's worker thread on every statement.
            let mut options = PoolOptions::<DB>::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.timeout.max(self.connect_timeout))
                .test_before_acquire(self.tcp_target.is_some());
            if self.keep_connections {
                options = options.idle_timeout(None).max_lifetime(None);
            }
            options.connect_lazy_with(self.connect.clone())
        })
    }

    /// A connection from the pool. A pool with no open connection checks the server's
    /// TCP port first and waits at most `connect_timeout` for a new connection. When
    /// none comes in time, one direct connection attempt finds out why (server down,
    /// login refused), since the pool itself only reports that it timed out.
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        let pool = self.get();
        let fresh = pool.size() == 0;
        if fresh {
            self.check_tcp().await?;
        }
        let bound = if fresh {
            self.connect_timeout
        } else {
            self.timeout.max(self.connect_timeout)
        };
        let deadline = tokio::time::Instant::now() + bound;
        let acquired = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let attempt = match tokio::time::timeout(left, pool.acquire()).await {
                Ok(r) => r,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            };
            match attempt {
                // Another process holds the file's write lock while it opens a new
                // SQLite database (switching it to WAL): wait for it, within the bound.
                Err(e) if busy(&e) && tokio::time::Instant::now() + BUSY_PAUSE < deadline => {
                    tokio::time::sleep(BUSY_PAUSE).await;
                }
                other => break other,
            }
        };
        match acquired {
            Err(sqlx::Error::PoolTimedOut) => {
                Err(self.probe().await.unwrap_or_else(|| self.timed_out(fresh)))
            }
            other => other,
        }
    }

    /// The error for a pool that gave no connection in time.
    fn timed_out(&self, connecting: bool) -> sqlx::Error {
        if connecting {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection within {}s (param `connect_timeout`)",
                    self.connect_timeout.as_secs_f64()
                ),
            ))
        } else {
            sqlx::Error::PoolTimedOut
        }
    }

    /// Whether something accepts TCP connections at the server's address (refused
    /// connections and unknown host names fail here at once).
    async fn check_tcp(&self) -> Result<(), sqlx::Error> {
        let Some((host, port)) = &self.tcp_target else {
            return Ok(());
        };
        let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(_stream)) => Ok(()),
            Ok(Err(e)) => Err(sqlx::Error::Io(e)),
            Err(_) => Err(self.timed_out(true)),
        }
    }

    async fn probe(&self) -> Option<sqlx::Error> {
        let attempt = DB::Connection::connect_with(&self.connect);
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Err(e)) => Some(e),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                None
            }
            Err(_) => None,
        }
    }
}

/// Pools by connection identity (see `ConnectionSettings::pool_key`).
#[derive(Default)]
pub(crate) struct PoolCache {
    pools: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl PoolCache {
    /// The pool (or other shared connection state, such as a storage's bulk lane)
    /// cached under `key`, or a new one from `make`.
    pub(crate) fn get_or_insert<T: Any + Send + Sync>(
        &self,
        key: String,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools
            .get(&key)
            .and_then(|p| Arc::clone(p).downcast::<T>().ok())
        {
            return pool;
        }
        let pool = Arc::new(make());
        pools.insert(key, pool.clone());
        pool
    }

    /// Number of distinct pools.
    pub(crate) fn len(&self) -> usize {
        self.pools.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The TCP address a server pool checks before its first login; `None` for a Unix
/// socket path.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn tcp_target(s: &crate::settings::ServerSettings) -> Option<(String, u16)> {
    (!s.host.starts_with('/')).then(|| (s.host.clone(), s.port))
}

/// Pause between connection attempts while a SQLite file is locked by another process.
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether opening a connection failed because a SQLite file is locked (`SQLITE_BUSY`
/// and its extended codes); other databases never report these codes.
fn busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("5" | "261" | "517")))
}
