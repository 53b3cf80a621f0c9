//! The `clickhouse` collector and storage factories, sharing one server cache.

use std::sync::Arc;

use detectk_core::config::Params;
use detectk_core::registry::{BuildResult, CollectorFactory, StorageFactory};
use detectk_core::{Collector, Storage};

use crate::collector::ClickHouseCollector;
use crate::config::ConnectionConfig;
use crate::server::ServerCache;
use crate::storage::ClickHouseStorage;

/// Builds ClickHouse collectors and storages from params. Never connects: servers
/// are shared per login and contacted on first use.
#[derive(Debug, Default)]
pub struct ClickHouseFactory {
    servers: ServerCache,
}

impl ClickHouseFactory {
    /// A factory with an empty server cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A collector for `config` (sharing the server handle with earlier builds).
    pub fn collector(&self, config: ConnectionConfig) -> ClickHouseCollector {
        ClickHouseCollector::new(self.servers.get(&config), config)
    }

    /// A storage for `config` (sharing the server handle with earlier builds).
    pub fn storage(&self, config: &ConnectionConfig) -> ClickHouseStorage {
        ClickHouseStorage::new(self.servers.get(config), config)
    }
}

impl CollectorFactory for ClickHouseFactory {
    fn build(&self, _type_name: &str, mut params: Params<'_>) -> BuildResult<Arc<dyn Collector>> {
        let built = ConnectionConfig::from_params(&mut params)
            .map(|config| Arc::new(self.collector(config)) as Arc<dyn Collector>);
        params.conclude(built)
    }
}

impl StorageFactory for ClickHouseFactory {
    fn build(&self, _type_name: &str, mut params: Params<'_>) -> BuildResult<Arc<dyn Storage>> {
        let built = ConnectionConfig::from_params(&mut params)
            .map(|config| Arc::new(self.storage(&config)) as Arc<dyn Storage>);
        params.conclude(built)
    }
}
