use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::BackendError;
use crate::model::{DataPoint, DetectionRecord};
use crate::traits::AlertKind;

/// Result of a storage operation.
pub type StorageResult<T> = Result<T, BackendError>;

/// Keeps a metric's datapoints, detections, checkpoints and alert state.
///
/// Tables (names are a contract, users query them): `dtk_datapoints`,
/// `dtk_detections`, `dtk_checkpoints`, `dtk_alerts`. Every write is idempotent:
/// writing the same rows twice leaves one copy. All times are UTC; ranges are
/// half-open `[from, to)`; results are sorted by time ascending.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Where the data is kept, for messages: `postgres 127.0.0.1:5432/db`. Never credentials.
    fn describe(&self) -> String;

    /// Connects to the storage without writing anything, for `dtk debug`. Returns what
    /// the server says about itself (e.g. its version) when that is cheap. The default
    /// reads the newest point of a metric that does not exist, which needs the tables.
    async fn check(&self) -> StorageResult<Option<String>> {
        self.last_datapoint_time("").await.map(|_| None)
    }

    /// Whether this storage keeps alert claims and the alert lease itself, atomically
    /// across processes. `false` (ClickHouse: no compare-and-set) means the alert
    /// methods fail and a metric must keep its alert state in a `state:` storage.
    fn keeps_alert_state(&self) -> bool {
        true
    }

    /// Creates the `dtk_*` tables if needed and migrates them forward. Idempotent and
    /// safe to call from several processes at once.
    async fn migrate(&self) -> StorageResult<()>;

    /// Inserts or replaces points, keyed by `(metric, timestamp)`; `loaded_at` is now.
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()>;

    /// Points of `metric` with `from <= timestamp < to`, sorted ascending.
    async fn load_datapoints(
        &self,
        metric: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StorageResult<Vec<DataPoint>>;

    /// Timestamp of the newest stored point of `metric`, missing points included.
    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>>;

    /// Inserts or replaces detections, keyed by `(metric, detector_id, timestamp)`.
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()>;

    /// Detections of `metric` (of one detector, or all when `None`) with
    /// `from <= timestamp < to`, sorted by timestamp then detector ID.
    async fn load_detections(
        &self,
        metric: &str,
        detector_id: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StorageResult<Vec<DetectionRecord>>;

    /// Timestamp of the newest stored detection of `metric` by `detector_id`.
    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>>;

    /// Sets `alert_sent = true` on the detections of `metric` at `timestamp` by these detectors.
    async fn mark_alert_sent(
        &self,
        metric: &str,
        detector_ids: &[String],
        timestamp: DateTime<Utc>,
    ) -> StorageResult<()>;

    /// A named progress marker of `metric` (e.g. job `backfill`), if set.
    async fn get_checkpoint(&self, metric: &str, job: &str)
    -> StorageResult<Option<DateTime<Utc>>>;

    /// Sets (replaces) a named progress marker.
    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()>;

    /// Removes a named progress marker.
    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()>;

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

    /// Records how a claimed alert ended (only the row holding `token` is updated).
    async fn finish_alert(
        &self,
        metric: &str,
        key: &str,
        token: &str,
        outcome: &AlertOutcome,
    ) -> StorageResult<()>;

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

    /// Acquires (or renews) the per-metric alert lease for `lease.token`, atomically.
    ///
    /// Succeeds, and sets the lease to `lease.token` until `lease.expires_at`, when no
    /// lease exists for the metric, when the existing one has expired
    /// (`expires_at <= lease.now`), or when it is already held by `lease.token` (so a
    /// renewal, or a retried acquire whose first attempt succeeded, succeeds).
    /// Returns `false`, changing nothing, when another token holds an unexpired lease.
    /// Exactly one of any number of racing callers wins. Table `dtk_alert_leases`.
    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool>;

    /// Releases the lease of `metric` if `token` holds it (otherwise does nothing).
    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()>;

    /// Deletes datapoints and detections of `metric` older than `before`; returns rows removed
    /// (backends that cannot count return 0).
    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64>;
}

/// A request to hold a metric's alert lease: whoever holds it decides on, claims,
/// sends and records the metric's alerts, one run at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertLease {
    /// Metric name.
    pub metric: String,
    /// Token identifying the holder (the same for every renewal).
    pub token: String,
    /// The caller's clock now: a lease with `expires_at <= now` is free.
    pub now: DateTime<Utc>,
    /// Until when the lease is held unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// A request to own the sending of one alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertClaim {
    /// Metric name.
    pub metric: String,
    /// Unique key of the alert within the metric, e.g. `anomaly:2024-01-01T10:00:00Z`.
    pub key: String,
    /// Why the alert is sent.
    pub kind: AlertKind,
    /// Timestamp of the point the alert is about.
    pub timestamp: DateTime<Utc>,
    /// Random token identifying this claimant.
    pub token: String,
    /// When the claim is made (wall clock).
    pub claimed_at: DateTime<Utc>,
    /// A `pending` claim older than this is considered abandoned.
    pub stale_before: DateTime<Utc>,
    /// Detector IDs behind the alert.
    pub detector_ids: Vec<String>,
}

/// Status of an alert row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Claimed, being sent.
    Pending,
    /// Delivered.
    Sent,
    /// Delivery failed; a later run may claim it again.
    Failed,
}

impl AlertStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Sent => "sent",
            AlertStatus::Failed => "failed",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// How a claimed alert ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertOutcome {
    /// `Sent` or `Failed`.
    pub status: AlertStatus,
    /// When it ended (wall clock).
    pub finished_at: DateTime<Utc>,
    /// The message text that was (or would have been) sent.
    pub message: String,
    /// The error, when delivery failed (no secrets).
    pub error: Option<String>,
}

/// A stored alert row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    /// Metric name.
    pub metric: String,
    /// Unique key within the metric.
    pub key: String,
    /// Why it was sent.
    pub kind: AlertKind,
    /// Timestamp of the point the alert is about.
    pub timestamp: DateTime<Utc>,
    /// Current status.
    pub status: AlertStatus,
    /// When it was sent, for `Sent`.
    pub sent_at: Option<DateTime<Utc>>,
    /// Detector IDs behind the alert.
    pub detector_ids: Vec<String>,
}
