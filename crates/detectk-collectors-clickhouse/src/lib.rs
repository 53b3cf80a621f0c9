#![doc = include_str!("../README.md")]

mod collector;
pub mod config;
mod decode;
mod error;
mod factory;
pub mod server;
mod storage;

use std::sync::Arc;

use detectk_core::Registry;

pub use collector::ClickHouseCollector;
pub use config::ConnectionConfig;
pub use decode::{ColumnDecoder, ColumnKind};
pub use factory::ClickHouseFactory;
pub use server::{Server, ServerInfo, ServerVersion};
pub use storage::{ClickHouseStorage, latest_schema_version};

/// Registers the `clickhouse` collector and storage types with `registry`.
///
/// Both share one factory, so collectors and storages on the same server (same
/// URL, user and password) share one HTTP connection pool and request limit.
pub fn register(registry: &mut Registry) {
    let factory = Arc::new(ClickHouseFactory::new());
    registry.register_collector(
        "clickhouse",
        "ClickHouse over HTTP (host, port, database, user, password, secure, timeout)",
        factory.clone(),
    );
    registry.register_storage(
        "clickhouse",
        "dtk_* tables in ClickHouse (ReplacingMergeTree, read with FINAL)",
        factory,
    );
}
