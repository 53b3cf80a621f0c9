//! Alert holds (`dtk_alert_holds`): snoozes and acknowledgements set by `dtk snooze`
//! and `dtk ack`, kept in the alert-state storage so every runner sees them.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What holds a metric's alerts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HoldKind {
    /// `dtk snooze`: no alert of any kind until the hold expires.
    Snooze,
    /// `dtk ack`: no repeated anomaly alert until the metric is normal again.
    Ack,
}

impl HoldKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Snooze => "snooze",
            HoldKind::Ack => "ack",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "snooze" => Some(Self::Snooze),
            "ack" => Some(Self::Ack),
            _ => None,
        }
    }
}

/// One hold of a metric: at most one per metric and kind (setting it again replaces it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AlertHold {
    /// Metric name.
    pub metric: String,
    /// Snooze or acknowledgement.
    pub kind: HoldKind,
    /// When it was set.
    pub created_at: DateTime<Utc>,
    /// When it stops holding (a snooze); `None` until the metric recovers (an ack).
    pub until: Option<DateTime<Utc>>,
    /// Why, as the user wrote it.
    pub reason: Option<String>,
}

impl AlertHold {
    /// A hold of `metric` set at `created_at`.
    pub fn new(metric: impl Into<String>, kind: HoldKind, created_at: DateTime<Utc>) -> Self {
        Self {
            metric: metric.into(),
            kind,
            created_at,
            until: None,
            reason: None,
        }
    }

    /// Sets when the hold expires.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    /// Whether the hold still holds at `now` (an ack has no expiry).
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| u > now)
    }
}
