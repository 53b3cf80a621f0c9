//! The replay engine: production detection over a range, then the production alert
//! policy point by point with the alert state kept in memory.
//!
//! Detection is one [`Detector::detect`] call over the whole range, exactly as
//! `dtk backfill` makes it; by the trait's split invariance (a point sees only the
//! points before it) this equals the detections of consecutive `dtk run`s. The
//! policy is `decide` called for every point in time order with the detections of
//! the points the alert step would load (`lookback_points`) and the newest sent
//! anomaly / recovery alert as the storage ledger would hold them after each run.

use chrono::{DateTime, TimeDelta, Utc};

use crate::alert::{AlertSettings, Decision, PolicyInput, decide, lookback_points};
use crate::model::{DataPoint, Detection, DetectionRecord};
use crate::pipeline::history_span;
use crate::traits::{DetectionContext, Detector};

/// Scores the points of `series` with `from <= t < to` with `detector`, against the
/// history before each (as much of `series` before `from` as the detector's window
/// needs, as the run loads it). Returns the detections in order; an error says how
/// the detector broke its contract.
pub fn detect_range(
    detector: &dyn Detector,
    series: &[DataPoint],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ctx: &DetectionContext,
) -> Result<Vec<Detection>, String> {
    let first = series.partition_point(|p| p.timestamp < from);
    let end = series.partition_point(|p| p.timestamp < to);
    if first >= end {
        return Ok(Vec::new());
    }
    let window_start = from - history_span(&detector.window(), ctx.interval);
    let start = series.partition_point(|p| p.timestamp < window_start);
    let detections = detector.detect(&series[start..end], first - start, ctx);
    if detections.len() != end - first {
        return Err(format!(
            "returned {} results for {} points",
            detections.len(),
            end - first
        ));
    }
    Ok(detections)
}

/// An alert the replayed policy sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ReplayedAlert {
    /// The point the alert is about.
    pub timestamp: DateTime<Utc>,
    /// `anomaly` or `recovery`.
    pub kind: crate::traits::AlertKind,
    /// For anomalies: anomalous points in a row (as the message says).
    pub consecutive: u32,
    /// Detector IDs behind the alert.
    pub detector_ids: Vec<String>,
}

/// Replays the alert policy over `records` (every detection of the replayed range,
/// sorted by timestamp; any detector order within a timestamp), deciding for every
/// distinct timestamp in order as the run at that point would have.
///
/// `last_anomaly` / `last_recovery` are the ledger's state before the range.
pub fn replay_policy(
    settings: &AlertSettings,
    detector_ids: &[String],
    records: &[DetectionRecord],
    interval: TimeDelta,
    last_anomaly: Option<DateTime<Utc>>,
    last_recovery: Option<DateTime<Utc>>,
) -> Vec<ReplayedAlert> {
    let ledger = (last_anomaly, last_recovery);
    replay_with_holds(settings, detector_ids, records, interval, ledger, |_| {})
}

/// A flagged point the replayed policy did not alert on, and why (the policy's words).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplayedHold {
    /// The point.
    pub timestamp: DateTime<Utc>,
    /// Why no alert was sent, e.g. `cooldown: the last alert was for ...`.
    pub reason: String,
}

