//! The factory registered for every type of this crate: resolves settings, shares
//! pools by connection identity, and builds the driver's collector or storage.

use std::fmt;
use std::sync::Arc;

use detectk_core::config::Params;
use detectk_core::registry::{BuildResult, CollectorFactory, StorageFactory};
use detectk_core::{Collector, Storage};

#[allow(unused_imports)]
use crate::Driver;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
use crate::collector::SqlCollector;
#[cfg(feature = "mysql")]
use crate::mysql;
use crate::pool::PoolCache;
#[cfg(feature = "postgres")]
use crate::postgres;
use crate::settings::{ConnectionSettings, Env, ProcessEnv, Role, resolve};
#[cfg(feature = "sqlite")]
use crate::sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
use crate::storage::SqlStorage;

/// Builds SQL collectors and storages. Collectors and storages built by one factory
/// with the same connection settings share one connection pool, bounded by
/// `max_connections`. Building never connects.
pub struct SqlFactory {
    cache: PoolCache,
    /// The storages' bulk lanes (SQLite files), shared like the pools.
    lanes: PoolCache,
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
            lanes: PoolCache::default(),
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
            ConnectionSettings::Sqlite(s) => {
                let handle = sqlite::SqliteHandle::new(s, &self.cache);
                match &s.file {
                    // A file is read through the rusqlite source lane.
                    crate::settings::SqliteFile::Path(path) => {
                        let key = format!("{} source lane", settings.pool_key());
                        let conns = self.lanes.get_or_insert(key, || {
                            sqlite::SourceConnections::new(
                                path.clone(),
                                s.max_connections as usize,
                                s.timeout,
                            )
                        });
                        Arc::new(sqlite::LiteCollector::new(handle, conns))
                    }
                    crate::settings::SqliteFile::Memory => Arc::new(SqlCollector::new(handle)),
                }
            }
            #[cfg(feature = "postgres")]
            ConnectionSettings::Server(s) if s.driver == Driver::Postgres => {
                Arc::new(SqlCollector::new(postgres::PgHandle::new(s, &self.cache)))
            }
            #[cfg(feature = "mysql")]
            ConnectionSettings::Server(s) if s.driver == Driver::Mysql => {
                Arc::new(SqlCollector::new(mysql::MysqlHandle::new(s, &self.cache)))
            }
            #[allow(unreachable_patterns)]
            other => unreachable!("settings of a driver compiled out: {}", other.driver()),
        }
    }

    /// A storage on `settings` (sharing the pool of equal settings). Does not connect.
    pub fn storage_for(&self, settings: &ConnectionSettings) -> Arc<dyn Storage> {
        match settings {
            #[cfg(feature = "sqlite")]
            ConnectionSettings::Sqlite(s) => Arc::new(SqlStorage::<sqlite::Lite>::new(
                sqlite::SqliteHandle::new(s, &self.cache),
                &self.lanes,
            )),
            #[cfg(feature = "postgres")]
            ConnectionSettings::Server(s) if s.driver == Driver::Postgres => {
                Arc::new(SqlStorage::<postgres::Pg>::new(
                    postgres::PgHandle::new(s, &self.cache),
                    &self.lanes,
                ))
            }
            #[cfg(feature = "mysql")]
            ConnectionSettings::Server(s) if s.driver == Driver::Mysql => {
                Arc::new(SqlStorage::<mysql::Mysql>::new(
                    mysql::MysqlHandle::new(s, &self.cache),
                    &self.lanes,
                ))
            }
            #[allow(unreachable_patterns)]
            other => unreachable!("settings of a driver compiled out: {}", other.driver()),
        }
    }
}

impl CollectorFactory for SqlFactory {
    fn build(&self, type_name: &str, mut params: Params<'_>) -> BuildResult<Arc<dyn Collector>> {
        let built = self
            .settings(type_name, Role::Collector, &mut params)
            .map(|settings| self.collector_for(&settings));
        params.conclude(built)
    }
}

impl StorageFactory for SqlFactory {
    fn build(&self, type_name: &str, mut params: Params<'_>) -> BuildResult<Arc<dyn Storage>> {
        let built = self
            .settings(type_name, Role::Storage, &mut params)
            .map(|settings| self.storage_for(&settings));
        params.conclude(built)
    }
}
