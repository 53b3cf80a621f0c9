//! The MySQL/MariaDB collector.

use detectk_core::model::Table;
use detectk_core::{BackendError, Collector, async_trait};

use super::MysqlHandle;
use super::decode::decode_row;
use crate::collect::query_table;

/// Runs user queries on a MySQL or MariaDB server, decoding every column by its type.
#[derive(Debug, Clone)]
pub struct MysqlCollector {
    handle: MysqlHandle,
}

impl MysqlCollector {
    pub(crate) fn new(handle: MysqlHandle) -> Self {
        Self { handle }
    }
}

#[async_trait]
impl Collector for MysqlCollector {
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        let timeout = self.handle.settings().timeout();
        query_table(&self.handle, timeout, query, decode_row).await
    }
}
