//! The ClickHouse collector: runs a metric's query and decodes every cell by its column type.

use std::fmt;
use std::sync::Arc;

use detectk_core::{BackendError, BackendErrorKind, Collector, Table, async_trait};
use serde::Deserialize;
use serde_json::Value;

use crate::config::ConnectionConfig;
use crate::decode::ColumnDecoder;
use crate::server::Server;

/// Runs queries on one ClickHouse database over HTTP.
///
/// Results are fetched as `JSONCompact`, whose `meta` gives each column's name and
/// ClickHouse type; cells are decoded by that type (see [`ColumnDecoder`]).
#[derive(Clone)]
pub struct ClickHouseCollector {
    server: Arc<Server>,
    config: ConnectionConfig,
}

impl fmt::Debug for ClickHouseCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseCollector")
            .field("server", &self.server.name())
            .field("database", &self.config.database)
            .field("user", &self.config.user)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct JsonCompact {
    meta: Vec<ColumnMeta>,
    data: Vec<Vec<Value>>,
}

#[derive(Deserialize)]
struct ColumnMeta {
    name: String,
    #[serde(rename = "type")]
    type_name: String,
}

impl ClickHouseCollector {
    /// A collector using the shared `server` and the database and timeout of `config`.
    pub fn new(server: Arc<Server>, config: ConnectionConfig) -> Self {
        Self { server, config }
    }

    fn error(&self, kind: BackendErrorKind, message: impl Into<String>) -> BackendError {
        BackendError::new(kind, self.server.name(), message)
    }
}

#[async_trait]
impl Collector for ClickHouseCollector {
    fn describe(&self) -> String {
        format!("clickhouse {}/{}", self.server.name(), self.config.database)
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        let timeout = self.config.timeout;
        let info = self.server.info(timeout).await?.clone();
        let sql = query.trim().trim_end_matches(';').trim_end();
        if sql.is_empty() {
            return Err(self.error(BackendErrorKind::Query, "the query is empty"));
        }
        let mut request = self
            .server
            .client()
            .clone()
            .with_database(self.config.database.clone())
            .query_raw(sql)
            .with_setting("output_format_json_quote_64bit_integers", "0")
            .with_setting("output_format_json_quote_denormals", "1");
        if info.iso_datetime_output {
            request = request.with_setting("date_time_output_format", "iso");
        }
        let body = self
            .server
            .run("query", timeout, async move {
                request.fetch_bytes("JSONCompact")?.collect().await
            })
            .await?;
        let parsed: JsonCompact = serde_json::from_slice(&body).map_err(|e| {
            self.error(
                BackendErrorKind::Decode,
                format!(
                    "the result is not ClickHouse JSON ({e}); the query must be a SELECT without its own FORMAT clause"
                ),
            )
        })?;
        let decoders = parsed
            .meta
            .iter()
            .map(|m| {
                ColumnDecoder::new(&m.type_name, info.timezone).map_err(|e| {
                    self.error(
                        BackendErrorKind::Decode,
                        format!("column `{}`: {e}", m.name),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let columns: Vec<String> = parsed.meta.into_iter().map(|m| m.name).collect();
        let mut rows = Vec::with_capacity(parsed.data.len());
        for (i, row) in parsed.data.into_iter().enumerate() {
            if row.len() != columns.len() {
                return Err(self.error(
                    BackendErrorKind::Decode,
                    format!(
                        "row {} has {} cells for {} columns",
                        i + 1,
                        row.len(),
                        columns.len()
                    ),
                ));
            }
            let cells = row
                .into_iter()
                .zip(&decoders)
                .zip(&columns)
                .map(|((value, decoder), column)| {
                    decoder.decode(value).map_err(|e| {
                        self.error(
                            BackendErrorKind::Decode,
                            format!("row {}, column `{column}`: {e}", i + 1),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(cells);
        }
        Ok(Table { columns, rows })
    }
}