/// [`replay_policy`], and also the reason the policy held at every point some detector
/// flagged (for reports that show suppressed alerts). `ledger` is the newest sent
/// anomaly and recovery alert before the range.
pub fn replay_policy_explained(
    settings: &AlertSettings,
    detector_ids: &[String],
    records: &[DetectionRecord],
    interval: TimeDelta,
    ledger: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> (Vec<ReplayedAlert>, Vec<ReplayedHold>) {
    let mut holds = Vec::new();
    let alerts = replay_with_holds(settings, detector_ids, records, interval, ledger, |h| {
        holds.push(h)
    });
    (alerts, holds)
}

fn replay_with_holds(
    settings: &AlertSettings,
    detector_ids: &[String],
    records: &[DetectionRecord],
    interval: TimeDelta,
    (mut last_anomaly, mut last_recovery): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    mut on_hold: impl FnMut(ReplayedHold),
) -> Vec<ReplayedAlert> {
    let lookback = lookback_points(settings).max(1) as i32;
    let span = interval * (lookback - 1);
    let mut alerts = Vec::new();
    let mut lo = 0;
    let mut i = 0;
    while i < records.len() {
        let newest = records[i].detection.timestamp;
        let mut hi = i;
        while hi < records.len() && records[hi].detection.timestamp == newest {
            hi += 1;
        }
        let from = newest - span;
        while records[lo].detection.timestamp < from {
            lo += 1;
        }
        // A point no detector flags can only lead to a recovery message; when none is
        // due, `decide` holds: skip it (the answer is the same, and most points are normal).
        let flagged = records[i..hi].iter().any(|r| r.detection.is_anomaly);
        let recovery_due = settings.notify_recovery
            && last_anomaly.is_some_and(|a| last_recovery.is_none_or(|r| r < a));
        if !flagged && !recovery_due {
            i = hi;
            continue;
        }
        let decision = decide(&PolicyInput {
            settings,
            detector_ids,
            detections: &records[lo..hi],
            newest,
            interval,
            last_anomaly_alert: last_anomaly,
            last_recovery_alert: last_recovery,
        });
        match decision {
            Decision::Anomaly {
                detections,
                consecutive,
            } => {
                last_anomaly = Some(newest);
                alerts.push(ReplayedAlert {
                    timestamp: newest,
                    kind: crate::traits::AlertKind::Anomaly,
                    consecutive,
                    detector_ids: detections.into_iter().map(|r| r.detector_id).collect(),
                });
            }
            Decision::Recovery { detections, .. } => {
                last_recovery = Some(newest);
                alerts.push(ReplayedAlert {
                    timestamp: newest,
                    kind: crate::traits::AlertKind::Recovery,
                    consecutive: 1,
                    detector_ids: detections.into_iter().map(|r| r.detector_id).collect(),
                });
            }
            Decision::Hold(reason) => {
                if flagged {
                    on_hold(ReplayedHold {
                        timestamp: newest,
                        reason,
                    });
                }
            }
        }
        i = hi;
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{Map, json};

    use crate::model::{Context, Direction};

    const STEP: TimeDelta = TimeDelta::minutes(10);

    fn t(i: i32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap() + STEP * i
    }

    fn record(i: i32, anomalous: bool) -> DetectionRecord {
        DetectionRecord {
            metric: "m".into(),
            detector_id: "a".into(),
            detector_type: "mad".into(),
            detector_params: json!({}),
            detection: Detection {
                timestamp: t(i),
                value: Some(if anomalous { 200.0 } else { 100.0 }),
                is_anomaly: anomalous,
                score: Some(1.0),
                lower_bound: Some(90.0),
                upper_bound: Some(110.0),
                direction: anomalous.then_some(Direction::Up),
                percent_deviation: Some(if anomalous { 100.0 } else { 0.0 }),
                skipped: None,
                stats: Map::new(),
            },
            alert_sent: false,
            context: Context::new(),
        }
    }

    fn replay(flags: &str, settings: &AlertSettings) -> Vec<(i32, &'static str, u32)> {
        let records: Vec<_> = flags
            .chars()
            .enumerate()
            .map(|(i, c)| record(i as i32, c == '1'))
            .collect();
        replay_policy(settings, &["a".into()], &records, STEP, None, None)
            .into_iter()
            .map(|a| {
                let i = ((a.timestamp - t(0)).num_minutes() / 10) as i32;
                (i, a.kind.as_str(), a.consecutive)
            })
            .collect()
    }

    #[test]
    fn explained_replay_gives_the_reason_of_each_held_flagged_point() {
        let settings = AlertSettings {
            cooldown_minutes: 30,
            ..AlertSettings::default()
        };
        let records: Vec<_> = "0111"
            .chars()
            .enumerate()
            .map(|(i, c)| record(i as i32, c == '1'))
            .collect();
        let (alerts, holds) =
            replay_policy_explained(&settings, &["a".into()], &records, STEP, (None, None));
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].timestamp, t(1));
        let held: Vec<_> = holds.iter().map(|h| h.timestamp).collect();
        assert_eq!(held, [t(2), t(3)]);
        assert!(
            holds[0].reason.starts_with("cooldown"),
            "{}",
            holds[0].reason
        );
    }

    #[test]
    fn cooldown_and_consecutive_hold_across_points() {
        let settings = AlertSettings {
            cooldown_minutes: 30,
            ..AlertSettings::default()
        };
        // anomalies at 1,2,3,4 and 6: alert at 1, cooldown until 4 (30 min), alert at 4.
        assert_eq!(
            replay("0111101", &settings),
            [(1, "anomaly", 1), (4, "anomaly", 4)]
        );
        let settings = AlertSettings {
            consecutive_anomalies: 2,
            cooldown_minutes: 0,
            notify_recovery: true,
            ..AlertSettings::default()
        };
        assert_eq!(
            replay("011100", &settings),
            [(2, "anomaly", 2), (3, "anomaly", 3), (4, "recovery", 1)]
        );
    }
}
