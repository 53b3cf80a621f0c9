//! Properties of the statistical detectors on random series:
//! - they agree with a direct, per-point implementation of the Python reference
//!   algorithm (sort, cumulative weights, `searchsorted`), including seasonal unions;
//! - a point never sees later points;
//! - results do not depend on how the series is split into batches;
//! - extreme values (NaN, infinities, 1e308) never panic.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, HumanDuration, Window};
use detectk_detectors::{
    HistoryOptions, IqrDetector, MadDetector, MissingDataDetector, Seasonality, ZScoreDetector,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Mad,
    ZScore,
    Iqr,
}

#[derive(Debug, Clone)]
struct Config {
    kind: Kind,
    history: HistoryOptions,
}

impl Config {
    fn detector(&self) -> Box<dyn Detector> {
        let h = self.history.clone();
        match self.kind {
            Kind::Mad => Box::new(MadDetector::new(h, 2.0)),
            Kind::ZScore => Box::new(ZScoreDetector::new(h, 2.0)),
            Kind::Iqr => Box::new(IqrDetector::new(h, 1.5)),
        }
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
}

fn ctx() -> DetectionContext {
    DetectionContext {
        execution_time: t0(),
        interval: TimeDelta::minutes(10),
    }
}

/// (value or missing, extra minutes after the previous point, hour group, parity)
type Raw = (Option<f64>, u8, u8, u8);

fn build_series(raw: &[Raw]) -> Vec<DataPoint> {
    let mut t = t0();
    raw.iter()
        .map(|&(v, gap, h, p)| {
            t += TimeDelta::minutes(10 + 10 * i64::from(gap));
            let mut ctx = Map::new();
            ctx.insert("h".into(), Value::from(h));
            ctx.insert("p".into(), Value::from(p));
            match v {
                Some(v) => DataPoint::new(t, v),
                None => DataPoint::missing(t),
            }
            .with_context(ctx)
        })
        .collect()
}

fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => (0..6i32).prop_map(|v| Some(f64::from(v))),
        3 => (-1000.0..1000.0f64).prop_map(Some),
        1 => Just(None),
    ]
}

fn raw_series(max: usize) -> impl Strategy<Value = Vec<Raw>> {
    prop::collection::vec(
        (
            value(),
            prop_oneof![6 => Just(0u8), 1 => 1..4u8],
            0..3u8,
            0..2u8,
        ),
        1..max,
    )
}

fn config() -> impl Strategy<Value = Config> {
    let kind = prop_oneof![Just(Kind::Mad), Just(Kind::ZScore), Just(Kind::Iqr)];
    let window = prop_oneof![
        (1..30usize).prop_map(Window::Points),
        (1..60i64).prop_map(|m| Window::Span(HumanDuration::from_seconds(m * 600))),
    ];
    let decay = prop_oneof![Just(None), (0.0..1.5f64).prop_map(Some)];
    let seasonality = prop_oneof![
        Just(Seasonality::none()),
        Just(Seasonality::any_of(["h"])),
        Just(Seasonality::all_of(["h", "p"])),
        Just(Seasonality::any_of(["h", "p"])),
    ];
    (kind, window, decay, seasonality, 1..5usize).prop_map(
        |(kind, window, decay, seasonality, min_points)| Config {
            kind,
            history: HistoryOptions {
                window,
                min_points,
                decay,
                seasonality,
            },
        },
    )
}

// ---- a direct implementation of the reference algorithm ----

/// History values of point `i`, oldest first.
fn history(series: &[DataPoint], i: usize, h: &HistoryOptions) -> Vec<f64> {
    let t = series[i].timestamp;
    let same = |j: usize, f: &str| {
        let a = series[j].context.get(f).and_then(Value::as_f64);
        a.is_some() && a == series[i].context.get(f).and_then(Value::as_f64)
    };
    (0..i)
        .filter(|&j| match &h.window {
            Window::Points(n) => j + n >= i,
            Window::Span(d) => series[j].timestamp >= t - d.delta(),
        })
        .filter(|&j| {
            let f = &h.seasonality.features;
            f.is_empty()
                || if h.seasonality.combined {
                    f.iter().all(|x| same(j, x))
                } else {
                    f.iter().any(|x| same(j, x))
                }
        })
        .filter_map(|j| series[j].present_value())
        .collect()
}

