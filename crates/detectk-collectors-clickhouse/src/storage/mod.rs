//! The ClickHouse storage: `dtk_*` tables as `ReplacingMergeTree`, read with `FINAL`.

mod alerts;
mod checkpoints;
mod datapoints;
mod detections;
mod migrate;
mod retention;
mod rows;
mod schema;
mod versions;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clickhouse::insert::Insert;
use detectk_core::traits::StorageResult;
use detectk_core::{BackendError, BackendErrorKind, Storage, async_trait};

use crate::config::ConnectionConfig;
use crate::server::Server;

pub use schema::latest_version as latest_schema_version;

/// Keeps datapoints, detections, checkpoints and alert state in one ClickHouse database.
///
/// Tables: `dtk_datapoints`, `dtk_detections`, `dtk_checkpoints`, `dtk_alerts` and
/// `dtk_schema_version`, created by [`Storage::migrate`]. Every table is a
/// `ReplacingMergeTree(version)` keyed by its unique columns, so writes are upserts.
/// Alert state is not kept here (see [`Storage::keeps_alert_state`]): a metric on
/// ClickHouse keeps its alert claims and lease in a `state:` storage.
#[derive(Clone)]
pub struct ClickHouseStorage {
    server: Arc<Server>,
    database: String,
    timeout: Duration,
}

impl fmt::Debug for ClickHouseStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseStorage")
            .field("server", &self.server.name())
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl ClickHouseStorage {
    /// A storage in `config.database` on the shared `server`. Does not connect.
    pub fn new(server: Arc<Server>, config: &ConnectionConfig) -> Self {
        Self {
            server,
            database: config.database.clone(),
            timeout: config.timeout,
        }
    }

    /// The database holding the tables.
    pub fn database(&self) -> &str {
        &self.database
    }

    fn client(&self) -> clickhouse::Client {
        self.server
            .client()
            .clone()
            .with_database(self.database.clone())
    }

    fn error(&self, kind: BackendErrorKind, message: impl Into<String>) -> BackendError {
        BackendError::new(kind, self.server.name(), message)
    }

    fn decode_error(&self, table: &str, message: impl fmt::Display) -> BackendError {
        self.error(
            BackendErrorKind::Decode,
            format!("bad row in {}.{table}: {message}", self.database),
        )
    }

    /// Runs a statement without result.
    async fn execute(&self, what: &str, query: clickhouse::query::Query) -> StorageResult<()> {
        self.server.run(what, self.timeout, query.execute()).await
    }

    /// Runs a query returning typed rows.
    async fn fetch_all<T>(
        &self,
        what: &str,
        query: clickhouse::query::Query,
    ) -> StorageResult<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        self.server
            .run(what, self.timeout, query.fetch_all::<T>())
            .await
    }

    /// Inserts `rows` into `table` as one RowBinary request.
    async fn insert_rows<T>(&self, table: &str, rows: &[T]) -> StorageResult<()>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let what = format!("insert into {}.{table}", self.database);
        let client = self.client();
        self.server
            .run(&what, self.timeout, async move {
                let mut insert: Insert<T> = client.insert::<T>(table).await?;
                for row in rows {
                    insert.write(row).await?;
                }
                insert.end().await
            })
            .await
    }

    /// Seconds now, for `loaded_at` / `updated_at` columns.
    fn now_secs() -> u32 {
        u32::try_from(Utc::now().timestamp()).unwrap_or(u32::MAX)
    }

    /// Converts a row conversion error into a backend error naming the metric.
    fn value_error(&self, metric: &str, message: String) -> BackendError {
        self.error(
            BackendErrorKind::Unsupported,
            format!("metric `{metric}`: {message}"),
        )
    }
}

#[async_trait]
impl Storage for ClickHouseStorage {
    fn describe(&self) -> String {
        format!("clickhouse {}/{}", self.server.name(), self.database)
    }

    async fn check(&self) -> StorageResult<Option<String>> {
        let info = self
            .server
            .info(self.timeout)
            .await
            .map_err(|e| e.at(self.describe()))?;
        Ok(Some(format!(
            "ClickHouse {}, time zone {}",
            info.version, info.timezone
        )))
    }

    fn keeps_alert_state(&self) -> bool {
        false
    }

    async fn migrate(&self) -> StorageResult<()> {
        self.migrate_schema()
            .await
            .map_err(|e| e.at(self.describe()))
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        self.delete_older(metric, before).await
    }
}
