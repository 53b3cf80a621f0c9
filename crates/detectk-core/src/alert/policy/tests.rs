use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Map, json};

use super::*;
use crate::alert::settings::{Agreement, AlertSettings, AnomalyShare, DirectionFilter};
use crate::model::{Context, Detection, DetectionRecord, Direction};

const STEP: TimeDelta = TimeDelta::minutes(10);

fn t(i: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap() + STEP * i
}

/// A detection of `id` at point `i`: `dev` is the percent deviation (0 = normal).
fn det(id: &str, i: i32, dev: f64) -> DetectionRecord {
    let anomalous = dev.abs() >= 10.0;
    DetectionRecord {
        metric: "m".into(),
        detector_id: id.into(),
        detector_type: "mad".into(),
        detector_params: json!({"n_sigma": 3.0}),
        detection: Detection {
            timestamp: t(i),
            value: Some(100.0 + dev),
            is_anomaly: anomalous,
            score: Some(dev.abs() / 3.0),
            lower_bound: Some(90.0),
            upper_bound: Some(110.0),
            direction: anomalous.then_some(if dev > 0.0 {
                Direction::Up
            } else {
                Direction::Down
            }),
            percent_deviation: Some(dev),
            skipped: None,
            stats: Map::new(),
        },
        alert_sent: false,
        context: Context::new(),
    }
}

struct Case {
    settings: AlertSettings,
    ids: Vec<String>,
    detections: Vec<DetectionRecord>,
    newest: i32,
    last_anomaly: Option<DateTime<Utc>>,
    last_recovery: Option<DateTime<Utc>>,
}

impl Case {
    fn new(detections: Vec<DetectionRecord>, newest: i32) -> Self {
        let mut ids: Vec<String> = detections.iter().map(|d| d.detector_id.clone()).collect();
        ids.sort();
        ids.dedup();
        Self {
            settings: AlertSettings::default(),
            ids,
            detections,
            newest,
            last_anomaly: None,
            last_recovery: None,
        }
    }

    fn decide(&self) -> Decision {
        decide(&PolicyInput {
            settings: &self.settings,
            detector_ids: &self.ids,
            detections: &self.detections,
            newest: t(self.newest),
            interval: STEP,
            last_anomaly_alert: self.last_anomaly,
            last_recovery_alert: self.last_recovery,
        })
    }
}

fn fired_ids(d: &Decision) -> Vec<String> {
    match d {
        Decision::Anomaly { detections, .. } => {
            detections.iter().map(|r| r.detector_id.clone()).collect()
        }
        other => panic!("expected an anomaly alert, got {other:?}"),
    }
}

fn held(d: &Decision) -> &str {
    match d {
        Decision::Hold(reason) => reason,
        other => panic!("expected nothing to be sent, got {other:?}"),
    }
}

#[test]
fn alerts_on_an_anomalous_newest_point_only() {
    let case = Case::new(vec![det("a", 0, 0.0), det("a", 1, 25.0)], 1);
    assert_eq!(fired_ids(&case.decide()), ["a"]);
    let normal = Case::new(vec![det("a", 0, 25.0), det("a", 1, 1.0)], 1);
    assert_eq!(held(&normal.decide()), "the newest point is normal");
}

