//! From stored data to what a report shows: anomalies, alerts sent and suppressed (with
//! the alert policy's reason), missing points, and the metric's status.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::alert::AlertSettings;
use detectk_core::backtest::replay_policy_explained;
use detectk_core::{DetectionRecord, Direction};

use crate::model::{MetricData, Period};

/// Health of a metric in the fleet summary, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Its data could not be read.
    Failed,
    /// Nothing stored yet.
    NoData,
    /// The newest point is older than two intervals plus the delay.
    Stale,
    /// Some detector flags the newest point.
    Anomalous,
    /// Up to date and normal.
    Ok,
}

impl Status {
    /// Short lower-case name, also the CSS class.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::NoData => "no data",
            Status::Stale => "stale",
            Status::Anomalous => "anomalous",
            Status::Ok => "ok",
        }
    }
}

/// What happened to the alert about a flagged point.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AlertOutcome {
    /// An alert was sent (the detections carry `alert_sent`).
    Sent,
    /// No alert was sent, and why.
    Suppressed(String),
}

/// A point some detector flagged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AnomalyEvent {
    /// The point.
    pub timestamp: DateTime<Utc>,
    /// Its value.
    pub value: Option<f64>,
    /// The detectors that flagged it.
    pub detectors: Vec<String>,
    /// Side of the deviation (of the first detector that says).
    pub direction: Option<Direction>,
    /// Whether an alert went out.
    pub outcome: AlertOutcome,
}

/// A metric ready to draw: its data with the events found in it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MetricView<'a> {
    /// The data.
    pub data: &'a MetricData,
    /// Flagged points, by time (none dropped).
    pub anomalies: Vec<AnomalyEvent>,
    /// Alerts sent about points no detector flags (recovery messages), by time.
    pub other_alerts: Vec<DateTime<Utc>>,
    /// Missing intervals of the period: stored as missing, or absent between stored points.
    pub missing: Vec<DateTime<Utc>>,
    /// Health.
    pub status: Status,
    /// How far the newest stored interval's end lies behind the report time.
    pub lag: Option<TimeDelta>,
}

impl MetricView<'_> {
    /// Anomaly alerts sent in the period.
    pub fn alerts_sent(&self) -> usize {
        self.anomalies
            .iter()
            .filter(|a| a.outcome == AlertOutcome::Sent)
            .count()
            + self.other_alerts.len()
    }

    /// Flagged points with no alert.
    pub fn suppressed(&self) -> usize {
        self.anomalies
            .iter()
            .filter(|a| matches!(a.outcome, AlertOutcome::Suppressed(_)))
            .count()
    }
}

/// Finds the events of `data` over `period`.
pub fn analyze<'a>(data: &'a MetricData, period: &Period) -> MetricView<'a> {
    let by_time = group(&data.detections);
    let holds = why_held(data);
    let mut anomalies = Vec::new();
    let mut other_alerts = Vec::new();
    for (t, records) in &by_time {
        let flagged: Vec<&DetectionRecord> = records
            .iter()
            .copied()
            .filter(|r| r.detection.is_anomaly)
            .collect();
        let sent = records.iter().any(|r| r.alert_sent);
        if flagged.is_empty() {
            if sent {
                other_alerts.push(*t);
            }
            continue;
        }
        let outcome = if sent {
            AlertOutcome::Sent
        } else if let Some(reason) = data.held_by_user.get(t) {
            AlertOutcome::Suppressed(reason.clone())
        } else {
            AlertOutcome::Suppressed(suppression_reason(data.alert.as_ref(), holds.get(t)))
        };
        anomalies.push(AnomalyEvent {
            timestamp: *t,
            value: flagged[0].detection.value,
            detectors: flagged.iter().map(|r| r.detector_id.clone()).collect(),
            direction: flagged.iter().find_map(|r| r.detection.direction),
            outcome,
        });
    }
    let lag = data.last_point.map(|last| {
        let end = last.checked_add_signed(data.interval).unwrap_or(last);
        (period.now - end).max(TimeDelta::zero())
    });
    let newest_flagged = data
        .points
        .last()
        .and_then(|p| by_time.get(&p.timestamp))
        .is_some_and(|records| records.iter().any(|r| r.detection.is_anomaly));
    let stale_after = data.interval * 2 + data.delay;
    let status = match lag {
        None => Status::NoData,
        Some(l) if l > stale_after => Status::Stale,
        Some(_) if newest_flagged => Status::Anomalous,
        Some(_) => Status::Ok,
    };
    MetricView {
        data,
        anomalies,
        other_alerts,
        missing: missing_slots(data),
        status,
        lag,
    }
}

fn group(records: &[DetectionRecord]) -> BTreeMap<DateTime<Utc>, Vec<&DetectionRecord>> {
    let mut by_time: BTreeMap<DateTime<Utc>, Vec<&DetectionRecord>> = BTreeMap::new();
    for r in records {
        by_time.entry(r.detection.timestamp).or_default().push(r);
    }
    by_time
}

/// The policy's reason at each flagged point it held, from a replay over the stored
/// detections (the same decision code as `dtk run`).
fn why_held(data: &MetricData) -> HashMap<DateTime<Utc>, String> {
    let default = AlertSettings::default();
    let settings = data.alert.as_ref().unwrap_or(&default);
    let (_, holds) = replay_policy_explained(
        settings,
        &data.detector_ids,
        &data.detections,
        data.interval,
        (None, None),
    );
    holds.into_iter().map(|h| (h.timestamp, h.reason)).collect()
}

fn suppression_reason(settings: Option<&AlertSettings>, held: Option<&String>) -> String {
    match (settings, held) {
        (None, _) => "no alerter configured".into(),
        (Some(s), _) if !s.enabled => "alerter.enabled is false".into(),
        (Some(_), Some(reason)) => reason.clone(),
        (Some(_), None) => "the policy alerts here, but no alert was recorded (loaded by backfill or a dry run, or the delivery failed)".into(),
    }
}

/// Missing intervals: points stored as missing, and grid slots absent between two
/// stored points (capped at a million slots per gap, as a guard).
fn missing_slots(data: &MetricData) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let step = data.interval;
    let mut previous: Option<DateTime<Utc>> = None;
    for p in &data.points {
        if step > TimeDelta::zero()
            && let Some(prev) = previous
        {
            let mut t = prev + step;
            let mut guard = 0;
            while t < p.timestamp && guard < 1_000_000 {
                out.push(t);
                t += step;
                guard += 1;
            }
        }
        if p.is_missing || p.present_value().is_none() {
            out.push(p.timestamp);
        }
        previous = Some(p.timestamp);
    }
    out
}
