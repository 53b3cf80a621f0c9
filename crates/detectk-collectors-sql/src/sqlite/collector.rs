//! The SQLite collector: runs a user's query on a database file.

use detectk_core::model::Table;
use detectk_core::{BackendError, Collector, async_trait};

use super::SqliteHandle;
use super::decode::decode_row;
use crate::collect::query_table;

/// Runs user queries on a SQLite file (which must exist), decoding each value by its
/// storage class and the column's declared type.
#[derive(Debug, Clone)]
pub struct SqliteCollector {
    handle: SqliteHandle,
}

impl SqliteCollector {
    pub(crate) fn new(handle: SqliteHandle) -> Self {
        Self { handle }
    }
}

#[async_trait]
impl Collector for SqliteCollector {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        let timeout = self.handle.settings().timeout();
        query_table(&self.handle, timeout, query, decode_row).await
    }
}
