//! What the alert ledger returns: alert rows and their status.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::traits::AlertKind;

/// Status of an alert row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertStatus {
    /// Claimed, being sent.
    Pending,
    /// Delivered.
    Sent,
    /// Delivery failed; a later run may claim it again.
    Failed,
    /// Held back by a snooze or an ack (`error` says which); never sent, never retried.
    Suppressed,
}

impl AlertStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Sent => "sent",
            AlertStatus::Failed => "failed",
            AlertStatus::Suppressed => "suppressed",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            "suppressed" => Some(Self::Suppressed),
            _ => None,
        }
    }
}

/// A stored alert row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
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
    /// The row's `error`: why delivery failed (`Failed`), or which snooze or ack held
    /// the alert back (`Suppressed`).
    pub error: Option<String>,
}

impl AlertRecord {
    /// An alert row as a storage reads it back.
    pub fn new(
        metric: impl Into<String>,
        key: impl Into<String>,
        kind: AlertKind,
        timestamp: DateTime<Utc>,
        status: AlertStatus,
        sent_at: Option<DateTime<Utc>>,
        detector_ids: Vec<String>,
    ) -> Self {
        Self {
            metric: metric.into(),
            key: key.into(),
            kind,
            timestamp,
            status,
            sent_at,
            detector_ids,
            error: None,
        }
    }

    /// The record with its `error` column.
    pub fn with_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}
