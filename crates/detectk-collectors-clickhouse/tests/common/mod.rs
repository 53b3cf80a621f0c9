//! Helpers for tests against the real ClickHouse servers started by
//! `scripts/services/clickhouse.sh`: 127.0.0.1:8123 (server zone UTC) and
//! 127.0.0.1:18123 (server zone America/New_York). Tests fail, never skip, without them.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use detectk_collectors_clickhouse::{ClickHouseFactory, ConnectionConfig};

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
pub fn unique_database(label: &str) -> String {
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

/// Creates a fresh database and returns its name.
pub async fn fresh_database(label: &str) -> String {
    let db = unique_database(label);
    exec("default", &format!("CREATE DATABASE {db}")).await;
    db
}

/// Drops a database created by [`fresh_database`].
pub async fn drop_database(db: &str) {
    exec("default", &format!("DROP DATABASE IF EXISTS {db}")).await;
}

/// A new factory (its own server cache, i.e. its own connection pool: "another process").
pub fn factory() -> ClickHouseFactory {
    ClickHouseFactory::new()
}
