//! The SQLite collector: runs a user's query on a database file.

use detectk_core::model::Table;
use detectk_core::{BackendError, Collector, async_trait};

use super::SqliteHandle;
use super::decode::decode_row;
use crate::Driver;
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
        let settings = self.handle.settings();
        let conn = self.handle.acquire().await;
        let timeout = settings.timeout();
        query_table(
            Driver::Sqlite,
            &settings.server(),
            timeout,
            conn,
            query,
            decode_row,
        )
        .await
    }
}
