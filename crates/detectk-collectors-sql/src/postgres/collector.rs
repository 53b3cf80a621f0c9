//! The PostgreSQL collector.

use detectk_core::model::Table;
use detectk_core::{BackendError, Collector, async_trait};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Column, Executor, Postgres, SqlSafeStr, Statement};

use super::PgHandle;
use super::decode::decode_row;
use crate::Driver;
use crate::collect::{Decoded, QueryFailure, collect, name_column};
use crate::error::backend_error;

/// How much longer than the server's `statement_timeout` the client waits.
const SERVER_TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs user queries on a PostgreSQL server, decoding every column by its type.
#[derive(Debug, Clone)]
pub struct PostgresCollector {
    handle: PgHandle,
}

impl PostgresCollector {
    pub(crate) fn new(handle: PgHandle) -> Self {
        Self { handle }
    }

    async fn fetch(
        mut conn: PoolConnection<Postgres>,
        query: &str,
    ) -> Result<Decoded, QueryFailure> {
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
}

#[async_trait]
impl Collector for PostgresCollector {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        let settings = self.handle.settings();
        let conn =
            self.handle.acquire().await.map_err(|e| {
                backend_error(Driver::Postgres, &settings.server(), "connecting", e)
            })?;
        collect(
            Driver::Postgres,
            &settings.server(),
            settings.timeout() + SERVER_TIMEOUT_GRACE,
            Self::fetch(conn, query),
        )
        .await
    }
}
