//! The alert policy as a pure function: given the detections of the newest points
//! and the last alerts sent, decide whether to send an anomaly alert, a recovery
//! message, or nothing (and why).
//!
//! Everything here is deterministic in its inputs: time is measured between point
//! timestamps, never with the wall clock, so replaying a run gives the same answer.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::alert::settings::{AlertSettings, DirectionFilter};
use crate::alert::text::format_time;
use crate::model::{DetectionRecord, Direction};

/// What the policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// The configured policy.
    pub settings: &'a AlertSettings,
    /// IDs of the metric's configured detectors (agreement counts against these).
    pub detector_ids: &'a [String],
    /// Detections of the newest points (stored and fresh), any order.
    pub detections: &'a [DetectionRecord],
    /// Timestamp of the newest point.
    pub newest: DateTime<Utc>,
    /// The metric's interval (spacing of consecutive points).
    pub interval: TimeDelta,
    /// Timestamp of the point of the newest sent anomaly alert.
    pub last_anomaly_alert: Option<DateTime<Utc>>,
    /// Timestamp of the point of the newest sent recovery message.
    pub last_recovery_alert: Option<DateTime<Utc>>,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send an anomaly alert about these detections of the newest point.
    Anomaly {
        /// The newest point's detections that satisfy the conditions.
        detections: Vec<DetectionRecord>,
        /// Anomalous points in a row, ending at the newest (at least the required count).
        consecutive: u32,
    },
    /// Send a recovery message: the newest point is normal after an anomaly alert.
    Recovery {
        /// The newest point's detections.
        detections: Vec<DetectionRecord>,
        /// Timestamp of the anomaly alert the metric recovered from.
        recovered_from: DateTime<Utc>,
    },
    /// Send nothing.
    Hold(String),
}

/// The longest run of anomalous points an alert message counts ("Anomalous points
/// in a row"); a longer run is reported as this many.
pub const MAX_COUNTED_RUN: u32 = 100;

/// How many newest points (the newest included) the policy looks at: what the alert
/// step must load so that [`decide`] sees every point it needs, including the whole
/// run of anomalies it reports (up to [`MAX_COUNTED_RUN`]).
pub fn lookback_points(settings: &AlertSettings) -> u32 {
    settings
        .consecutive_anomalies
        .max(settings.min_anomaly_share.map_or(1, |s| s.n))
        .max(MAX_COUNTED_RUN)
}

/// The value a detection expected: its `expected`, `median` or `mean` statistic,
/// else the middle of its bounds (when both are set).
pub fn expected_value(detection: &crate::model::Detection) -> Option<f64> {
    ["expected", "median", "mean"]
        .iter()
        .find_map(|k| detection.stats.get(*k).and_then(|v| v.as_f64()))
        .or(match (detection.lower_bound, detection.upper_bound) {
            (Some(lo), Some(hi)) => Some((lo + hi) / 2.0),
            _ => None,
        })
}

/// Whether one detection satisfies the per-detection conditions (anomalous, scored,
/// direction, `min_deviation_percent`, `min_value`, `min_abs_deviation`, `min_score`,
/// `severity`).
pub fn qualifies(settings: &AlertSettings, record: &DetectionRecord) -> bool {
    let d = &record.detection;
    if !d.is_anomaly || d.skipped.is_some() {
        return false;
    }
    let direction_ok = match settings.direction {
        DirectionFilter::Both | DirectionFilter::One => true,
        DirectionFilter::Up => d.direction == Some(Direction::Up),
        DirectionFilter::Down => d.direction == Some(Direction::Down),
    };
    let deviation_ok = match settings.min_deviation_percent {
        None => true,
        Some(min) => d.percent_deviation.is_some_and(|p| p.abs() >= min),
    };
    let value_ok = match settings.min_value {
        None => true,
        Some(min) => d.value.is_some_and(|v| v >= min),
    };
    let abs_ok = match settings.min_abs_deviation {
        None => true,
        Some(min) => match (d.value, expected_value(d)) {
            (Some(v), Some(e)) => (v - e).abs() >= min,
            // Without an expected value the floor cannot be checked: do not page.
            _ => false,
        },
    };
    let score_ok = match settings.min_score {
        None => true,
        Some(min) => d.score.is_some_and(|s| s.abs() >= min),
    };
    let severity_ok = match settings.min_severity {
        None => true,
        Some(min) => {
            settings
                .severity_cutoffs
                .level(d.score, d.percent_deviation)
                >= min
        }
    };
    direction_ok && deviation_ok && value_ok && abs_ok && score_ok && severity_ok
}

struct Points<'a> {
    by_time: HashMap<DateTime<Utc>, Vec<&'a DetectionRecord>>,
    detector_ids: Vec<&'a str>,
}

impl<'a> Points<'a> {
    fn new(input: &PolicyInput<'a>) -> Self {
        let mut detector_ids: Vec<&str> = input.detector_ids.iter().map(String::as_str).collect();
        if detector_ids.is_empty() {
            detector_ids = input
                .detections
                .iter()
                .map(|r| r.detector_id.as_str())
                .collect();
            detector_ids.sort_unstable();
            detector_ids.dedup();
        }
        let mut by_time: HashMap<DateTime<Utc>, Vec<&DetectionRecord>> = HashMap::new();
        for r in input.detections {
            if detector_ids.contains(&r.detector_id.as_str()) {
                by_time.entry(r.detection.timestamp).or_default().push(r);
            }
        }
        for records in by_time.values_mut() {
            records.sort_by_key(|r| {
                detector_ids
                    .iter()
                    .position(|id| *id == r.detector_id)
                    .unwrap_or(usize::MAX)
            });
        }
        Self {
            by_time,
            detector_ids,
        }
    }

