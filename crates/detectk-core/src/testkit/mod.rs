//! Conformance suites for storage and collector backends (cargo feature `testkit`).
//!
//! Every backend runs the same checks against a real server, so the contract of
//! [`crate::Storage`] and [`crate::Collector`] is enforced once, not re-invented per
//! backend. Each check is a plain `pub async fn` returning [`CheckResult`].
//! [`storage_tests!`](crate::storage_tests) and [`collector_tests!`](crate::collector_tests)
//! generate one named `#[tokio::test]` per check in a backend's test file; the entry
//! points [`run_storage_suite`] and [`run_collector_suite`] run them all at once and
//! return a [`SuiteReport`] naming every check that failed.
//!
//! Checks isolate themselves with unique metric names ([`unique_metric`]), so suites
//! may run in parallel and repeatedly against one database.
//!
//! ```no_run
//! # async fn demo(storage: &dyn detectk_core::Storage, peer: &dyn detectk_core::Storage) {
//! use detectk_core::testkit::{run_storage_suite, StorageTarget};
//! let target = StorageTarget::new(storage, peer);
//! run_storage_suite(&target).await.assert_all_passed();
//! # }
//! ```

mod collector;
mod generate;
mod report;
mod samples;
mod server_thread;
pub mod smtp_server;
mod storage;
pub mod webhook_server;

pub use collector::{
    CollectorFixture, SampleKind, collector_columns_keep_order, collector_empty_result,
    collector_expression_columns, collector_missing_table_is_query_error, collector_null_cells,
    collector_syntax_error_is_query_error, collector_typed_columns, run_collector_suite,
};
pub use generate::StorageSetup;
pub use report::{CheckFailure, CheckResult, SuiteReport};
pub use samples::{sample_detection, t0, unique_metric};
pub use storage::*;