#[test]
fn consecutive_anomalies_fire_on_the_third_point_not_before() {
    let series: Vec<DetectionRecord> = vec![
        det("a", 0, 0.0),
        det("a", 1, 30.0),
        det("a", 2, 30.0),
        det("a", 3, 30.0),
    ];
    let mut case = Case::new(series, 1);
    case.settings.consecutive_anomalies = 3;
    assert_eq!(held(&case.decide()), "1 of 3 consecutive anomalous points");
    case.newest = 2;
    assert_eq!(held(&case.decide()), "2 of 3 consecutive anomalous points");
    case.newest = 3;
    match case.decide() {
        Decision::Anomaly { consecutive, .. } => assert_eq!(consecutive, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_gap_breaks_the_consecutive_run() {
    // point 2 has no detection at all (never stored): the run is 1 long.
    let mut case = Case::new(vec![det("a", 1, 30.0), det("a", 3, 30.0)], 3);
    case.settings.consecutive_anomalies = 2;
    assert_eq!(held(&case.decide()), "1 of 2 consecutive anomalous points");
}

#[test]
fn direction_filter_applies_to_each_detection() {
    let mut case = Case::new(vec![det("a", 0, -40.0)], 0);
    case.settings.direction = DirectionFilter::Up;
    assert!(held(&case.decide()).contains("not as the conditions require"));
    case.settings.direction = DirectionFilter::Down;
    assert_eq!(fired_ids(&case.decide()), ["a"]);
}

#[test]
fn direction_one_needs_a_single_side_across_the_run() {
    let mut case = Case::new(vec![det("a", 0, 40.0), det("a", 1, -40.0)], 1);
    case.settings.consecutive_anomalies = 2;
    case.settings.direction = DirectionFilter::One;
    assert!(held(&case.decide()).contains("different directions"));
    case.detections = vec![det("a", 0, -40.0), det("a", 1, -40.0)];
    assert_eq!(fired_ids(&case.decide()), ["a"]);
}

#[test]
fn min_deviation_percent_holds_small_deviations() {
    let mut case = Case::new(vec![det("a", 0, 15.0)], 0);
    case.settings.min_deviation_percent = Some(20.0);
    assert!(held(&case.decide()).contains("not as the conditions require"));
    case.detections = vec![det("a", 0, -20.0)];
    assert_eq!(fired_ids(&case.decide()), ["a"]);
}

#[test]
fn agreement_any_all_majority() {
    let detections = vec![det("a", 0, 30.0), det("b", 0, 30.0), det("c", 0, 1.0)];
    let mut case = Case::new(detections, 0);
    case.settings.agreement = Agreement::Any;
    assert_eq!(fired_ids(&case.decide()), ["a", "b"]);
    case.settings.agreement = Agreement::Majority;
    assert_eq!(fired_ids(&case.decide()), ["a", "b"]);
    case.settings.agreement = Agreement::All;
    assert_eq!(
        held(&case.decide()),
        "2 of 3 detectors agree; agreement `all` is not met"
    );
    // A configured detector with no detection at all counts as not agreeing.
    case.ids.push("d".into());
    case.settings.agreement = Agreement::Majority;
    assert_eq!(
        held(&case.decide()),
        "2 of 4 detectors agree; agreement `majority` is not met"
    );
}

#[test]
fn message_lists_detections_in_configured_order() {
    let mut case = Case::new(vec![det("a", 0, 30.0), det("b", 0, 30.0)], 0);
    case.ids = vec!["b".into(), "a".into()];
    assert_eq!(fired_ids(&case.decide()), ["b", "a"]);
}

#[test]
fn cooldown_is_measured_between_point_timestamps() {
    let mut case = Case::new((0..8).map(|i| det("a", i, 30.0)).collect(), 0);
    case.settings.cooldown_minutes = 60;
    case.last_anomaly = Some(t(0));
    assert_eq!(
        held(&case.decide()),
        "an alert for this point was already sent"
    );
    for i in 1..6 {
        case.newest = i;
        assert!(held(&case.decide()).starts_with("cooldown:"), "point {i}");
    }
    case.newest = 6;
    assert_eq!(fired_ids(&case.decide()), ["a"]);
    case.settings.cooldown_minutes = 0;
    case.newest = 1;
    assert_eq!(fired_ids(&case.decide()), ["a"]);
}

#[test]
fn recovery_follows_an_alert_once_when_enabled() {
    let mut case = Case::new(vec![det("a", 0, 30.0), det("a", 1, 2.0)], 1);
    case.last_anomaly = Some(t(0));
    assert_eq!(held(&case.decide()), "the newest point is normal");
    case.settings.notify_recovery = true;
    match case.decide() {
        Decision::Recovery {
            detections,
            recovered_from,
        } => {
            assert_eq!(recovered_from, t(0));
            assert_eq!(detections.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    case.last_recovery = Some(t(1));
    assert_eq!(held(&case.decide()), "the newest point is normal");
    case.last_anomaly = None;
    case.last_recovery = None;
    assert_eq!(held(&case.decide()), "the newest point is normal");
}

#[test]
fn skipped_or_missing_newest_points_neither_alert_nor_recover() {
    let mut skipped = det("a", 1, 0.0);
    skipped.detection = Detection::skipped(t(1), None, "missing value");
    let mut case = Case::new(vec![skipped], 1);
    case.settings.notify_recovery = true;
    case.last_anomaly = Some(t(0));
    assert!(held(&case.decide()).contains("not scored"));
    let nothing = Case::new(vec![det("a", 0, 30.0)], 1);
    assert_eq!(held(&nothing.decide()), "no detection for the newest point");
}

#[test]
fn the_message_counts_the_whole_run_not_only_the_required_points() {
    let series: Vec<DetectionRecord> = (0..8)
        .map(|i| det("a", i, if i == 0 { 0.0 } else { 30.0 }))
        .collect();
    let mut case = Case::new(series, 7);
    case.settings.consecutive_anomalies = 2;
    match case.decide() {
        Decision::Anomaly { consecutive, .. } => assert_eq!(consecutive, 7),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_counted_run_stops_at_its_limit() {
    let n = MAX_COUNTED_RUN as i32 + 5;
    let mut case = Case::new((0..n).map(|i| det("a", i, 30.0)).collect(), n - 1);
    case.settings.cooldown_minutes = 0;
    match case.decide() {
        Decision::Anomaly { consecutive, .. } => assert_eq!(consecutive, MAX_COUNTED_RUN),
        other => panic!("{other:?}"),
    }
}

#[test]
fn min_anomaly_share_needs_k_of_the_last_n() {
    // anomalous at 0 and 2, normal at 1: 2 of the last 3 at point 2.
    let series = vec![
        det("a", 0, 30.0),
        det("a", 1, 0.0),
        det("a", 2, 30.0),
        det("a", 3, 0.0),
        det("a", 4, 0.0),
        det("a", 5, 30.0),
    ];
    let mut case = Case::new(series, 0);
    case.settings.min_anomaly_share = Some(AnomalyShare { k: 2, n: 3 });
    assert_eq!(
        held(&case.decide()),
        "1 of the last 3 points are anomalous; min_anomaly_share needs 2"
    );
    case.newest = 2;
    assert_eq!(fired_ids(&case.decide()), ["a"]);
    // A normal newest point never alerts, whatever came before.
    case.newest = 3;
    assert_eq!(held(&case.decide()), "the newest point is normal");
    case.newest = 5;
    assert!(held(&case.decide()).starts_with("1 of the last 3"));
    // Points with no detection (before the series) count as normal.
    case.settings.min_anomaly_share = Some(AnomalyShare { k: 1, n: 3 });
    case.newest = 0;
    assert_eq!(fired_ids(&case.decide()), ["a"]);
}

#[test]
fn min_value_keeps_small_values_from_paging() {
    // value = 100 + dev: 130 above the floor of 120, 125 below 126.
    let mut case = Case::new(vec![det("a", 0, 30.0)], 0);
    case.settings.min_value = Some(120.0);
    assert_eq!(fired_ids(&case.decide()), ["a"]);
    case.settings.min_value = Some(131.0);
    assert!(held(&case.decide()).contains("not as the conditions require"));
}

#[test]
fn min_abs_deviation_compares_with_the_expected_value() {
    // No statistics: expected is the middle of the bounds 90..110, i.e. 100.
    let mut case = Case::new(vec![det("a", 0, -30.0)], 0);
    case.settings.min_abs_deviation = Some(30.0);
    assert_eq!(fired_ids(&case.decide()), ["a"]);
    case.settings.min_abs_deviation = Some(30.5);
    assert!(held(&case.decide()).contains("not as the conditions require"));
    // A `median` statistic wins over the bounds: |70 - 95| = 25.
    case.detections[0]
        .detection
        .stats
        .insert("median".into(), json!(95.0));
    case.settings.min_abs_deviation = Some(25.0);
    assert_eq!(fired_ids(&case.decide()), ["a"]);
    case.settings.min_abs_deviation = Some(26.0);
    assert!(held(&case.decide()).contains("not as the conditions require"));
}

#[test]
fn lookback_covers_the_largest_rule() {
    let mut s = AlertSettings::default();
    assert_eq!(lookback_points(&s), MAX_COUNTED_RUN);
    s.consecutive_anomalies = 150;
    assert_eq!(lookback_points(&s), 150);
    s.min_anomaly_share = Some(AnomalyShare { k: 3, n: 200 });
    assert_eq!(lookback_points(&s), 200);
}

#[test]
fn min_score_and_severity_route_per_detection() {
    use crate::alert::{Severity, SeverityCutoffs};
    // Deviation 15 % scores 5 (warning), 30 % scores 10 (critical).
    let detections = vec![det("a", 0, 15.0), det("b", 0, 30.0)];
    let mut case = Case::new(detections, 0);
    case.settings.min_score = Some(8.0);
    assert_eq!(fired_ids(&case.decide()), ["b"]);
    case.settings.min_score = None;
    case.settings.min_severity = Some(Severity::Critical);
    assert_eq!(fired_ids(&case.decide()), ["b"]);
    case.settings.min_severity = Some(Severity::Warning);
    assert_eq!(fired_ids(&case.decide()), ["a", "b"]);
    case.settings.severity_cutoffs = SeverityCutoffs {
        critical_score: 20.0,
        ..SeverityCutoffs::default()
    };
    case.settings.min_severity = Some(Severity::Critical);
    assert!(
        matches!(&case.decide(), Decision::Hold(r) if r.contains("min_score, severity")),
        "{:?}",
        case.decide()
    );
}

#[test]
fn the_alert_step_loads_at_least_the_counted_run() {
    assert_eq!(lookback_points(&AlertSettings::default()), MAX_COUNTED_RUN);
}