fn weights(n: usize, decay: Option<f64>) -> Vec<f64> {
    let raw: Vec<f64> = (0..n)
        .map(|i| decay.map_or(1.0, |l| (-l * (n - 1 - i) as f64).exp()))
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|w| w / total).collect()
}

/// First sorted value whose cumulative weight reaches `p`, and whether a cumulative
/// weight lies within rounding of `p` (the tolerated tie).
fn quantile(data: &[f64], w: &[f64], p: f64) -> (f64, bool) {
    let mut idx: Vec<usize> = (0..data.len()).collect();
    idx.sort_by(|&a, &b| data[a].total_cmp(&data[b]));
    let mut cum = 0.0;
    let mut tie = false;
    let mut found = None;
    for &k in &idx {
        cum += w[k];
        tie |= (cum - p).abs() < 1e-9;
        if found.is_none() && cum >= p {
            found = Some(data[k]);
        }
    }
    (found.unwrap_or(data[idx[idx.len() - 1]]), tie)
}

/// Expected (lower, upper, score) and whether a tie makes it ambiguous.
fn expected(kind: Kind, data: &[f64], decay: Option<f64>, value: f64) -> (f64, f64, f64, bool) {
    let w = weights(data.len(), decay);
    match kind {
        Kind::Mad => {
            let (m, t1) = quantile(data, &w, 0.5);
            let dev: Vec<f64> = data.iter().map(|x| (x - m).abs()).collect();
            let (mad, t2) = quantile(&dev, &w, 0.5);
            let s = 1.4826 * mad;
            let score = if s > 0.0 {
                (value - m).abs() / s
            } else if value == m {
                0.0
            } else {
                f64::INFINITY
            };
            (m - 2.0 * s, m + 2.0 * s, score, t1 || t2)
        }
        Kind::ZScore => {
            let mean: f64 = data.iter().zip(&w).map(|(x, w)| x * w).sum();
            let var: f64 = data
                .iter()
                .zip(&w)
                .map(|(x, w)| w * (x - mean) * (x - mean))
                .sum();
            let constant = data.iter().all(|x| *x == data[0]);
            let (mean, s) = if constant {
                (data[0], 0.0)
            } else {
                (mean, var.sqrt())
            };
            let score = if s > 0.0 {
                (value - mean).abs() / s
            } else if value == mean {
                0.0
            } else {
                f64::INFINITY
            };
            (mean - 2.0 * s, mean + 2.0 * s, score, false)
        }
        Kind::Iqr => {
            let (q1, t1) = quantile(data, &w, 0.25);
            let (q3, t3) = quantile(data, &w, 0.75);
            let iqr = q3 - q1;
            let beyond = if value > q3 {
                value - q3
            } else if value < q1 {
                q1 - value
            } else {
                0.0
            };
            let score = if beyond == 0.0 {
                0.0
            } else if iqr > 0.0 {
                beyond / iqr
            } else {
                f64::INFINITY
            };
            (q1 - 1.5 * iqr, q3 + 1.5 * iqr, score, t1 || t3)
        }
    }
}

fn near(a: f64, b: f64, scale: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(scale)
}

