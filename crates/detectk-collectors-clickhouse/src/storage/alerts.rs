//! Alert state and ClickHouse: none is kept here.
//!
//! ClickHouse 18.16 has no unique constraint, no compare-and-set and no linearizable
//! table engine, so it cannot decide atomically which of two racing runs sends an
//! alert. Every alert-ledger and alert-lease method of the ClickHouse storage therefore fails with
//! [`BackendErrorKind::Unsupported`], [`Storage::keeps_alert_state`] is `false`, and
//! the pipeline keeps a ClickHouse metric's alert claims and lease in its `state:`
//! storage (PostgreSQL, MySQL or SQLite), or by default in a local SQLite file.
//! The `dtk_alerts` table created by earlier versions is left in place, unused.
//!
//! [`Storage::keeps_alert_state`]: detectk_core::Storage::keeps_alert_state

use detectk_core::traits::{
    AlertClaim, AlertHold, AlertKind, AlertLedger, AlertRecord, FinishAlert, HoldKind, LoadAlerts,
    StorageResult,
};
use detectk_core::{BackendError, BackendErrorKind, async_trait};

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

#[async_trait]
impl AlertLedger for ClickHouseStorage {
    async fn claim_alert(&self, _claim: &AlertClaim) -> StorageResult<bool> {
        Err(self.no_alert_state("claim alerts"))
    }

    async fn finish_alert(&self, _op: &FinishAlert) -> StorageResult<()> {
        Err(self.no_alert_state("record alerts"))
    }

    async fn last_sent_alert(
        &self,
        _metric: &str,
        _kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        Err(self.no_alert_state("read alerts"))
    }

    async fn latest_alert(
        &self,
        _metric: &str,
        _kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        Err(self.no_alert_state("read alerts"))
    }

    async fn load_alerts(&self, _op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        Err(self.no_alert_state("read alerts"))
    }

    async fn put_alert_hold(&self, _hold: &AlertHold) -> StorageResult<()> {
        Err(self.no_alert_state("keep alert holds"))
    }

    async fn remove_alert_hold(&self, _metric: &str, _kind: HoldKind) -> StorageResult<bool> {
        Err(self.no_alert_state("keep alert holds"))
    }

    async fn load_alert_holds(&self, _metric: &str) -> StorageResult<Vec<AlertHold>> {
        Err(self.no_alert_state("read alert holds"))
    }
}
