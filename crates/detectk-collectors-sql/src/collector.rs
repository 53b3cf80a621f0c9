//! The SQL collector, written once for every driver: runs a user's query on a pooled
//! connection and decodes every column by its type (the driver's `decode_row`).

use detectk_core::model::Table;
use detectk_core::{BackendError, Collector, async_trait};
use sqlx::{Executor, IntoArguments};

use crate::collect::query_table;
use crate::handle::{Backend, Handle};

/// Runs user queries on one database through a shared pool.
pub(crate) struct SqlCollector<DB: Backend> {
    handle: Handle<DB>,
}

impl<DB: Backend> std::fmt::Debug for SqlCollector<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlCollector")
            .field("driver", &DB::DRIVER)
            .field("handle", &self.handle)
            .finish()
    }
}

impl<DB: Backend> SqlCollector<DB> {
    /// A collector on the pool of `handle`. Does not connect.
    pub(crate) fn new(handle: Handle<DB>) -> Self {
        Self { handle }
    }
}

#[async_trait]
impl<DB> Collector for SqlCollector<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn describe(&self) -> String {
        self.handle.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        let timeout = self.handle.settings().timeout() + DB::QUERY_GRACE;
        query_table(&self.handle, timeout, query, DB::decode_row).await
    }
}
