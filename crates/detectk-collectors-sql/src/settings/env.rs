//! Environment defaults for connection settings.
//!
//! Supported variables (lower precedence than params and profiles):
//! `DATABASE_URL` (any driver, used when its scheme matches), PostgreSQL:
//! `POSTGRES_HOST`, `PGHOST`, `POSTGRES_PORT`, `PGPORT`, `POSTGRES_USER`, `PGUSER`,
//! `POSTGRES_PASSWORD`, `PGPASSWORD`, `POSTGRES_DB`, `PGDATABASE`; MySQL/MariaDB:
//! `MYSQL_HOST`, `MYSQL_PORT`, `MYSQL_USER`, `MYSQL_PASSWORD`, `MYSQL_DATABASE`.
//! The driver-specific variables win over `DATABASE_URL`.

use std::collections::HashMap;

use crate::Driver;

/// Where environment defaults come from (the process environment, or a map in tests).
pub trait Env: Send + Sync {
    /// The value of `key`, if set and not empty.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).cloned()
    }
}

/// A connection field that environment variables can supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Host,
    Port,
    User,
    Password,
    Database,
}

/// The variables for `field` of `driver`, most specific first.
pub(crate) fn variables(driver: Driver, field: Field) -> &'static [&'static str] {
    match (driver, field) {
        (Driver::Postgres, Field::Host) => &["POSTGRES_HOST", "PGHOST"],
        (Driver::Postgres, Field::Port) => &["POSTGRES_PORT", "PGPORT"],
        (Driver::Postgres, Field::User) => &["POSTGRES_USER", "PGUSER"],
        (Driver::Postgres, Field::Password) => &["POSTGRES_PASSWORD", "PGPASSWORD"],
        (Driver::Postgres, Field::Database) => &["POSTGRES_DB", "PGDATABASE"],
        (Driver::Mysql, Field::Host) => &["MYSQL_HOST"],
        (Driver::Mysql, Field::Port) => &["MYSQL_PORT"],
        (Driver::Mysql, Field::User) => &["MYSQL_USER"],
        (Driver::Mysql, Field::Password) => &["MYSQL_PASSWORD"],
        (Driver::Mysql, Field::Database) => &["MYSQL_DATABASE"],
        (Driver::Sqlite, _) => &[],
    }
}

/// The first set variable for `field`, with its name.
pub(crate) fn lookup(
    env: &dyn Env,
    driver: Driver,
    field: Field,
) -> Option<(&'static str, String)> {
    variables(driver, field)
        .iter()
        .find_map(|name| env.var(name).map(|v| (*name, v)))
}
