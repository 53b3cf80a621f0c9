//! Detector behaviour on hand-made series: skip reasons, zero spread, seasonal
//! groups, threshold operators and missing-data runs counted from the series.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, Direction, Window};
use detectk_detectors::{
    HistoryOptions, IqrDetector, MadDetector, MissingDataDetector, Operator, Seasonality,
    ThresholdDetector, ZScoreDetector,
};
use serde_json::{Map, Value};

fn t(i: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(10 * i)
}

fn ctx() -> DetectionContext {
    DetectionContext {
        execution_time: t(1000),
        interval: TimeDelta::minutes(10),
    }
}

fn series(values: &[Option<f64>]) -> Vec<DataPoint> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) => DataPoint::new(t(i as i64), *v),
            None => DataPoint::missing(t(i as i64)),
        })
        .collect()
}

fn plain(points: usize) -> HistoryOptions {
    HistoryOptions {
        window: Window::Points(points),
        decay: None,
        ..HistoryOptions::default()
    }
}

fn statistical(history: HistoryOptions) -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(MadDetector::new(history.clone(), 3.0)),
        Box::new(ZScoreDetector::new(history.clone(), 3.0)),
        Box::new(IqrDetector::new(history, 1.5)),
    ]
}

#[test]
fn skip_reasons() {
    let s = series(&[
        Some(1.0),
        None,
        Some(2.0),
        Some(f64::NAN),
        Some(3.0),
        Some(4.0),
    ]);
    for det in statistical(plain(10)) {
        let out = det.detect(&s, 0, &ctx());
        let reasons: Vec<Option<&str>> = out.iter().map(|d| d.skipped.as_deref()).collect();
        assert_eq!(
            reasons,
            [
                Some("too little history: 0 of 3 points needed"),
                Some("missing value"),
                Some("too little history: 1 of 3 points needed"),
                Some("non-finite value"),
                Some("too little history: 2 of 3 points needed"),
                None,
            ],
            "{det:?}"
        );
        assert_eq!(
            out[1].score,
            Some(0.0),
            "missing points score 0 as in Python detectk"
        );
        assert_eq!(out[3].score, None);
    }
}

#[test]
fn zero_spread_flags_any_other_value() {
    let s = series(&[
        Some(0.1),
        Some(0.1),
        Some(0.1),
        Some(0.1),
        Some(0.1),
        Some(0.2),
    ]);
    for det in statistical(HistoryOptions {
        decay: Some(0.3),
        ..plain(10)
    }) {
        let out = det.detect(&s, 3, &ctx());
        assert!(
            !out[0].is_anomaly && out[0].score == Some(0.0),
            "{det:?}: {:?}",
            out[0]
        );
        assert!(!out[1].is_anomaly, "{det:?}");
        assert!(out[2].is_anomaly, "{det:?}: {:?}", out[2]);
        assert_eq!(out[2].score, Some(f64::INFINITY));
        assert_eq!(out[2].direction, Some(Direction::Up));
        assert_eq!(
            (out[2].lower_bound, out[2].upper_bound),
            (Some(0.1), Some(0.1))
        );
    }
}

#[test]
fn seasonal_groups_use_only_matching_history() {
    // Even hours are around 100, odd hours around 10; the last point is an even hour at 100.
    let mut s = Vec::new();
    for i in 0..41 {
        let hour = i % 2;
        let v = if hour == 0 {
            100.0 + (i % 3) as f64
        } else {
            10.0 + (i % 3) as f64
        };
        let mut c = Map::new();
        c.insert("hour_of_day".into(), Value::from(hour));
        s.push(DataPoint::new(t(i), v).with_context(c));
    }
    let seasonal = HistoryOptions {
        seasonality: Seasonality::any_of(["hour_of_day"]),
        ..plain(40)
    };
    for det in statistical(seasonal) {
        let out = det.detect(&s, 40, &ctx());
        assert!(!out[0].is_anomaly, "{det:?}: {:?}", out[0]);
        assert!(out[0].lower_bound.unwrap() > 50.0, "{det:?}: {:?}", out[0]);
    }
    let mut odd = s.clone();
    odd[40].context.remove("hour_of_day");
    let out = MadDetector::new(
        HistoryOptions {
            seasonality: Seasonality::all_of(["hour_of_day"]),
            ..plain(40)
        },
        3.0,
    )
    .detect(&odd, 40, &ctx());
    // `hour_of_day` is a calendar feature: without the column it comes from the
    // timestamp (06:40 -> 6), and no history point has hour 6 in its column.
    assert_eq!(
        out[0].skipped.as_deref(),
        Some("too little history: 0 of 3 points needed")
    );
    // Any other feature must come from the query.
    let mut renamed = s.clone();
    for p in &mut renamed {
        let h = p.context.remove("hour_of_day").unwrap();
        p.context.insert("bucket".into(), h);
    }
    renamed[40].context.remove("bucket");
    let out = MadDetector::new(
        HistoryOptions {
            seasonality: Seasonality::all_of(["bucket"]),
            ..plain(40)
        },
        3.0,
    )
    .detect(&renamed, 40, &ctx());
    assert_eq!(
        out[0].skipped.as_deref(),
        Some("seasonal feature `bucket` is missing from the point's context")
    );
}