/// Equal up to rounding: same skip, numbers within 1e-9, the same verdict unless the
/// value sits on a bound.
fn same_detection(a: &Detection, b: &Detection) -> bool {
    if a.skipped != b.skipped || a.timestamp != b.timestamp {
        return false;
    }
    if a.skipped.is_some() {
        return true;
    }
    let scale = a.value.unwrap_or(0.0).abs().max(1.0);
    let num = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => near(x, y, scale),
        (x, y) => x == y,
    };
    let on_bound = [a.lower_bound, a.upper_bound]
        .iter()
        .flatten()
        .any(|bound| near(*bound, a.value.unwrap_or(f64::NAN), scale));
    num(a.lower_bound, b.lower_bound)
        && num(a.upper_bound, b.upper_bound)
        && num(a.score, b.score)
        && (a.is_anomaly == b.is_anomaly || on_bound)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn agrees_with_a_direct_implementation(raw in raw_series(90), cfg in config()) {
        let series = build_series(&raw);
        let out = cfg.detector().detect(&series, 0, &ctx());
        prop_assert_eq!(out.len(), series.len());
        for (i, d) in out.iter().enumerate() {
            let Some(value) = series[i].present_value() else {
                prop_assert!(d.skipped.is_some());
                continue;
            };
            let data = history(&series, i, &cfg.history);
            if data.len() < cfg.history.min_points {
                prop_assert!(d.skipped.is_some(), "point {}: {:?}", i, d);
                continue;
            }
            let (lo, hi, score, tie) = expected(cfg.kind, &data, cfg.history.decay, value);
            if tie {
                continue;
            }
            let scale = value.abs().max(1.0);
            prop_assert!(near(d.lower_bound.unwrap(), lo, scale), "point {}: {:?} vs {} {}", i, d, lo, hi);
            prop_assert!(near(d.upper_bound.unwrap(), hi, scale), "point {}: {:?} vs {} {}", i, d, lo, hi);
            prop_assert!(near(d.score.unwrap(), score, 1.0), "point {}: {:?} vs score {}", i, d, score);
        }
    }

    #[test]
    fn a_point_never_sees_later_points(raw in raw_series(80), cfg in config(), cut in 0usize..80, seed in any::<u64>()) {
        let series = build_series(&raw);
        let cut = cut % series.len();
        let mut changed = series.clone();
        let mut s = seed | 1;
        for p in &mut changed[cut + 1..] {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            p.value = Some((s % 1000) as f64 - 500.0);
            p.is_missing = false;
        }
        let det = cfg.detector();
        let a = det.detect(&series, 0, &ctx());
        let b = det.detect(&changed, 0, &ctx());
        for i in 0..=cut {
            prop_assert!(same_detection(&a[i], &b[i]), "point {}: {:?} vs {:?}", i, a[i], b[i]);
        }
    }

    #[test]
    fn batches_do_not_change_results(raw in raw_series(90), cfg in config(), cuts in prop::collection::vec(0usize..90, 1..4)) {
        let series = build_series(&raw);
        let det = cfg.detector();
        let whole = det.detect(&series, 0, &ctx());
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % series.len()).collect();
        cuts.push(0);
        cuts.push(series.len());
        cuts.sort_unstable();
        cuts.dedup();
        for pair in cuts.windows(2) {
            let (first, end) = (pair[0], pair[1]);
            // What the pipeline loads: one window of history before the batch.
            let start = match det.window() {
                Window::Points(n) => first.saturating_sub(n),
                Window::Span(d) => series.partition_point(|p| p.timestamp < series[first].timestamp - d.delta()),
            };
            let batch = det.detect(&series[start..end], first - start, &ctx());
            prop_assert_eq!(batch.len(), end - first);
            for (k, d) in batch.iter().enumerate() {
                prop_assert!(same_detection(d, &whole[first + k]), "point {}: {:?} vs {:?}", first + k, d, whole[first + k]);
            }
        }
    }

    #[test]
    fn extreme_values_never_panic(
        raw in prop::collection::vec(
            (prop_oneof![
                Just(Some(f64::NAN)), Just(Some(f64::INFINITY)), Just(Some(f64::NEG_INFINITY)),
                Just(Some(f64::MAX)), Just(Some(-f64::MAX)), Just(Some(1e308)), Just(Some(0.0)),
                Just(None), (-1e300..1e300f64).prop_map(Some),
            ], Just(0u8), 0..3u8, 0..2u8),
            1..60),
        cfg in config(),
    ) {
        let series = build_series(&raw);
        let out = cfg.detector().detect(&series, 0, &ctx());
        prop_assert_eq!(out.len(), series.len());
        for d in &out {
            prop_assert!(d.score.is_none_or(|s| !s.is_nan()));
            if d.value.is_some_and(|v| !v.is_finite()) {
                prop_assert!(d.skipped.is_some());
            }
        }
        let missing = MissingDataDetector::new(2).detect(&series, 0, &ctx());
        prop_assert_eq!(missing.len(), series.len());
    }

    #[test]
    fn missing_runs_do_not_depend_on_batches(raw in raw_series(120), cut in 0usize..120, need in 1usize..4) {
        let series = build_series(&raw);
        let det = MissingDataDetector::new(need).with_max_age(TimeDelta::minutes(25));
        let whole = det.detect(&series, 0, &ctx());
        let cut = cut % series.len();
        let Window::Points(n) = det.window() else { panic!("point window expected") };
        let start = cut.saturating_sub(n);
        let batch = det.detect(&series[start..], cut - start, &ctx());
        prop_assert_eq!(&batch[..], &whole[cut..]);
    }
}

