//! One named test per check: [`storage_tests!`](crate::storage_tests) and
//! [`collector_tests!`](crate::collector_tests) expand to a module with one
//! `#[tokio::test]` per check, so a failure names its check and one check runs alone:
//! `cargo test -p detectk-collectors-sql --all-features --test postgres storage::claim_alert_one_winner`.

use std::any::Any;
use std::sync::Arc;

use super::StorageTarget;
use crate::traits::Storage;

/// What one storage check runs against, owned: built afresh for every check by the
/// setup function given to [`storage_tests!`](crate::storage_tests).
pub struct StorageSetup {
    /// The storage the check writes and reads through (migrated).
    pub storage: Arc<dyn Storage>,
    /// An independent handle on the same store (its own pool; migrated).
    pub peer: Arc<dyn Storage>,
    /// Rows written by the large-batch check.
    pub large_batch_rows: usize,
    guards: Vec<Box<dyn Any + Send>>,
}

impl std::fmt::Debug for StorageSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSetup")
            .field("storage", &self.storage.describe())
            .field("peer", &self.peer.describe())
            .field("large_batch_rows", &self.large_batch_rows)
            .finish_non_exhaustive()
    }
}

impl StorageSetup {
    /// `storage` and its `peer`, with the default large batch size.
    pub fn new(storage: Arc<dyn Storage>, peer: Arc<dyn Storage>) -> Self {
        let defaults = StorageTarget::new(storage.as_ref(), peer.as_ref()).large_batch_rows;
        Self {
            storage,
            peer,
            large_batch_rows: defaults,
            guards: Vec::new(),
        }
    }

    /// Rows written by the large-batch check.
    pub fn large_batch_rows(mut self, rows: usize) -> Self {
        self.large_batch_rows = rows;
        self
    }

    /// Keeps `guard` (a temporary directory or database) alive until the check ends.
    pub fn keep(mut self, guard: impl Any + Send) -> Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// The borrowed target the checks take.
    pub fn target(&self) -> StorageTarget<'_> {
        let mut target = StorageTarget::new(self.storage.as_ref(), self.peer.as_ref());
        target.large_batch_rows = self.large_batch_rows;
        target
    }
}

/// Generates `mod $module` with one `#[tokio::test]` per storage check.
///
/// `$setup` names an `async fn() -> StorageSetup` in scope of the invoking module; it
/// runs once per check. The test crate needs `tokio` with `macros` and `rt-multi-thread`.
///
/// ```ignore
/// async fn sqlite() -> StorageSetup { /* two handles on one file */ }
/// detectk_core::storage_tests!(storage, sqlite);
/// ```
#[macro_export]
macro_rules! storage_tests {
    ($module:ident, $setup:ident) => {
        $crate::__dtk_storage_checks!(__dtk_storage_test_fns!($module, $setup));
    };
}

/// The tests [`storage_tests!`] generates.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtk_storage_test_fns {
    ($module:ident, $setup:ident; $(($name:ident, $check:ident)),+ $(,)?) => {
        mod $module {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let setup = super::$setup().await;
                    let target = setup.target();
                    if let Err(failure) = $crate::testkit::$check(&target).await {
                        panic!(
                            "{} failed on {}: {failure}",
                            stringify!($check),
                            target.storage.describe()
                        );
                    }
                }
            )+
        }
    };
}

/// Generates `mod $module` with one `#[tokio::test]` per collector check.
///
/// `$fixture` names an `async fn() -> F` (`F: CollectorFixture`) in scope of the
/// invoking module. Every test builds a fixture, runs its `setup`, the check, and its
/// `teardown` (also when the check fails).
#[macro_export]
macro_rules! collector_tests {
    ($module:ident, $fixture:ident) => {
        $crate::__dtk_collector_checks!(__dtk_collector_test_fns!($module, $fixture));
    };
}

/// The tests [`collector_tests!`] generates.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtk_collector_test_fns {
    ($module:ident, $fixture:ident; $(($name:ident, $check:ident)),+ $(,)?) => {
        mod $module {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    use $crate::testkit::CollectorFixture as _;
                    let fixture = super::$fixture().await;
                    if let Err(e) = fixture.setup().await {
                        fixture.teardown().await;
                        panic!("fixture setup failed: {e}");
                    }
                    let result = $crate::testkit::$check(&fixture).await;
                    fixture.teardown().await;
                    if let Err(failure) = result {
                        panic!(
                            "{} failed on {}: {failure}",
                            stringify!($check),
                            fixture.collector().describe()
                        );
                    }
                }
            )+
        }
    };
}
