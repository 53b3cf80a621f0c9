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
    timeout: Duration,
    /// Keep connections forever (an in-memory SQLite database lives in its connection).
    keep_connections: bool,
    pool: OnceLock<Pool<DB>>,
}

impl<DB: Database> LazyPool<DB> {
    /// A pool of at most `max_connections` connections; `timeout` bounds the wait for one.
    pub(crate) fn new(
        label: String,
        connect: <DB::Connection as Connection>::Options,
        max_connections: u32,
        timeout: Duration,
        keep_connections: bool,
    ) -> Self {
        Self {
            label,
            connect,
            max_connections,
            timeout,
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
            let mut options = PoolOptions::<DB>::new()
                .max_connections(self.max_connections)
                .acquire_timeout(self.timeout);
            if self.keep_connections {
                options = options.idle_timeout(None).max_lifetime(None);
            }
            options.connect_lazy_with(self.connect.clone())
        })
    }

    /// A connection from the pool. When none comes in time, one direct connection
    /// attempt finds out why (server down, login refused), since the pool itself
    /// only reports that it timed out.
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        match self.get().acquire().await {
            Err(sqlx::Error::PoolTimedOut) => {
                Err(self.probe().await.unwrap_or(sqlx::Error::PoolTimedOut))
            }
            other => other,
        }
    }

    async fn probe(&self) -> Option<sqlx::Error> {
        let attempt = DB::Connection::connect_with(&self.connect);
        match tokio::time::timeout(self.timeout.min(Duration::from_secs(5)), attempt).await {
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
    /// The pool cached under `key`, or a new one from `make`.
    pub(crate) fn get_or_insert<DB: Database>(
        &self,
        key: String,
        make: impl FnOnce() -> LazyPool<DB>,
    ) -> Arc<LazyPool<DB>> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools
            .get(&key)
            .and_then(|p| Arc::clone(p).downcast::<LazyPool<DB>>().ok())
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