#[test]
fn weighting_follows_recent_history() {
    // Old level 0, recent level 50: a strong decay centres the band on the recent level.
    let values: Vec<Option<f64>> = (0..30)
        .map(|i| Some(if i < 20 { 0.0 } else { 50.0 + (i % 3) as f64 }))
        .collect();
    let s = series(&values);
    let weighted = MadDetector::new(
        HistoryOptions {
            decay: Some(0.3),
            ..plain(29)
        },
        3.0,
    );
    let unweighted = MadDetector::new(plain(29), 3.0);
    let w = weighted.detect(&s, 29, &ctx());
    let u = unweighted.detect(&s, 29, &ctx());
    assert!(!w[0].is_anomaly, "{:?}", w[0]);
    assert!(u[0].is_anomaly, "{:?}", u[0]);
}

fn one(det: &ThresholdDetector, v: f64) -> Detection {
    det.detect(&series(&[Some(v)]), 0, &ctx()).remove(0)
}

#[test]
fn threshold_operators() {
    let gt = ThresholdDetector::new(10.0, Operator::GreaterThan);
    assert!(one(&gt, 11.0).is_anomaly && !one(&gt, 10.0).is_anomaly);
    assert_eq!(one(&gt, 11.0).direction, Some(Direction::Up));
    assert_eq!(one(&gt, 12.5).percent_deviation, Some(25.0));
    assert_eq!(one(&gt, 9.0).percent_deviation, None);
    assert!(one(&ThresholdDetector::new(10.0, Operator::GreaterEqual), 10.0).is_anomaly);
    let lt = ThresholdDetector::new(10.0, Operator::LessThan);
    assert!(one(&lt, 9.0).is_anomaly && !one(&lt, 10.0).is_anomaly);
    assert_eq!(
        (one(&lt, 9.0).lower_bound, one(&lt, 9.0).upper_bound),
        (None, Some(10.0))
    );
    assert!(one(&ThresholdDetector::new(10.0, Operator::LessEqual), 10.0).is_anomaly);
    let eq = ThresholdDetector::new(10.0, Operator::Equals { tolerance: 0.5 });
    assert!(one(&eq, 10.4).is_anomaly && !one(&eq, 10.6).is_anomaly);
    let ne = ThresholdDetector::new(10.0, Operator::NotEquals { tolerance: 0.5 });
    assert!(!one(&ne, 10.4).is_anomaly && one(&ne, 10.6).is_anomaly);
    let between = ThresholdDetector::new(5.0, Operator::Between { upper: 8.0 });
    assert!(one(&between, 6.0).is_anomaly && !one(&between, 9.0).is_anomaly);
    let outside = ThresholdDetector::new(5.0, Operator::Outside { upper: 8.0 });
    let low = one(&outside, 4.0);
    assert!(low.is_anomaly && low.direction == Some(Direction::Down) && low.score == Some(1.0));
    assert!(!one(&outside, 6.0).is_anomaly);
    let pct = ThresholdDetector::new(-5.0, Operator::LessThan).with_baseline(200.0);
    let drop = one(&pct, 180.0); // -10 %
    assert!(drop.is_anomaly);
    assert_eq!(drop.score, Some(5.0));
    assert_eq!(drop.stats["comparison_value"], -10.0);
    let skipped =
        ThresholdDetector::new(1.0, Operator::GreaterThan).detect(&series(&[None]), 0, &ctx());
    assert_eq!(skipped[0].skipped.as_deref(), Some("missing value"));
}

