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
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertOutcome, AlertRecord, StorageResult,
};
use detectk_core::{
    BackendError, BackendErrorKind, DataPoint, DetectionRecord, Storage, async_trait,
};

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

    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        self.write_datapoints(metric, points).await
    }

    async fn load_datapoints(
        &self,
        metric: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StorageResult<Vec<DataPoint>> {
        self.read_datapoints(metric, from, to).await
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        self.newest_datapoint(metric).await
    }

    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        self.write_detections(records).await
    }

    async fn load_detections(
        &self,
        metric: &str,
        detector_id: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StorageResult<Vec<DetectionRecord>> {
        self.read_detections(metric, detector_id, from, to).await
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        self.newest_detection(metric, detector_id).await
    }

    async fn mark_alert_sent(
        &self,
        metric: &str,
        detector_ids: &[String],
        timestamp: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.flag_alert_sent(metric, detector_ids, timestamp).await
    }

    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        self.read_checkpoint(metric, job).await
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.write_checkpoint(metric, job, Some(position)).await
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        self.write_checkpoint(metric, job, None).await
    }

    async fn claim_alert(&self, _claim: &AlertClaim) -> StorageResult<bool> {
        Err(self.no_alert_state("claim alerts"))
    }

    async fn finish_alert(
        &self,
        _metric: &str,
        _key: &str,
        _token: &str,
        _outcome: &AlertOutcome,
    ) -> StorageResult<()> {
        Err(self.no_alert_state("record alerts"))
    }

    async fn last_sent_alert(
        &self,
        _metric: &str,
        _kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        Err(self.no_alert_state("read alerts"))
    }

    async fn latest_alert(
        &self,
        _metric: &str,
        _kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        Err(self.no_alert_state("read alerts"))
    }

    async fn acquire_alert_lease(&self, _lease: &AlertLease) -> StorageResult<bool> {
        Err(self.no_alert_state("hold the alert lease"))
    }

    async fn release_alert_lease(&self, _metric: &str, _token: &str) -> StorageResult<()> {
        Err(self.no_alert_state("release the alert lease"))
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        self.delete_older(metric, before).await
    }
}
