//! The factory registered for every type of this crate: resolves settings, shares
//! pools by connection identity, and builds the driver's collector or storage.

use std::fmt;
use std::sync::Arc;

use detectk_core::config::Params;
use detectk_core::registry::{CollectorFactory, StorageFactory};
use detectk_core::{Collector, Storage};

use crate::pool::PoolCache;
use crate::settings::{ConnectionSettings, Env, ProcessEnv, Role, resolve};

/// Builds SQL collectors and storages. Collectors and storages built by one factory
/// with the same connection settings share one connection pool, bounded by
/// `max_connections`. Building never connects.
pub struct SqlFactory {
    cache: PoolCache,
    env: Arc<dyn Env>,
}

impl fmt::Debug for SqlFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlFactory")
            .field("pools", &self.cache.len())
            .finish()
    }
}

impl Default for SqlFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl SqlFactory {
    /// A factory taking environment defaults from the process environment.
    pub fn new() -> Self {
        Self::with_env(Arc::new(ProcessEnv))
    }

    /// A factory taking environment defaults from `env`.
    pub fn with_env(env: Arc<dyn Env>) -> Self {
        Self {
            cache: PoolCache::default(),
            env,
        }
    }

    /// Resolves the connection settings of a `type_name` collector or storage from
    /// `params`, recording problems in `params`.
    pub fn settings(
        &self,
        type_name: &str,
        role: Role,
        params: &mut Params<'_>,
    ) -> Option<ConnectionSettings> {
        resolve(type_name, role, params, self.env.as_ref())
    }

    /// Number of distinct connection pools this factory holds.
    pub fn pool_count(&self) -> usize {
        self.cache.len()
    }

    /// A collector on `settings` (sharing the pool of equal settings). Does not connect.
    pub fn collector_for(&self, settings: &ConnectionSettings) -> Arc<dyn Collector> {
        match settings {
            #[cfg(feature = "sqlite")]
            ConnectionSettings::Sqlite(s) => Arc::new(crate::sqlite::SqliteCollector::new(
                crate::sqlite::SqliteHandle::new(s, &self.cache),
            )),
            #[cfg(feature = "postgres")]
            ConnectionSettings::Server(s) if s.driver == crate::Driver::Postgres => {
                Arc::new(crate::postgres::PostgresCollector::new(
                    crate::postgres::PgHandle::new(s, &self.cache),
                ))
            }
            #[cfg(feature = "mysql")]
            ConnectionSettings::Server(s) if s.driver == crate::Driver::Mysql => Arc::new(
                crate::mysql::MysqlCollector::new(crate::mysql::MysqlHandle::new(s, &self.cache)),
            ),
            #[allow(unreachable_patterns)]
            other => unreachable!("settings of a driver compiled out: {}", other.driver()),
        }
    }

    /// A storage on `settings` (sharing the pool of equal settings). Does not connect.
    pub fn storage_for(&self, settings: &ConnectionSettings) -> Arc<dyn Storage> {
        match settings {
            #[cfg(feature = "sqlite")]
            ConnectionSettings::Sqlite(s) => Arc::new(crate::sqlite::SqliteStorage::new(
                crate::sqlite::SqliteHandle::new(s, &self.cache),
            )),
            #[cfg(feature = "postgres")]
            ConnectionSettings::Server(s) if s.driver == crate::Driver::Postgres => {
                Arc::new(crate::postgres::PostgresStorage::new(
                    crate::postgres::PgHandle::new(s, &self.cache),
                ))
            }
            #[cfg(feature = "mysql")]
            ConnectionSettings::Server(s) if s.driver == crate::Driver::Mysql => Arc::new(
                crate::mysql::MysqlStorage::new(crate::mysql::MysqlHandle::new(s, &self.cache)),
            ),
            #[allow(unreachable_patterns)]
            other => unreachable!("settings of a driver compiled out: {}", other.driver()),
        }
    }
}

impl CollectorFactory for SqlFactory {
    fn build(&self, type_name: &str, params: &mut Params<'_>) -> Option<Arc<dyn Collector>> {
        let settings = self.settings(type_name, Role::Collector, params)?;
        Some(self.collector_for(&settings))
    }
}

impl StorageFactory for SqlFactory {
    fn build(&self, type_name: &str, params: &mut Params<'_>) -> Option<Arc<dyn Storage>> {
        let settings = self.settings(type_name, Role::Storage, params)?;
        Some(self.storage_for(&settings))
    }
}
