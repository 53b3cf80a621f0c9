//! Alert state and ClickHouse: none is kept here.
//!
//! ClickHouse 18.16 has no unique constraint, no compare-and-set and no linearizable
//! table engine, so it cannot decide atomically which of two racing runs sends an
//! alert. Every alert method of the ClickHouse storage therefore fails with
//! [`BackendErrorKind::Unsupported`], [`Storage::keeps_alert_state`] is `false`, and
//! the pipeline keeps a ClickHouse metric's alert claims and lease in its `state:`
//! storage (PostgreSQL, MySQL or SQLite), or by default in a local SQLite file.
//! The `dtk_alerts` table created by earlier versions is left in place, unused.
//!
//! [`Storage::keeps_alert_state`]: detectk_core::Storage::keeps_alert_state

use detectk_core::{BackendError, BackendErrorKind};

use super::ClickHouseStorage;

impl ClickHouseStorage {
    /// The error every alert-state method returns.
    pub(super) fn no_alert_state(&self, what: &str) -> BackendError {
        self.error(
            BackendErrorKind::Unsupported,
            format!(
                "ClickHouse storage cannot {what}: it has no compare-and-set, so alert claims and \
                 the alert lease are kept in the metric's `state:` storage (PostgreSQL, MySQL or SQLite)"
            ),
        )
    }
}
