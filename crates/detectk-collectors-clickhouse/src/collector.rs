//! The ClickHouse collector: runs a metric's query and decodes every cell by its column type.

use std::fmt;
use std::sync::Arc;

use detectk_core::{BackendError, BackendErrorKind, Collector, Table, async_trait};
use serde::Deserialize;
use serde_json::Value;

use crate::config::ConnectionConfig;
use crate::decode::ColumnDecoder;
use crate::server::{Server, ServerInfo};

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

    /// Runs `sql` and returns the `JSONCompact` body.
    ///
    /// With `settings`, the server enforces the time limit too, 64-bit integers come as
    /// numbers, NaN and infinities as text (instead of NULL), and DateTime as UTC ISO
    /// text where the server supports it.
    /// A `readonly = 1` user may not change any setting; then the defaults are decoded.
    async fn fetch(
        &self,
        sql: &str,
        info: &ServerInfo,
        settings: bool,
    ) -> Result<JsonCompact, BackendError> {
        let mut request = self
            .server
            .client()
            .clone()
            .with_database(self.config.database.clone())
            .query_raw(sql);
        if settings {
            // The server stops the query itself at the time limit, instead of running on
            // after the client has given up (old servers do not notice a closed connection).
            let limit_secs = self.config.timeout.as_secs_f64().ceil().max(1.0) as u64;
            request = request
                .with_setting("max_execution_time", limit_secs.to_string())
                .with_setting("output_format_json_quote_64bit_integers", "0")
                .with_setting("output_format_json_quote_denormals", "1");
            if info.iso_datetime_output {
                request = request.with_setting("date_time_output_format", "iso");
            }
        }
        let body = self
            .server
            .run("query", self.config.timeout, async move {
                request.fetch_bytes("JSONCompact")?.collect().await
            })
            .await?;
        serde_json::from_slice(&body).map_err(|e| {
            self.error(
                BackendErrorKind::Decode,
                format!(
                    "the result is not ClickHouse JSON ({e}); the query must be a SELECT without its own FORMAT clause"
                ),
            )
        })
    }
}

/// The server refused a setting because the user is read-only.
fn is_readonly_refusal(e: &BackendError) -> bool {
    e.kind == BackendErrorKind::Query && e.message.contains("in readonly mode")
}

#[async_trait]
impl Collector for ClickHouseCollector {
    fn describe(&self) -> String {
        format!("clickhouse {}/{}", self.server.name(), self.config.database)
    }

    async fn check(&self) -> Result<Option<String>, BackendError> {
        let info = self
            .server
            .info(self.config.timeout)
            .await
            .map_err(|e| e.at(self.describe()))?;
        Ok(Some(format!(
            "ClickHouse {}, time zone {}",
            info.version, info.timezone
        )))
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        self.query_table(query).await.map_err(|e| {
            let e = if e.kind == BackendErrorKind::Query && e.hint.is_none() {
                e.with_hint("check the query: `dtk compile CONFIG` prints it exactly as it is sent; try it in clickhouse-client")
            } else {
                e
            };
            e.at(self.describe())
        })
    }
}

impl ClickHouseCollector {
    /// Runs `query` and decodes every row.
    async fn query_table(&self, query: &str) -> Result<Table, BackendError> {
        let info = self.server.info(self.config.timeout).await?.clone();
        let sql = query.trim().trim_end_matches(';').trim_end();
        if sql.is_empty() {
            return Err(self.error(BackendErrorKind::Query, "the query is empty"));
        }
        let use_settings = !self.server.settings_refused();
        let parsed = match self.fetch(sql, &info, use_settings).await {
            Err(e) if use_settings && is_readonly_refusal(&e) => {
                self.server.refuse_settings();
                self.fetch(sql, &info, false).await?
            }
            other => other?,
        };
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