#[test]
fn missing_runs_come_from_the_series() {
    let s = series(&[Some(1.0), None, None, None, Some(2.0), None, Some(0.0)]);
    let det = MissingDataDetector::new(2);
    let out = det.detect(&s, 0, &ctx());
    let flags: Vec<bool> = out.iter().map(|d| d.is_anomaly).collect();
    assert_eq!(flags, [false, false, true, true, false, false, false]);
    assert_eq!(out[3].score, Some(1.5));
    assert_eq!(out[3].stats["consecutive_missing"], 3);
    assert_eq!(out[3].direction, None);
    // A second run (a new process) scoring only the newest point sees the same run.
    let again = MissingDataDetector::new(2).detect(&s[..4], 3, &ctx());
    assert_eq!(again[0], out[3]);
    // Zeros count as missing when asked.
    let zero = MissingDataDetector::new(1)
        .treating_zero_as_missing()
        .detect(&s, 6, &ctx());
    assert!(zero[0].is_anomaly);
}

#[test]
fn stale_points_are_flagged_and_do_not_end_a_run() {
    let s = series(&[Some(1.0), None, None, None, Some(2.0), None, Some(3.0)]);
    let det = MissingDataDetector::new(4).with_max_age(TimeDelta::minutes(25));
    let out = det.detect(&s, 0, &ctx());
    // point 4 arrives 40 minutes after point 0: stale, score 40 / 25
    assert!(out[4].is_anomaly);
    assert_eq!(out[4].score, Some(1.6));
    assert_eq!(out[4].stats["condition"], "stale");
    // the run goes on through the stale point: 3 + 1 = 4 misses
    assert!(out[5].is_anomaly, "{:?}", out[5]);
    assert_eq!(out[5].stats["consecutive_missing"], 4);
    // point 6 is 20 minutes after point 4: fresh
    assert!(!out[6].is_anomaly);
}

#[test]
fn empty_series_and_first_past_the_end_give_nothing() {
    let s = series(&[Some(1.0), Some(2.0)]);
    let mut all = statistical(plain(5));
    all.push(Box::new(ThresholdDetector::new(1.0, Operator::GreaterThan)));
    all.push(Box::new(MissingDataDetector::new(1)));
    for det in all {
        assert!(det.detect(&[], 0, &ctx()).is_empty(), "{det:?}");
        assert!(det.detect(&s, 2, &ctx()).is_empty(), "{det:?}");
        assert!(det.detect(&s, 7, &ctx()).is_empty(), "{det:?}");
    }
}

/// `seasonal_features: [hour_of_day]` without the column in the query: the detector
/// computes it from the timestamp (in the configured timezone) and gets the same
/// results as with the column; a column with the same name wins.
#[test]
fn calendar_features_without_sql_columns() {
    use chrono::{TimeDelta, TimeZone, Timelike, Utc};
    use detectk_core::{DataPoint, DetectionContext, Detector, Window};
    use detectk_detectors::{HistoryOptions, MadDetector, Seasonality, ZScoreDetector};
    use serde_json::{Map, Value};

    let t0 = Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
    let tz: chrono_tz::Tz = "Asia/Kolkata".parse().unwrap(); // +05:30
    let bare: Vec<DataPoint> = (0..24 * 8)
        .map(|i| {
            let t = t0 + TimeDelta::minutes(30 * i);
            let v = 100.0 + 50.0 * ((i % 48) as f64 / 8.0).sin() + (i % 5) as f64;
            DataPoint::new(t, if i == 24 * 7 + 3 { 400.0 } else { v })
        })
        .collect();
    let with_column = |hour: &dyn Fn(chrono::DateTime<Utc>) -> u32| -> Vec<DataPoint> {
        bare.iter()
            .map(|p| {
                let mut ctx = Map::new();
                ctx.insert("hour_of_day".into(), Value::from(hour(p.timestamp)));
                p.clone().with_context(ctx)
            })
            .collect()
    };
    let local = with_column(&|t| t.with_timezone(&tz).hour());
    let constant = with_column(&|_| 0);
    let ctx = DetectionContext {
        execution_time: t0,
        interval: TimeDelta::minutes(30),
    };
    let mut seasonality = Seasonality::all_of(["hour_of_day"]);
    seasonality.timezone = tz;
    let history = HistoryOptions {
        window: Window::Points(24 * 14),
        decay: None,
        seasonality,
        ..Default::default()
    };
    let dets: Vec<Box<dyn Detector>> = vec![
        Box::new(MadDetector::new(history.clone(), 3.0)),
        Box::new(ZScoreDetector::new(history, 3.0)),
    ];
    for det in dets {
        let computed = det.detect(&bare, 0, &ctx);
        assert_eq!(computed, det.detect(&local, 0, &ctx), "{det:?}");
        assert!(computed[24 * 7 + 3].is_anomaly);
        // The column wins: one constant "hour" is no seasonality at all.
        assert_ne!(computed, det.detect(&constant, 0, &ctx), "{det:?}");
    }
}
