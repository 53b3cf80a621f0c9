//! The driver-independent part of running a user query: prepare (to learn the
//! columns even of an empty result), fetch, decode every row, bound the time.

use std::future::Future;
use std::time::Duration;

use detectk_core::model::{Cell, Table};
use detectk_core::{BackendError, BackendErrorKind};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Column, Database, Executor, IntoArguments, SqlSafeStr, Statement};

use crate::Driver;
use crate::error::{backend_error, timeout_error};
pub(crate) use crate::handle::DecodeFailure;
use crate::handle::{Backend, Handle};

/// Why running a query failed, before it is turned into a [`BackendError`].
pub(crate) enum QueryFailure {
    Sql(sqlx::Error),
    Decode(DecodeFailure),
}

impl From<sqlx::Error> for QueryFailure {
    fn from(e: sqlx::Error) -> Self {
        QueryFailure::Sql(e)
    }
}

impl From<DecodeFailure> for QueryFailure {
    fn from(e: DecodeFailure) -> Self {
        QueryFailure::Decode(e)
    }
}

/// A query's result as column names plus rows of decoded cells.
pub(crate) struct Decoded {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Runs `fut` (a driver's fetch-and-decode of `query`) within `timeout`, and turns
/// every failure into a [`BackendError`] naming `server` (and the column, for decoding).
pub(crate) async fn collect(
    driver: Driver,
    server: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<Decoded, QueryFailure>>,
) -> Result<Table, BackendError> {
    let started = std::time::Instant::now();
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(timeout_error(server, "query", timeout)),
        Ok(Ok(decoded)) => {
            tracing::debug!(
                server,
                rows = decoded.rows.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "query done"
            );
            Ok(Table {
                columns: decoded.columns,
                rows: decoded.rows,
            })
        }
        Ok(Err(QueryFailure::Sql(e))) => Err(backend_error(driver, server, "query", e)),
        Ok(Err(QueryFailure::Decode(d))) => Err(BackendError::new(
            BackendErrorKind::Decode,
            server,
            format!("column {}: {}", d.column + 1, d.message),
        )),
    }
}

/// Formats the column name into a decode failure's message.
pub(crate) fn name_column(columns: &[String], mut failure: DecodeFailure) -> DecodeFailure {
    if let Some(name) = columns.get(failure.column) {
        failure.message = format!("`{name}`: {}", failure.message);
    }
    failure
}

/// Runs a user's `query` on a connection of `handle` and decodes every row with the
/// driver's `decode_row`, within `timeout` (connecting is bounded by the pool's own
/// timeout). Every failure, connecting included, is a [`BackendError`] naming the server.
pub(crate) async fn query_table<DB>(
    handle: &Handle<DB>,
    timeout: Duration,
    query: &str,
    decode_row: fn(&DB::Row) -> Result<Vec<Cell>, DecodeFailure>,
) -> Result<Table, BackendError>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let conn = handle.connect().await?;
    let server = handle.server();
    collect(DB::DRIVER, &server, timeout, fetch(conn, query, decode_row))
        .await
        .map_err(|e| e.at(handle.describe()))
}

/// Prepares `query` (so the columns are known even when no row comes back), fetches
/// every row and decodes it; a decoding failure names its column.
async fn fetch<DB>(
    mut conn: PoolConnection<DB>,
    query: &str,
    decode_row: fn(&DB::Row) -> Result<Vec<Cell>, DecodeFailure>,
) -> Result<Decoded, QueryFailure>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let statement = conn
        .prepare(AssertSqlSafe(query.to_string()).into_sql_str())
        .await?;
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let rows = statement.query().fetch_all(&mut *conn).await?;
    let rows = rows
        .iter()
        .map(decode_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|f| name_column(&columns, f))?;
    Ok(Decoded { columns, rows })
}
