//! Helpers for tests against the real ClickHouse servers started by
//! `scripts/services/clickhouse.sh`: 127.0.0.1:8123 (server zone UTC) and
//! 127.0.0.1:18123 (server zone America/New_York). Tests fail, never skip, without them.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use detectk_collectors_clickhouse::{ClickHouseFactory, ClickHouseStorage, ConnectionConfig};

/// The test server: `CLICKHOUSE_TEST_HOST` / `CLICKHOUSE_TEST_PORT` or 127.0.0.1:8123.
pub fn config(database: &str) -> ConnectionConfig {
    ConnectionConfig {
        host: std::env::var("CLICKHOUSE_TEST_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
        port: std::env::var("CLICKHOUSE_TEST_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8123),
        database: database.to_string(),
        timeout: Duration::from_secs(30),
        ..ConnectionConfig::default()
    }
}

/// The second test server, whose server time zone is America/New_York
/// (`CLICKHOUSE_TZ_TEST_PORT` or 18123).
pub fn config_new_york(database: &str) -> ConnectionConfig {
    let mut c = config(database);
    c.port = std::env::var("CLICKHOUSE_TZ_TEST_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(18123);
    c
}

/// A database name no other test, run or process uses.
fn unique_database(label: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    format!(
        "dtk_test_{label}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a statement on the test server over plain HTTP, panicking with the server's answer.
pub async fn exec(database: &str, sql: &str) {
    exec_on(&config(database), sql).await
}

/// Runs a statement on the server and database of `config`.
pub async fn exec_on(config: &ConnectionConfig, sql: &str) {
    let database = config.database.as_str();
    let client = clickhouse::Client::default()
        .with_url(config.url())
        .with_database(database)
        .with_validation(false);
    client
        .query(sql)
        .execute()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A uniquely named database on a test server, dropped when the value goes out of
/// scope, also when a test fails. Derefs to its name.
pub struct TempDb {
    config: ConnectionConfig,
}

impl TempDb {
    /// A name on the main server; the database is not created (the storage's `migrate` does).
    pub fn new(label: &str) -> Self {
        Self::on(config("default"), label)
    }

    /// A name on the server of `server`.
    pub fn on(mut server: ConnectionConfig, label: &str) -> Self {
        server.database = unique_database(label);
        Self { config: server }
    }

    /// A name on the main server, with the database created.
    pub async fn create(label: &str) -> Self {
        let db = Self::new(label);
        exec(
            "default",
            &format!("CREATE DATABASE {}", db.config.database),
        )
        .await;
        db
    }

    /// Connection settings for this database.
    pub fn config(&self) -> ConnectionConfig {
        self.config.clone()
    }
}

impl std::ops::Deref for TempDb {
    type Target = str;

    fn deref(&self) -> &str {
        &self.config.database
    }
}

impl std::fmt::Display for TempDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.config.database)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let mut admin = self.config.clone();
        let sql = format!("DROP DATABASE IF EXISTS {}", admin.database);
        admin.database = "default".into();
        // Drop may run inside the test's runtime: use a runtime of its own on another thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(exec_on(&admin, &sql));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop test database {}", self.config.database);
        }
    }
}

/// A new factory (its own server cache, i.e. its own connection pool: "another process").
pub fn factory() -> ClickHouseFactory {
    ClickHouseFactory::new()
}

/// A SQLite alert-state storage on the file `path`, built like `state: {type: sqlite}`
/// (each call has its own connection pool, like another process), migrated.
pub async fn sqlite_state(path: &std::path::Path) -> std::sync::Arc<dyn detectk_core::Storage> {
    let mut registry = detectk_core::Registry::new();
    detectk_collectors_sql::register(&mut registry);
    let mut map = serde_json::Map::new();
    map.insert(
        "connection_string".into(),
        serde_json::Value::String(format!("sqlite:///{}", path.display())),
    );
    let params = detectk_core::config::Params::new(&map, "state.params");
    let storage = registry
        .storage("sqlite")
        .expect("sqlite storage")
        .build("sqlite", params)
        .expect("sqlite state storage")
        .part;
    storage.migrate().await.expect("migrate the state storage");
    storage
}

/// ClickHouse data with alert state in `state`, as a metric with `state:` runs.
pub fn split(
    data: ClickHouseStorage,
    state: std::sync::Arc<dyn detectk_core::Storage>,
) -> detectk_core::SplitStorage {
    detectk_core::SplitStorage::new(std::sync::Arc::new(data), state)
}
