//! Argument structs of the storage methods, so a method can gain a field without
//! breaking implementors or callers (build them with `new` and the setters).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AlertStatus;
use crate::traits::AlertKind;

/// Arguments of [`SeriesStore::load_datapoints`](super::SeriesStore::load_datapoints):
/// the points of `metric` in the half-open range `[from, to)`, ascending.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadDatapoints {
    /// Metric name.
    pub metric: String,
    /// Range start (inclusive).
    pub from: DateTime<Utc>,
    /// Range end (exclusive).
    pub to: DateTime<Utc>,
}

impl LoadDatapoints {
    /// Points of `metric` with `from <= timestamp < to`.
    pub fn new(metric: impl Into<String>, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            metric: metric.into(),
            from,
            to,
        }
    }
}

/// Arguments of [`DetectionStore::load_detections`](super::DetectionStore::load_detections):
/// the detections of `metric` in `[from, to)`, of one detector or all.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadDetections {
    /// Metric name.
    pub metric: String,
    /// Only this detector's detections; all detectors' when `None`.
    pub detector_id: Option<String>,
    /// Range start (inclusive).
    pub from: DateTime<Utc>,
    /// Range end (exclusive).
    pub to: DateTime<Utc>,
    /// Before this time only anomalous detections are wanted (from it on, all are). A
    /// hint: a storage may return the others too, so callers must not rely on their
    /// absence; it saves reading and decoding the normal rows.
    pub anomalies_only_before: Option<DateTime<Utc>>,
}

impl LoadDetections {
    /// Detections of every detector of `metric` with `from <= timestamp < to`.
    pub fn new(metric: impl Into<String>, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            metric: metric.into(),
            detector_id: None,
            from,
            to,
            anomalies_only_before: None,
        }
    }

    /// Only the detections of detector `id`.
    pub fn detector(mut self, id: impl Into<String>) -> Self {
        self.detector_id = Some(id.into());
        self
    }

    /// Only anomalous detections are wanted before `t` (see
    /// [`LoadDetections::anomalies_only_before`]).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use detectk_core::traits::LoadDetections;
    ///
    /// let (from, at) = (Utc.timestamp_opt(0, 0).unwrap(), Utc.timestamp_opt(600, 0).unwrap());
    /// let op = LoadDetections::new("orders", from, at).anomalies_only_before(at);
    /// assert_eq!(op.anomalies_only_before, Some(at));
    /// ```
    pub fn anomalies_only_before(mut self, t: DateTime<Utc>) -> Self {
        self.anomalies_only_before = Some(t);
        self
    }
}

/// Arguments of [`DetectionStore::mark_alert_sent`](super::DetectionStore::mark_alert_sent):
/// the detections of `metric` at `timestamp` by `detector_ids`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MarkAlertSent {
    /// Metric name.
    pub metric: String,
    /// Detectors whose detections are marked.
    pub detector_ids: Vec<String>,
    /// Timestamp of the detections.
    pub timestamp: DateTime<Utc>,
}

impl MarkAlertSent {
    /// Marks the detections of `metric` at `timestamp` by `detector_ids`.
    pub fn new(
        metric: impl Into<String>,
        detector_ids: Vec<String>,
        timestamp: DateTime<Utc>,
    ) -> Self {
        Self {
            metric: metric.into(),
            detector_ids,
            timestamp,
        }
    }
}

/// Arguments of [`AlertLedger::finish_alert`](super::AlertLedger::finish_alert): how
/// the alert `key` of `metric`, claimed with `token`, ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FinishAlert {
    /// Metric name.
    pub metric: String,
    /// Unique key of the alert within the metric.
    pub key: String,
    /// The claimant's token; only the row holding it is updated.
    pub token: String,
    /// How it ended.
    pub outcome: AlertOutcome,
}

impl FinishAlert {
    /// Records `outcome` for the alert `key` of `metric` claimed with `token`.
    pub fn new(
        metric: impl Into<String>,
        key: impl Into<String>,
        token: impl Into<String>,
        outcome: AlertOutcome,
    ) -> Self {
        Self {
            metric: metric.into(),
            key: key.into(),
            token: token.into(),
            outcome,
        }
    }
}

/// Arguments of [`AlertLedger::load_alerts`](super::AlertLedger::load_alerts): the
/// alert rows of `metric` in `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadAlerts {
    /// Metric name.
    pub metric: String,
    /// Range start (inclusive), by alert timestamp.
    pub from: DateTime<Utc>,
    /// Range end (exclusive).
    pub to: DateTime<Utc>,
}

impl LoadAlerts {
    /// Alert rows of `metric` with `from <= timestamp < to`.
    pub fn new(metric: impl Into<String>, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            metric: metric.into(),
            from,
            to,
        }
    }
}

/// A request to hold a metric's alert lease: whoever holds it decides on, claims,
/// sends and records the metric's alerts, one run at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
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

impl AlertLease {
    /// `token` asks to hold the lease of `metric` from `now` until `expires_at`.
    pub fn new(
        metric: impl Into<String>,
        token: impl Into<String>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            metric: metric.into(),
            token: token.into(),
            now,
            expires_at,
        }
    }
}

/// A request to hold many leases at once for one token (see
/// [`CheckpointStore::acquire_alert_leases`](super::CheckpointStore::acquire_alert_leases)).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AlertLeases {
    /// Lease keys (`dtk_alert_leases.metric_name`), each at most once.
    pub keys: Vec<String>,
    /// Token identifying the holder (the same for every renewal).
    pub token: String,
    /// The caller's clock now: a lease with `expires_at <= now` is free.
    pub now: DateTime<Utc>,
    /// Until when the leases are held unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl AlertLeases {
    /// `token` asks to hold the leases of `keys` from `now` until `expires_at`.
    pub fn new(
        keys: Vec<String>,
        token: impl Into<String>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            keys,
            token: token.into(),
            now,
            expires_at,
        }
    }
}

/// A request to own the sending of one alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
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

impl AlertClaim {
    /// `token` claims the alert `key` (of `kind`, about the point at `timestamp`) of
    /// `metric` at `claimed_at`, taking over pending claims older than `stale_before`.
    /// No detector IDs; add them with [`AlertClaim::detectors`].
    pub fn new(
        metric: impl Into<String>,
        key: impl Into<String>,
        kind: AlertKind,
        timestamp: DateTime<Utc>,
        token: impl Into<String>,
        claimed_at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Self {
        Self {
            metric: metric.into(),
            key: key.into(),
            kind,
            timestamp,
            token: token.into(),
            claimed_at,
            stale_before,
            detector_ids: Vec::new(),
        }
    }

    /// The detector IDs behind the alert.
    pub fn detectors(mut self, detector_ids: Vec<String>) -> Self {
        self.detector_ids = detector_ids;
        self
    }
}

/// How a claimed alert ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
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

impl AlertOutcome {
    /// The alert ended with `status` at `finished_at`, with this message text.
    pub fn new(
        status: AlertStatus,
        finished_at: DateTime<Utc>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            finished_at,
            message: message.into(),
            error: None,
        }
    }

    /// The delivery error (no secrets).
    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}
