//! The PostgreSQL collector.

use detectk_core::model::Table;
use detectk_core::{BackendError, Collector, async_trait};

use super::PgHandle;
use super::decode::decode_row;
use crate::collect::query_table;

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
}

#[async_trait]
impl Collector for PostgresCollector {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        let timeout = self.handle.settings().timeout() + SERVER_TIMEOUT_GRACE;
        query_table(&self.handle, timeout, query, decode_row).await
    }
}
