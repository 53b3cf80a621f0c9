//! The alert ledger: `dtk_alerts`, and the holds of `dtk_alert_holds`.

use async_trait::async_trait;

use super::{AlertClaim, AlertHold, AlertRecord, FinishAlert, HoldKind, LoadAlerts, StorageResult};
use crate::traits::AlertKind;

/// The alert ledger: `dtk_alerts`, one row per alert key of a metric.
#[async_trait]
pub trait AlertLedger: Send + Sync + std::fmt::Debug {
    /// Atomically claims the right to send the alert `claim.key` of `claim.metric`.
    ///
    /// Returns `true` to exactly one caller among processes racing for the same key:
    /// when no row exists for the key, or the existing row is `failed`, or it is
    /// `pending` with `claimed_at` older than `claim.stale_before` (its owner died).
    /// Also returns `true` when the row is `pending` with `claim.token` already (a
    /// retried claim whose first attempt succeeded recognises its own token).
    /// Returns `false` when the key is `sent` or freshly `pending` elsewhere.
    /// The winning row is `pending` with `claim.token`.
    async fn claim_alert(&self, claim: &AlertClaim) -> StorageResult<bool>;

    /// Records how a claimed alert ended (only the row holding `op.token` is updated).
    async fn finish_alert(&self, op: &FinishAlert) -> StorageResult<()>;

    /// The newest alert of `metric` with status `sent` (by `timestamp`), optionally of one kind.
    async fn last_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>>;

    /// The newest alert row of `metric` of `kind` by alert time, whatever its status
    /// (`pending`, `sent` or `failed`). Used to find an alert that was never delivered.
    async fn latest_alert(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>>;

    /// Alert rows of `op.metric` with `op.from <= timestamp < op.to`, any status,
    /// sorted by timestamp then key (for reports and listings).
    async fn load_alerts(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>>;

    /// Sets `hold` (replacing the metric's hold of the same kind).
    async fn put_alert_hold(&self, hold: &AlertHold) -> StorageResult<()>;

    /// Removes the hold of `metric` of `kind`; returns whether there was one.
    async fn remove_alert_hold(&self, metric: &str, kind: HoldKind) -> StorageResult<bool>;

    /// The holds of `metric`, expired ones included, sorted by kind.
    async fn load_alert_holds(&self, metric: &str) -> StorageResult<Vec<AlertHold>>;
}