// ---- robust_seasonal ----

fn robust() -> impl Strategy<Value = detectk_detectors::RobustSeasonalDetector> {
    use detectk_detectors::{CalendarFeature, RobustSeasonalDetector};
    let window = prop_oneof![
        (1..40usize).prop_map(Window::Points),
        (2..90i64).prop_map(|m| Window::Span(HumanDuration::from_seconds(m * 600))),
    ];
    let season = prop_oneof![
        Just(vec![]),
        Just(vec![CalendarFeature::HourOfDay]),
        Just(vec![CalendarFeature::HourOfDay, CalendarFeature::IsWeekend]),
    ];
    (
        window,
        season,
        prop_oneof![Just(0.5), Just(0.9), Just(1.0)],
        0.5..3.0f64,
        0..120i64,
        1..4usize,
        1..4usize,
        prop_oneof![
            Just(None),
            (10..200i64).prop_map(|m| Some(TimeDelta::minutes(m)))
        ],
    )
        .prop_map(
            |(window, season, q, m, warm, per_season, points, exclude)| {
                let exclude = exclude.filter(|_| matches!(window, Window::Span(_)));
                let warm = match &window {
                    Window::Span(d) => TimeDelta::minutes(warm).min(d.delta()),
                    Window::Points(_) => TimeDelta::minutes(warm),
                };
                RobustSeasonalDetector::default()
                    .with_window(window)
                    .with_season(season)
                    .with_scale(q, m)
                    .with_warm_up(warm, per_season, points)
                    .with_exclusion(exclude)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn robust_seasonal_never_sees_later_points(raw in raw_series(120), det in robust(), cut in 0usize..120, seed in any::<u64>()) {
        let series = build_series(&raw);
        let cut = cut % series.len();
        let mut changed = series.clone();
        let mut s = seed | 1;
        for p in &mut changed[cut + 1..] {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            p.value = Some((s % 1000) as f64 - 500.0);
            p.is_missing = false;
        }
        let a = det.detect(&series, 0, &ctx());
        let b = det.detect(&changed, 0, &ctx());
        prop_assert_eq!(a.len(), series.len());
        for i in 0..=cut {
            prop_assert!(same_detection(&a[i], &b[i]), "point {}: {:?} vs {:?}", i, a[i], b[i]);
        }
    }

    #[test]
    fn robust_seasonal_batches_do_not_change_results(raw in raw_series(120), det in robust(), cuts in prop::collection::vec(0usize..120, 1..4)) {
        let series = build_series(&raw);
        let whole = det.detect(&series, 0, &ctx());
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % series.len()).collect();
        cuts.push(0);
        cuts.push(series.len());
        cuts.sort_unstable();
        cuts.dedup();
        for pair in cuts.windows(2) {
            let (first, end) = (pair[0], pair[1]);
            let start = match det.window() {
                Window::Points(n) => first.saturating_sub(n),
                Window::Span(d) => series.partition_point(|p| p.timestamp < series[first].timestamp - d.delta()),
            };
            let batch = det.detect(&series[start..end], first - start, &ctx());
            prop_assert_eq!(batch.len(), end - first);
            for (k, d) in batch.iter().enumerate() {
                prop_assert_eq!(d, &whole[first + k], "point {}", first + k);
            }
        }
    }

    #[test]
    fn robust_seasonal_extreme_values_never_panic(
        raw in prop::collection::vec(
            (prop_oneof![
                Just(Some(f64::NAN)), Just(Some(f64::INFINITY)), Just(Some(f64::MAX)),
                Just(Some(-f64::MAX)), Just(Some(0.0)), Just(None), (-1e300..1e300f64).prop_map(Some),
            ], Just(0u8), 0..3u8, 0..2u8),
            1..60),
        det in robust(),
    ) {
        let series = build_series(&raw);
        let out = det.detect(&series, 0, &ctx());
        prop_assert_eq!(out.len(), series.len());
        for d in &out {
            prop_assert!(d.score.is_none_or(|s| !s.is_nan()));
            if d.value.is_some_and(|v| !v.is_finite()) {
                prop_assert!(d.skipped.is_some());
            }
        }
    }
}
