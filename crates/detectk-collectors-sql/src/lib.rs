#![doc = include_str!("../README.md")]
// A build without any driver only reports "driver not available" errors.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports)
)]

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod collect;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod collector;
mod driver;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod error;
mod factory;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod handle;
mod pool;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod records;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod schema;
pub mod settings;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod storage;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod stored;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use detectk_core::Registry;

pub use driver::Driver;
pub use factory::SqlFactory;
pub use settings::{ConnectionSettings, Role};

/// Registers this crate's collector and storage types with `registry`: `sql`
/// (driver chosen by the connection string) and one type per driver compiled in
/// (`sqlite`; `postgres` and `postgresql`; `mysql`). All share one [`SqlFactory`],
/// so equal connection settings share one connection pool.
pub fn register(registry: &mut Registry) {
    register_with(registry, Arc::new(SqlFactory::new()));
}

/// Like [`register`], with a given factory (e.g. one with custom environment defaults).
pub fn register_with(registry: &mut Registry, factory: Arc<SqlFactory>) {
    let drivers = Driver::enabled_list();
    let sql = format!("SQL database chosen by `connection_string` (this build: {drivers})");
    registry.register_collector("sql", &sql, factory.clone());
    registry.register_storage("sql", &sql, factory.clone());
    for driver in Driver::enabled() {
        let (names, what): (&[&str], &str) = match driver {
            Driver::Sqlite => (&["sqlite"], "SQLite database file"),
            Driver::Postgres => (&["postgres", "postgresql"], "PostgreSQL server"),
            Driver::Mysql => (&["mysql"], "MySQL or MariaDB server"),
        };
        for name in names {
            registry.register_collector(name, &format!("Queries a {what}"), factory.clone());
            registry.register_storage(name, &format!("Keeps state in a {what}"), factory.clone());
        }
    }
}
