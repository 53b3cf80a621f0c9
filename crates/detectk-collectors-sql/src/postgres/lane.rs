//! PostgreSQL's bulk lane: the storage's writes of points and detections skip the
//! generic path's explicit transaction when one statement is enough. A cron tick's
//! batch (one point; one detection per detector) is then one round trip (the generic
//! path: `BEGIN`, the upsert, `COMMIT`); a history load's batch is copied in one
//! transaction (see [`super::bulk`]). The history window is read through binary
//! `COPY` (see [`super::copy_out`]), on the same pool.

use chrono::{DateTime, Utc};
use detectk_core::async_trait;
use detectk_core::model::{DataPoint, DetectionRecord};
use detectk_core::traits::LoadDatapoints;
use futures::StreamExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Postgres, Row};

use super::bulk::{self, COPY_MIN_ROWS};
use super::copy_out;
use super::dialect::Pg;
use crate::handle::Handle;
use crate::records::Contexts;
use crate::storage::Dialect;
use crate::storage::lane::BulkLane;

/// [`crate::storage::lane::LOAD_POINTS`] with PostgreSQL's placeholders.
const LOAD_POINTS: &str = "SELECT collected_at, value, is_missing, context \
     FROM dtk_datapoints WHERE metric_name = $1 AND collected_at >= $2 AND collected_at < $3 \
     ORDER BY collected_at";

/// The bulk lane of one PostgreSQL storage (on the storage's own pool).
#[derive(Debug)]
pub(crate) struct PgLane {
    handle: Handle<Postgres>,
    /// Whether windows are read through binary `COPY` (see [`super::copy_out`]): the
    /// table's columns have the types it decodes. Found out by the first window read.
    copy_window: tokio::sync::OnceCell<bool>,
}

impl PgLane {
    /// A lane on the pool of `handle`. Does not connect.
    pub(crate) fn new(handle: Handle<Postgres>) -> Self {
        Self {
            handle,
            copy_window: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether `dtk_datapoints` has the column types [`copy_out`] decodes (a failing
    /// look-up counts as no: the row path then reports what is wrong).
    async fn copy_window(&self, conn: &mut PgConnection) -> bool {
        *self
            .copy_window
            .get_or_init(|| async {
                let Ok(rows) = sqlx::query(copy_out::COLUMN_TYPES_QUERY)
                    .fetch_all(&mut *conn)
                    .await
                else {
                    return false;
                };
                let found: Vec<(String, String)> = rows
                    .iter()
                    .filter_map(|r| Some((r.try_get("name").ok()?, r.try_get("type").ok()?)))
                    .collect();
                copy_out::COLUMN_TYPES
                    .iter()
                    .all(|(column, kind)| found.iter().any(|(c, k)| c == column && k == kind))
            })
            .await
    }
}

/// Runs a `COPY ... TO STDOUT` on `conn` and gathers its stream.
async fn copy_all(mut conn: UnlessRead, sql: &str) -> Result<Vec<u8>, sqlx::Error> {
    let mut stream = Vec::new();
    let mut chunks = conn.conn.copy_out_raw(sql).await?;
    while let Some(chunk) = chunks.next().await {
        stream.extend_from_slice(&chunk?);
    }
    drop(chunks);
    conn.read = true;
    Ok(stream)
}

/// A pooled connection that is closed instead of going back to the pool unless its
/// `COPY` stream was read to the end: a stream left unread (an error, or the metric's
/// time limit dropping the read) leaves messages on the wire for the next user.
struct UnlessRead {
    conn: PoolConnection<Postgres>,
    read: bool,
}

impl UnlessRead {
    fn new(conn: PoolConnection<Postgres>) -> Self {
        Self { conn, read: false }
    }
}

impl Drop for UnlessRead {
    fn drop(&mut self) {
        if !self.read {
            self.conn.close_on_drop();
        }
    }
}

#[async_trait]
impl BulkLane for PgLane {
    async fn load_points(&self, op: &LoadDatapoints) -> Result<Vec<DataPoint>, sqlx::Error> {
        let mut conn = self.handle.acquire().await?;
        if let Some(sql) = copy_out::window_copy_sql(&op.metric, op.from, op.to)
            && self.copy_window(&mut conn).await
        {
            let stream = copy_all(UnlessRead::new(conn), &sql).await?;
            return copy_out::decode_window(&stream, &mut Contexts::default());
        }
        let rows = sqlx::query(LOAD_POINTS)
            .bind(&op.metric)
            .bind(op.from)
            .bind(op.to)
            .fetch_all(&mut *conn)
            .await?;
        let mut contexts = Contexts::default();
        rows.iter()
            .map(|row| {
                Ok(DataPoint {
                    timestamp: row.try_get("collected_at")?,
                    value: row.try_get("value")?,
                    is_missing: row.try_get("is_missing")?,
                    context: Pg::context(row, "context", &mut contexts)?,
                })
            })
            .collect()
    }

    async fn write_points(
        &self,
        metric: &str,
        points: &[&DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.handle.acquire().await?;
        if points.len() < COPY_MIN_ROWS {
            // One statement: atomic without a transaction around it.
            return bulk::upsert_points(&mut conn, metric, points, loaded_at).await;
        }
        let mut tx = conn.begin().await?;
        bulk::write_points(&mut tx, metric, points, loaded_at).await?;
        tx.commit().await
    }

    async fn write_detections(&self, records: &[&DetectionRecord]) -> Result<(), sqlx::Error> {
        let mut conn = self.handle.acquire().await?;
        if records.len() < COPY_MIN_ROWS {
            return bulk::upsert_detections(&mut conn, records).await;
        }
        let mut tx = conn.begin().await?;
        bulk::write_detections(&mut tx, records).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_query_is_the_generic_one() {
        let generic = ["$1", "$2", "$3"]
            .iter()
            .fold(LOAD_POINTS.to_string(), |sql, p| sql.replace(p, "?"));
        assert_eq!(generic, crate::storage::lane::LOAD_POINTS);
    }
}
