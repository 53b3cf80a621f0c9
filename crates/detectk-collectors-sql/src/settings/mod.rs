//! Connection settings: which driver, where, and how, resolved from params, the
//! environment and built-in defaults.
//!
//! Precedence for every field: explicit params (profiles are already merged into
//! them by the core) > the `connection_string` param > environment variables
//! ([`mod@env`]) > `DATABASE_URL` > built-in defaults.

mod dsn;
pub mod env;
mod resolve;

use std::fmt;
use std::time::Duration;

use detectk_core::Secret;

pub use dsn::SqliteFile;
pub use env::{Env, ProcessEnv};
pub(crate) use resolve::resolve;

use crate::Driver;

/// Whether settings are for reading user data or for keeping DetectK's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs user queries; a SQLite file must already exist.
    Collector,
    /// Keeps the `dtk_*` tables; a SQLite file is created when missing.
    Storage,
}

/// Default bound on open connections per server (param `max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 5;

/// Default timeout for a statement and for waiting on a busy pool (param `timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default bound on opening one connection to a PostgreSQL or MySQL server, TCP and
/// login included (param `connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a SQLite database.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteSettings {
    /// The database file.
    pub file: SqliteFile,
    /// Collector (file must exist) or storage (created when missing, WAL mode).
    pub role: Role,
    /// Connections in the pool.
    pub max_connections: u32,
    /// Connect and query timeout; also how long a writer waits for a lock.
    pub timeout: Duration,
}

/// Settings of a PostgreSQL or MySQL/MariaDB server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Postgres or Mysql.
    pub driver: Driver,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name (PostgreSQL default: the user name; MySQL: none).
    pub database: Option<String>,
    /// User name.
    pub user: String,
    /// Password, if any (an empty one is `None`: no password is sent).
    pub password: Option<Secret>,
    /// PostgreSQL schema put first on the `search_path` (DetectK's tables live there).
    pub schema: Option<String>,
    /// TLS mode (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`).
    pub ssl_mode: Option<String>,
    /// Bound on open connections to this server from this process.
    pub max_connections: u32,
    /// Statement timeout (and the bound on waiting for a busy pool).
    pub timeout: Duration,
    /// Bound on opening one connection (TCP connect, TLS and login).
    pub connect_timeout: Duration,
}

/// Resolved settings of one connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionSettings {
    /// A SQLite file.
    Sqlite(SqliteSettings),
    /// A PostgreSQL or MySQL/MariaDB server.
    Server(ServerSettings),
}

impl ConnectionSettings {
    /// The driver.
    pub fn driver(&self) -> Driver {
        match self {
            ConnectionSettings::Sqlite(_) => Driver::Sqlite,
            ConnectionSettings::Server(s) => s.driver,
        }
    }

    /// Where, for errors: `127.0.0.1:5432` or `sqlite data.db`. Never credentials.
    pub fn server(&self) -> String {
        match self {
            ConnectionSettings::Sqlite(s) => s.file.to_string(),
            ConnectionSettings::Server(s) => format!("{}:{}", s.host, s.port),
        }
    }

    /// Where, for messages: `postgres 127.0.0.1:5432/test`. Never credentials.
    pub fn describe(&self) -> String {
        match self {
            ConnectionSettings::Sqlite(s) => s.file.to_string(),
            ConnectionSettings::Server(s) => format!(
                "{} {}:{}/{}",
                s.driver,
                s.host,
                s.port,
                s.database.as_deref().unwrap_or("")
            ),
        }
    }

    /// The key under which connections are shared: equal settings share one pool.
    /// Holds the password, so it is never printed.
    pub(crate) fn pool_key(&self) -> String {
        match self {
            ConnectionSettings::Sqlite(s) => format!(
                "sqlite|{:?}|{:?}|{}|{:?}",
                s.file, s.role, s.max_connections, s.timeout
            ),
            ConnectionSettings::Server(s) => format!(
                "{}|{}|{}|{:?}|{}|{}|{:?}|{:?}|{}|{:?}|{:?}",
                s.driver,
                s.host,
                s.port,
                s.database,
                s.user,
                s.password.as_ref().map(Secret::expose).unwrap_or(""),
                s.schema,
                s.ssl_mode,
                s.max_connections,
                s.timeout,
                s.connect_timeout
            ),
        }
    }

    /// The statement timeout.
    pub fn timeout(&self) -> Duration {
        match self {
            ConnectionSettings::Sqlite(s) => s.timeout,
            ConnectionSettings::Server(s) => s.timeout,
        }
    }

    /// The bound on opening a connection (for SQLite, opening the file: the busy timeout).
    pub fn connect_timeout(&self) -> Duration {
        match self {
            ConnectionSettings::Sqlite(s) => s.timeout,
            ConnectionSettings::Server(s) => s.connect_timeout,
        }
    }
}

impl fmt::Display for SqliteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqliteFile::Path(p) => write!(f, "sqlite {}", p.display()),
            SqliteFile::Memory => f.write_str("sqlite :memory:"),
        }
    }
}
