//! What every collector and storage holds: a shared pool plus the settings that name
//! its database in errors, logs and `describe()`.

use std::sync::Arc;

use detectk_core::BackendError;
use sqlx::Database;
use sqlx::pool::PoolConnection;

use crate::Driver;
use crate::error::backend_error;
use crate::pool::LazyPool;
use crate::settings::ConnectionSettings;
use detectk_core::model::Cell;

/// A sqlx database this crate has a driver module for: which one it is, and the few
/// things of its sqlx types that shared code cannot name generically.
pub(crate) trait Backend: Database {
    /// The driver, for classifying errors.
    const DRIVER: Driver;

    /// How much longer than `timeout` a collector waits for a query (PostgreSQL:
    /// the server cancels it at `timeout` itself, keeping the connection usable).
    const QUERY_GRACE: std::time::Duration = std::time::Duration::ZERO;

    /// The number of rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Decodes every cell of a user query's row by its column's type.
    fn decode_row(row: &Self::Row) -> Result<Vec<Cell>, DecodeFailure>;
}

/// A shared, lazily connecting pool on one database plus how to name it. Each driver
/// module builds its own (`PgHandle`, `MysqlHandle`, `SqliteHandle`).
pub(crate) struct Handle<DB: Database> {
    pool: Arc<LazyPool<DB>>,
    settings: ConnectionSettings,
    /// The PostgreSQL schema the `dtk_*` tables live in; `None` elsewhere.
    schema: Option<String>,
}

impl<DB: Database> Clone for Handle<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: Arc::clone(&self.pool),
            settings: self.settings.clone(),
            schema: self.schema.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Handle<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("database", &self.settings.describe())
            .field("schema", &self.schema)
            .finish()
    }
}

impl<DB: Database> Handle<DB> {
    /// A handle on `pool`, named by `settings` (and `schema`, when there is one).
    pub(crate) fn with_pool(
        pool: Arc<LazyPool<DB>>,
        settings: ConnectionSettings,
        schema: Option<String>,
    ) -> Self {
        Self {
            pool,
            settings,
            schema,
        }
    }

    /// The pool of server settings `s`, shared through `cache` with every user of the
    /// same settings; `connect` gives the driver's connect options.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn on_server(
        s: &crate::settings::ServerSettings,
        cache: &crate::pool::PoolCache,
        connect: impl FnOnce() -> <DB::Connection as sqlx::Connection>::Options,
        schema: Option<String>,
    ) -> Self {
        let settings = ConnectionSettings::Server(s.clone());
        let pool = cache.get_or_insert(settings.pool_key(), || {
            LazyPool::new(
                settings.describe(),
                connect(),
                s.max_connections,
                (s.timeout, s.connect_timeout),
                crate::pool::tcp_target(s),
                false,
            )
        });
        Self::with_pool(pool, settings, schema)
    }

    /// A pooled connection (connecting on first use).
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// `host:port` or the file, for errors.
    pub(crate) fn server(&self) -> String {
        self.settings.server()
    }

    /// The database (and schema) for `describe()`; never credentials.
    pub(crate) fn describe(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{} (schema {schema})", self.settings.describe()),
            None => self.settings.describe(),
        }
    }

    /// The settings the pool was built from.
    pub(crate) fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    /// The PostgreSQL schema of the `dtk_*` tables, when set.
    pub(crate) fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
}

impl<DB: Backend> Handle<DB> {
    /// Turns a failed `what` (e.g. "storing datapoints") into a [`BackendError`] naming
    /// this handle's server.
    pub(crate) fn err(&self, what: &'static str) -> impl Fn(sqlx::Error) -> BackendError + '_ {
        move |e| backend_error(DB::DRIVER, &self.server(), what, e).at(self.describe())
    }

    /// A pooled connection; a failure is reported as "connecting".
    pub(crate) async fn connect(&self) -> Result<PoolConnection<DB>, BackendError> {
        self.acquire().await.map_err(self.err("connecting"))
    }
}

/// A row decoding failure: which column, and why.
#[derive(Debug)]
pub(crate) struct DecodeFailure {
    pub column: usize,
    pub message: String,
}

impl DecodeFailure {
    /// A failure of column `column`.
    pub(crate) fn new(column: usize, message: impl Into<String>) -> Self {
        Self {
            column,
            message: message.into(),
        }
    }
}
