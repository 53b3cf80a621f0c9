use async_trait::async_trait;

use crate::error::BackendError;
use crate::model::Table;

/// Runs a metric's rendered query against a data source and returns the raw table.
///
/// The pipeline renders the query template for each call and maps the returned
/// columns to timestamp, value and context, so a collector only has to execute the
/// query and decode every cell by its real type. Collectors are cheap to clone
/// handles around a shared connection pool.
#[async_trait]
pub trait Collector: Send + Sync + std::fmt::Debug {
    /// Where the data comes from, for messages: `postgres 127.0.0.1:5432/db`.
    /// Never includes credentials.
    fn describe(&self) -> String;

    /// Executes `query` and returns every row.
    async fn query(&self, query: &str) -> Result<Table, BackendError>;

    /// Connects to the source without reading the metric's data, for `dtk debug`.
    /// Returns what the server says about itself (e.g. its version) when that is cheap.
    /// The default runs `SELECT 1`.
    async fn check(&self) -> Result<Option<String>, BackendError> {
        self.query("SELECT 1").await.map(|_| None)
    }
}
