//! One SQL storage over every dialect: [`SqlStorage`] holds the logic of the `dtk_*`
//! tables once; a [`Dialect`] says how its database spells it.
//!
//! Each part of the storage trait is implemented in its own file: `series`
//! (`SeriesStore`: datapoints), `detections` (`DetectionStore`), `checkpoints`
//! (`CheckpointStore`: checkpoints and the alert lease), `alerts` (`AlertLedger`);
//! here, `Storage` itself, with `migrate` (the schema) and retention.

mod alerts;
mod checkpoints;
pub(crate) mod db;
pub(crate) mod detections;
pub(crate) mod dialect;
mod holds;
pub(crate) mod lane;
mod migrate;
pub(crate) mod newest;
pub(crate) mod series;
mod stmt;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use detectk_core::model::{DataPoint, DetectionRecord};
use detectk_core::traits::StorageResult;
use detectk_core::{BackendError, BackendErrorKind, Storage, async_trait};
use sqlx::{Connection, Transaction};

pub(crate) use detections::upsert_chunked as upsert_detections_chunked;
pub(crate) use dialect::Dialect;
pub(crate) use series::upsert_chunked as upsert_points_chunked;
pub(crate) use stmt::Stmt;

use crate::error::is_transient;
use crate::handle::{Backend, Handle};
use crate::pool::PoolCache;
use crate::records::{dedupe_detections, dedupe_points};
use crate::stored::migration_result;
use db::Conn;
use lane::BulkLane;

/// Keeps datapoints, detections, checkpoints and alert state in the `dtk_*` tables of
/// a SQL database spoken in dialect `D`.
pub(crate) struct SqlStorage<D: Dialect> {
    handle: Handle<D::DB>,
    /// The dialect's bulk lane for this database, when it has one.
    lane: Option<Arc<dyn BulkLane>>,
}

impl<D: Dialect> std::fmt::Debug for SqlStorage<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStorage")
            .field("driver", &D::DB::DRIVER)
            .field("handle", &self.handle)
            .field("lane", &self.lane)
            .finish()
    }
}

impl<D: Dialect> SqlStorage<D> {
    /// A storage on the pool of `handle`, with the dialect's bulk lane (shared through
    /// `cache`, the factory's lanes) when it has one. Does not connect.
    pub(crate) fn new(handle: Handle<D::DB>, cache: &PoolCache) -> Self {
        let lane = D::bulk_lane(&handle, cache);
        Self { handle, lane }
    }

    /// A storage on the pool of `handle` that never takes the bulk lane (to compare
    /// the lane's rows with sqlx's).
    #[cfg(test)]
    pub(crate) fn without_lane(handle: Handle<D::DB>) -> Self {
        Self { handle, lane: None }
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
        // Most runs find nothing old enough: two index seeks answer that without a
        // write transaction (which would queue behind, and hold up, the run's writers).
        let oldest = Stmt::<D>::new(
            "SELECT (SELECT MIN(collected_at) FROM dtk_datapoints WHERE metric_name = ?) \
             AS oldest_point, \
             (SELECT MIN(detected_at) FROM dtk_detections WHERE metric_name = ?) \
             AS oldest_detection",
        )
        .text(metric)
        .text(metric)
        .fetch_first(&mut *conn)
        .await
        .map_err(&err)?;
        if let Some(row) = oldest {
            let point = D::time(&row, "oldest_point").map_err(&err)?;
            let detection = D::time(&row, "oldest_detection").map_err(&err)?;
            if point.is_none_or(|t| t >= before) && detection.is_none_or(|t| t >= before) {
                return Ok(0);
            }
        }
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

    /// Detections, then points, in one write transaction (the lane's, or sqlx's).
    async fn store_scored(
        &self,
        metric: &str,
        points: &[DataPoint],
        records: &[DetectionRecord],
    ) -> StorageResult<()> {
        let (points, records) = (dedupe_points(points), dedupe_detections(records));
        if points.is_empty() && records.is_empty() {
            return Ok(());
        }
        let what = "storing detections and datapoints";
        let err = self.err(what);
        if let Some(lane) = &self.lane {
            return lane
                .write_scored(metric, &points, &records, Utc::now())
                .await
                .map_err(&err);
        }
        let mut conn = self.conn(what).await?;
        let mut tx = begin_write::<D>(&mut conn).await.map_err(&err)?;
        if !records.is_empty() {
            D::write_detections(&mut *tx, &records)
                .await
                .map_err(&err)?;
        }
        if !points.is_empty() {
            D::write_points(&mut *tx, metric, &points, Utc::now())
                .await
                .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)
    }
}
