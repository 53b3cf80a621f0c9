//! One SQL storage over every dialect: [`SqlStorage`] holds the logic of the `dtk_*`
//! tables once; a [`Dialect`] says how its database spells it.
//!
//! The methods are grouped by the part of the storage trait they serve: `series`
//! (datapoints), `detections`, `checkpoints` (checkpoints and the alert lease),
//! `alerts` (the alert ledger), and `migrate` (the schema).

mod alerts;
mod checkpoints;
pub(crate) mod db;
mod detections;
pub(crate) mod dialect;
mod migrate;
mod series;
mod stmt;

use chrono::{DateTime, Utc};
use detectk_core::model::{DataPoint, DetectionRecord};
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertOutcome, AlertRecord, StorageResult,
};
use std::future::Future;

use detectk_core::{BackendError, BackendErrorKind, Storage, async_trait};
use sqlx::{Connection, Transaction};

pub(crate) use dialect::Dialect;
pub(crate) use stmt::Stmt;

use crate::error::is_transient;
use crate::handle::{Backend, Handle};
use crate::stored::migration_result;
use db::Conn;

/// Keeps datapoints, detections, checkpoints and alert state in the `dtk_*` tables of
/// a SQL database spoken in dialect `D`.
pub(crate) struct SqlStorage<D: Dialect> {
    handle: Handle<D::DB>,
}

impl<D: Dialect> std::fmt::Debug for SqlStorage<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStorage")
            .field("driver", &D::DB::DRIVER)
            .field("handle", &self.handle)
            .finish()
    }
}

impl<D: Dialect> SqlStorage<D> {
    /// A storage on the pool of `handle`. Does not connect.
    pub(crate) fn new(handle: Handle<D::DB>) -> Self {
        Self { handle }
    }

    /// Turns a failed `what` into a [`BackendError`] naming this storage's server.
    fn err(&self, what: &'static str) -> impl Fn(sqlx::Error) -> BackendError + '_ {
        self.handle.err(what)
    }

    /// A pooled connection; failing to get one is reported as failing `what`.
    async fn conn(&self, what: &'static str) -> StorageResult<sqlx::pool::PoolConnection<D::DB>> {
        self.handle.acquire().await.map_err(self.err(what))
    }

    /// A time that must be there: NULL is a decoding error naming the column.
    pub(super) fn required_time(
        &self,
        read: Result<Option<DateTime<Utc>>, sqlx::Error>,
        column: &str,
    ) -> StorageResult<DateTime<Utc>> {
        match read {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(BackendError::new(
                BackendErrorKind::Decode,
                self.handle.server(),
                format!("`{column}` is NULL, not a time"),
            )),
            Err(e) => Err(self.err("reading a time")(e)),
        }
    }
}

/// Runs `attempt` until it succeeds or fails for good: a transient database error (a
/// deadlock, which rolls the statement back) is tried again, at most three times.
async fn retry_transient<D: Dialect, T, F>(mut attempt: impl FnMut() -> F) -> Result<T, sqlx::Error>
where
    F: Future<Output = Result<T, sqlx::Error>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(e @ sqlx::Error::Database(_)) if retries < 3 && is_transient(D::DB::DRIVER, &e) => {
                retries += 1
            }
            done => return done,
        }
    }
}

/// Opens a write transaction on `conn` (see [`Dialect::BEGIN_WRITE`]).
pub(crate) async fn begin_write<D: Dialect>(
    conn: &mut Conn<D::DB>,
) -> Result<Transaction<'_, D::DB>, sqlx::Error> {
    match D::BEGIN_WRITE {
        Some(statement) => conn.begin_with(statement).await,
        None => conn.begin().await,
    }
}

#[async_trait]
impl<D: Dialect> Storage for SqlStorage<D> {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn check(&self) -> StorageResult<Option<String>> {
        self.handle.connect().await.map(|_| None)
    }

    async fn migrate(&self) -> StorageResult<()> {
        let mut conn = self.handle.connect().await?;
        let outcome = migrate::migrate::<D>(&mut conn, self.handle.schema()).await;
        migration_result(D::DB::DRIVER, &self.handle.server(), outcome)
            .map_err(|e| e.at(self.handle.describe()))
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        let err = self.err("applying retention");
        let mut conn = self.conn("applying retention").await?;
        let mut tx = begin_write::<D>(&mut conn).await.map_err(&err)?;
        let mut removed = 0;
        for sql in [
            "DELETE FROM dtk_datapoints WHERE metric_name = ? AND collected_at < ?",
            "DELETE FROM dtk_detections WHERE metric_name = ? AND detected_at < ?",
        ] {
            removed += Stmt::<D>::new(sql)
                .text(metric)
                .time(before)
                .execute(&mut *tx)
                .await
                .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        Ok(removed)
    }

    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        self.upsert_points(metric, points).await
    }

    async fn load_datapoints(
        &self,
        metric: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StorageResult<Vec<DataPoint>> {
        self.load_points(metric, from, to).await
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        self.last_point_time(metric).await
    }

    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        self.upsert_records(records).await
    }

    async fn load_detections(
        &self,
        metric: &str,
        detector_id: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StorageResult<Vec<DetectionRecord>> {
        self.load_records(metric, detector_id, from, to).await
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        self.last_record_time(metric, detector_id).await
    }

    async fn mark_alert_sent(
        &self,
        metric: &str,
        detector_ids: &[String],
        timestamp: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.mark_sent(metric, detector_ids, timestamp).await
    }

    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        self.checkpoint(metric, job).await
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.put_checkpoint(metric, job, position).await
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        self.drop_checkpoint(metric, job).await
    }

    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        self.acquire_lease(lease).await
    }

    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        self.release_lease(metric, token).await
    }

    async fn claim_alert(&self, claim: &AlertClaim) -> StorageResult<bool> {
        self.claim(claim).await
    }

    async fn finish_alert(
        &self,
        metric: &str,
        key: &str,
        token: &str,
        outcome: &AlertOutcome,
    ) -> StorageResult<()> {
        self.finish(metric, key, token, outcome).await
    }

    async fn last_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        self.last_sent(metric, kind).await
    }

    async fn latest_alert(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        self.latest(metric, kind).await
    }
}
