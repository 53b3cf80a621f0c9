use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alert::Severity;
use crate::error::AlertError;
use crate::model::DetectionRecord;

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The metric is anomalous.
    Anomaly,
    /// The metric is back to normal after an anomaly alert.
    Recovery,
    /// A sample message from `dtk test-alert`.
    Test,
}

impl AlertKind {
    /// Stored form: `anomaly`, `recovery`, `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Anomaly => "anomaly",
            AlertKind::Recovery => "recovery",
            AlertKind::Test => "test",
        }
    }
}

/// A rendered alert, ready for a channel to shape and deliver.
///
/// The text is the plain-text message (default format or `message_template`);
/// channels with rich formatting (Slack Block Kit) may also use the detections.
#[derive(Debug, Clone, Serialize)]
pub struct AlertMessage {
    /// Metric name.
    pub metric: String,
    /// Why the message is sent.
    pub kind: AlertKind,
    /// Timestamp of the point the alert is about.
    pub timestamp: DateTime<Utc>,
    /// One-line summary, e.g. `Anomaly in sessions_10min`.
    pub title: String,
    /// The full plain-text message.
    pub text: String,
    /// The detections behind the alert (those that fired, for an anomaly).
    pub detections: Vec<DetectionRecord>,
    /// How serious the alert is (from the score and deviation cut-offs).
    pub severity: Severity,
    /// The point of the incident's first anomaly alert: for an anomaly alert or a
    /// recovery, the first anomaly alert sent since the previous recovery (an alert
    /// opening an incident names its own point). Channels that track incidents
    /// (PagerDuty's `dedup_key`) key on it. `None` for test and digest messages.
    pub incident_start: Option<DateTime<Utc>>,
}

/// Delivers alert messages to one channel.
#[async_trait]
pub trait Alerter: Send + Sync + std::fmt::Debug {
    /// Where messages go, for logs: `mattermost` (never the webhook URL).
    fn describe(&self) -> String;

    /// Delivers one message, retrying transient failures as the channel allows.
    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError>;

    /// Checks that the endpoint can be reached, sending no message, for `dtk debug`.
    /// Returns what was found (e.g. the HTTP status of a `HEAD` request). The default
    /// checks nothing and says so.
    async fn check(&self) -> Result<Option<String>, AlertError> {
        Ok(Some("no connection check for this channel".into()))
    }
}