    fn at(&self, t: DateTime<Utc>) -> &[&'a DetectionRecord] {
        self.by_time.get(&t).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The qualifying detections at `t`, when enough detectors agree.
    fn agreeing(
        &self,
        settings: &AlertSettings,
        t: DateTime<Utc>,
    ) -> Option<Vec<&'a DetectionRecord>> {
        let fired: Vec<&DetectionRecord> = self
            .at(t)
            .iter()
            .copied()
            .filter(|r| qualifies(settings, r))
            .collect();
        settings
            .agreement
            .is_met(fired.len(), self.detector_ids.len())
            .then_some(fired)
    }
}

/// Decides what to send for the newest point.
pub fn decide(input: &PolicyInput<'_>) -> Decision {
    let settings = input.settings;
    let points = Points::new(input);
    let newest = points.at(input.newest);
    if newest.is_empty() {
        return Decision::Hold("no detection for the newest point".into());
    }
    let Some(fired) = points.agreeing(settings, input.newest) else {
        return not_alerting(input, &points, newest);
    };

    let required = settings.consecutive_anomalies.max(1);
    // The whole run (up to MAX_COUNTED_RUN points), so the message counts it truly.
    let limit = required.max(MAX_COUNTED_RUN);
    let mut run = vec![fired.clone()];
    while (run.len() as u32) < limit {
        let back = i32::try_from(run.len())
            .ok()
            .and_then(|n| input.interval.checked_mul(n));
        let Some(t) = back.and_then(|b| input.newest.checked_sub_signed(b)) else {
            break;
        };
        match points.agreeing(settings, t) {
            Some(f) => run.push(f),
            None => break,
        }
    }
    if (run.len() as u32) < required {
        return Decision::Hold(format!(
            "{} of {required} consecutive anomalous points",
            run.len()
        ));
    }
    if let Some(share) = settings.min_anomaly_share {
        let anomalous = (0..share.n)
            .filter(|i| {
                (*i as usize) < run.len()
                    || points
                        .agreeing(settings, input.newest - input.interval * *i as i32)
                        .is_some()
            })
            .count() as u32;
        if anomalous < share.k {
            return Decision::Hold(format!(
                "{anomalous} of the last {} points are anomalous; min_anomaly_share needs {}",
                share.n, share.k
            ));
        }
    }
    if settings.direction == DirectionFilter::One {
        let required_run = &run[..required as usize];
        let mut directions = required_run
            .iter()
            .flatten()
            .filter_map(|r| r.detection.direction);
        if let Some(first) = directions.next()
            && directions.any(|d| d != first)
        {
            return Decision::Hold(
                "the consecutive anomalies go in different directions (direction: one)".into(),
            );
        }
    }
    if let Some(last) = input.last_anomaly_alert {
        if last == input.newest {
            return Decision::Hold("an alert for this point was already sent".into());
        }
        let cooldown = i64::try_from(settings.cooldown_minutes)
            .ok()
            .and_then(TimeDelta::try_minutes)
            .unwrap_or(TimeDelta::MAX);
        let gap = (input.newest - last).abs();
        if gap < cooldown {
            return Decision::Hold(format!(
                "cooldown: the last alert was for {} ({} of {} minutes)",
                format_time(last),
                gap.num_minutes(),
                settings.cooldown_minutes
            ));
        }
    }
    Decision::Anomaly {
        detections: fired.into_iter().cloned().collect(),
        consecutive: run.len() as u32,
    }
}

/// The newest point does not warrant an anomaly alert: a recovery, or why nothing.
fn not_alerting(
    input: &PolicyInput<'_>,
    points: &Points<'_>,
    newest: &[&DetectionRecord],
) -> Decision {
    let flagged = newest.iter().filter(|r| r.detection.is_anomaly).count();
    let scored = newest
        .iter()
        .filter(|r| r.detection.skipped.is_none())
        .count();
    if flagged > 0 {
        let qualifying = newest
            .iter()
            .filter(|r| qualifies(input.settings, r))
            .count();
        return Decision::Hold(if qualifying == 0 {
            format!(
                "{flagged} detector(s) flag the newest point, but not as the conditions require (direction, min_deviation_percent, min_score, severity, ...)"
            )
        } else {
            format!(
                "{qualifying} of {} detectors agree; agreement `{}` is not met",
                points.detector_ids.len(),
                input.settings.agreement.as_str()
            )
        });
    }
    if scored == 0 {
        return Decision::Hold(
            "the newest point was not scored (too little history or missing)".into(),
        );
    }
    if input.settings.notify_recovery
        && let Some(alerted) = input.last_anomaly_alert
        && alerted < input.newest
        && input.last_recovery_alert.is_none_or(|r| r < alerted)
    {
        return Decision::Recovery {
            detections: newest.iter().map(|r| (*r).clone()).collect(),
            recovered_from: alerted,
        };
    }
    Decision::Hold("the newest point is normal".into())
}

#[cfg(test)]
mod tests;
