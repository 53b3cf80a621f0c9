//! What a report is made of: each metric's stored data over the period.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::alert::AlertSettings;
use detectk_core::{DataPoint, DetectionRecord};

/// The period a report covers, `[from, to)`, and the time it is made at (for lag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Period {
    /// First instant shown.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// When the report is made: lag is measured against it.
    pub now: DateTime<Utc>,
}

impl Period {
    /// A period; `from` and `to` are swapped when given in the wrong order.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let (from, to) = if to < from { (to, from) } else { (from, to) };
        Self { from, to, now }
    }
}

/// One metric's stored data over a period, and what its config says about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MetricData {
    /// Metric name.
    pub name: String,
    /// The config's `description`.
    pub description: Option<String>,
    /// The metric's interval.
    pub interval: TimeDelta,
    /// `schedule.delay`: how long after an interval ends its data is expected.
    pub delay: TimeDelta,
    /// Detector IDs in config order.
    pub detector_ids: Vec<String>,
    /// The alert policy; `None` when no alerter is configured.
    pub alert: Option<AlertSettings>,
    /// Stored points of the period, missing ones included, by time.
    pub points: Vec<DataPoint>,
    /// Stored detections of the period, by time then detector.
    pub detections: Vec<DetectionRecord>,
    /// Timestamp of the newest stored point (of any time, not only the period).
    pub last_point: Option<DateTime<Utc>>,
    /// Anomaly alerts a snooze or an ack held back (`suppressed` rows of `dtk_alerts`),
    /// by the point's time, with the hold's reason.
    pub held_by_user: BTreeMap<DateTime<Utc>, String>,
}

impl MetricData {
    /// Data with no points or detections yet (fill the fields, then analyze).
    pub fn new(name: impl Into<String>, interval: TimeDelta) -> Self {
        Self {
            name: name.into(),
            description: None,
            interval,
            delay: TimeDelta::zero(),
            detector_ids: Vec::new(),
            alert: None,
            points: Vec::new(),
            detections: Vec::new(),
            last_point: None,
            held_by_user: BTreeMap::new(),
        }
    }
}

/// A metric of the report: its data, or why it could not be read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MetricEntry {
    /// The data was read.
    Loaded(Box<MetricData>),
    /// Reading failed; the report shows the metric as failed with this text.
    Failed {
        /// Metric name.
        name: String,
        /// The error, rendered (no secrets).
        error: String,
    },
}

impl MetricEntry {
    /// The metric's name.
    pub fn name(&self) -> &str {
        match self {
            MetricEntry::Loaded(d) => &d.name,
            MetricEntry::Failed { name, .. } => name,
        }
    }
}
