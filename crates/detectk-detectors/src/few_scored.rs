//! A cron run: a few new points scored from their newest history points.
//!
//! A cron run scores one point (or a few, after downtime) against a whole window of
//! history. Sliding a stream over the window ranks all of it (a sort of thousands of
//! values) to answer once. With weights decaying fast enough, a weighted median and
//! MAD are decided by the newest history points
//! ([`crate::stats::ordered::median_mad_of_newest`] proves when, with the margin that
//! also covers the sliding computation's rounding), so each scored point walks back
//! from itself to collect its newest history points and count the rest. When a point
//! is not decided that way, the caller slides as usual: the results are the same
//! either way, to the bit. Without weights, order statistics (MAD, IQR) are plain
//! order statistics of the history's values: each scored point gathers them and
//! selects ([`crate::stats::exact`]) instead of ranking the whole window.

use detectk_core::{DataPoint, Detection};

use crate::common::HistoryOptions;
use crate::history::{Scored, Sliding, WindowStart, bad_key, too_little, unusable};
use crate::seasonal::{KeyError, KeyReader, missing_feature};
use crate::stats::ordered::{Newest, Scratch, older_weight_bound};
use crate::union_index::MAX_FEATURES;

/// Most scored points taken this way: each walks its whole window back.
const MAX_SCORED: usize = 32;

/// Slowest decay taken this way (the newest points needed grow as `1 / decay`).
const MIN_DECAY: f64 = 0.05;

/// Newest weight exponents left out by the first and the second try.
const TRIES: [f64; 2] = [8.0, 27.0];

/// Whether `series[first..]` under `opts` is scored this way: few points, a statistic
/// that can answer from the newest points, a fast enough decay, no `-0.0` value (whose
/// sign the sliding computation may keep where this one cannot), and features that
/// partition the history (none, one, or all combined) or a union that
/// [`crate::union_scan`] would score from its newest points too (which this path then
/// reproduces: the same newest points, weights and tries).
pub(crate) fn few_applies<S: Sliding>(
    opts: &HistoryOptions,
    values: &[Option<f64>],
    first: usize,
) -> bool {
    let features = &opts.seasonality.features;
    let newest = S::FROM_NEWEST && opts.decay.is_some_and(|d| d >= MIN_DECAY);
    let exact = S::UNWEIGHTED_EXACT && opts.decay.is_none();
    (newest || exact)
        && values.len().saturating_sub(first) <= MAX_SCORED
        && (features.len() <= MAX_FEATURES || opts.seasonality.combined)
        && !values
            .iter()
            .flatten()
            .any(|v| *v == 0.0 && v.is_sign_negative())
}

/// What one scored point gets, before its detection is built.
enum Outcome<T> {
    /// Missing or non-finite value.
    Unusable,
    /// Its own key lacks a feature.
    BadKey(KeyError),
    /// Fewer history points than needed.
    TooLittle(usize),
    /// Its value, the statistics of its history and the history's size.
    Scored(f64, T, usize),
}

/// Scores `series[first..]` from each point's newest history points; `None` when some
/// point is not decided by them (nothing is scored then).
pub(crate) fn scan_few<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    values: &[Option<f64>],
    mut score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Option<Vec<Detection>> {
    let features = &opts.seasonality.features;
    // Keys are read for the scored points only; history points are compared in place.
    let mut reader = KeyReader::new(features, opts.seasonality.timezone);
    let union = features.len() > 1 && !opts.seasonality.combined;
    // Unweighted: every history value, and selection (see `Sliding::of_unweighted`).
    let exact = opts.decay.is_none();
    let decay = opts.decay.unwrap_or(MIN_DECAY);
    let mut deviations = Vec::new();
    let kept = TRIES.map(|e| (e / decay).ceil() as usize);
    let mut starts = WindowStart {
        series,
        window: &opts.window,
        lo: 0,
    };
    let mut weights: Vec<f64> = Vec::new();
    let mut totals: Vec<f64> = vec![0.0];
    let mut newest: Vec<f64> = Vec::with_capacity(kept[1]);
    let mut scratch = Scratch::default();
    let mut outcomes = Vec::with_capacity(series.len() - first);
    for i in first..series.len() {
        let Some(value) = values[i] else {
            outcomes.push(Outcome::Unusable);
            continue;
        };
        let key = reader.key(&series[i]);
        if let Some(e) = missing_feature(&key, features) {
            outcomes.push(Outcome::BadKey(e));
            continue;
        }
        let lo = starts.at(i);
        // The history: present points of the window with the point's (complete) key.
        let mut in_history = |j: usize| {
            values[j].is_some()
                && (features.is_empty()
                    || if union {
                        reader.matches_any(&series[j], &key)
                    } else {
                        reader.complete_and_equal(&series[j], &key)
                    })
        };
        newest.clear();
        let mut n = 0;
        for j in (lo..i).rev().filter(|&j| in_history(j)) {
            if exact || newest.len() < kept[1] {
                newest.push(values[j].unwrap_or(0.0));
            }
            n += 1;
        }
        if n < opts.min_points || n == 0 {
            outcomes.push(Outcome::TooLittle(n));
            continue;
        }
        if exact {
            let summary = S::of_unweighted(&mut newest, &mut deviations)?;
            outcomes.push(Outcome::Scored(value, summary, n));
            continue;
        }
        let mut summary = None;
        for k in kept {
            let k = k.min(n);
            extend_weights(&mut weights, &mut totals, decay, k);
            let rest = if k == n {
                0.0
            } else {
                older_weight_bound(decay, k)
            };
            let part = Newest {
                values: &newest[..k],
                weights: &weights[..k],
                total: totals[k],
                rest,
                sorted: None,
            };
            summary = S::from_newest(&part, &mut scratch);
            if summary.is_some() || k == n {
                break;
            }
        }
        outcomes.push(Outcome::Scored(value, summary?, n));
    }
    let out = series[first..]
        .iter()
        .zip(outcomes)
        .map(|(point, outcome)| match outcome {
            Outcome::Unusable => unusable(point),
            Outcome::BadKey(e) => bad_key(point, e),
            Outcome::TooLittle(n) => too_little(point, n, opts.min_points),
            Outcome::Scored(value, summary, n) => score(Scored {
                point,
                value,
                summary,
                n,
            }),
        })
        .collect();
    Some(out)
}

/// Makes `weights` hold at least `k` weights `exp(-decay * k)` (newest first), and
/// `totals[k]` the sum of the newest `k`, summed in the same order as elsewhere.
fn extend_weights(weights: &mut Vec<f64>, totals: &mut Vec<f64>, decay: f64, k: usize) {
    while weights.len() < k {
        let w = (-decay * weights.len() as f64).exp();
        weights.push(w);
        let sum = totals.last().copied().unwrap_or(0.0) + w;
        totals.push(sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Seasonality;
    use crate::history::{scan, scan_streams};
    use crate::iqr::Quartiles;
    use crate::mad::MedianMad;
    use crate::test_series::{pair_detection, xorshift};
    use chrono::{TimeDelta, TimeZone, Utc};
    use detectk_core::{HumanDuration, Window};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// Continuous or tied values with level shifts and spikes, missing points, and
    /// a feature `f` (sometimes null or absent) and `g`.
    fn series(seed: u64, len: usize, ties: bool) -> Vec<DataPoint> {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let mut next = xorshift(seed);
        (0..len)
            .map(|i| {
                let r = next();
                let mut ctx = Map::new();
                match r % 29 {
                    0 => {}
                    1 => {
                        ctx.insert("f".into(), Value::Null);
                    }
                    _ => {
                        ctx.insert("f".into(), Value::from(i % 6));
                    }
                }
                ctx.insert("g".into(), Value::from((i / 6) % 2));
                let v = if ties {
                    ((r >> 16) % 7) as f64
                } else if r.is_multiple_of(97) {
                    1e6
                } else {
                    ((r >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 100.0 + (i / 400) as f64 * 80.0
                };
                let ts = t0 + TimeDelta::minutes(10 * i as i64);
                if r.is_multiple_of(19) {
                    DataPoint::missing(ts)
                } else {
                    DataPoint::new(ts, v)
                }
                .with_context(ctx)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(60))]

        /// Fast path equals full computation: a cron run's few points scored from
        /// their newest history get every detection of sliding streams, to the bit.
        #[test]
        fn few_points_score_like_sliding_streams(
            seed in any::<u64>(),
            len in 2..3000usize,
            scored in 1..=MAX_SCORED,
            ties in any::<bool>(),
            decay in prop_oneof![Just(None), (0.05..0.3f64).prop_map(Some), (0.3..3.0f64).prop_map(Some)],
            window in prop_oneof![
                (1..60usize).prop_map(Window::Points),
                (60..2500usize).prop_map(Window::Points),
                (1..20i64).prop_map(|d| Window::Span(HumanDuration::from_seconds(d * 86_400))),
            ],
            min_points in 0..5usize,
            season in 0..4usize,
        ) {
            let series = series(seed, len, ties);
            let seasonality = match season {
                0 => Seasonality::none(),
                1 => Seasonality::any_of(["f"]),
                2 => Seasonality::all_of(["f", "g"]),
                _ => Seasonality::any_of(["f", "g"]),
            };
            let opts = HistoryOptions { window, min_points, decay, seasonality };
            let first = len.saturating_sub(scored);
            let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
            prop_assert!(few_applies::<MedianMad>(&opts, &values, first));
            {
                prop_assert!(few_applies::<Quartiles>(&opts, &values, first));
                let quartiles = |s: Scored<'_, [f64; 3]>| {
                    let mut d = Detection::skipped(s.point.timestamp, Some(s.value), "");
                    d.skipped = None;
                    d.lower_bound = Some(s.summary[0]);
                    d.score = Some(s.summary[1]);
                    d.upper_bound = Some(s.summary[2]);
                    d.percent_deviation = Some(s.n as f64);
                    d
                };
                let fast = scan::<Quartiles>(&series, first, &opts, quartiles);
                let sliding = scan_streams::<Quartiles>(&series, first, &opts, quartiles);
                prop_assert_eq!(fast, sliding);
            }
            let fast = scan::<MedianMad>(&series, first, &opts, pair_detection);
            let sliding = scan_streams::<MedianMad>(&series, first, &opts, pair_detection);
            prop_assert_eq!(fast.len(), sliding.len());
            for (i, (a, b)) in fast.iter().zip(&sliding).enumerate() {
                prop_assert_eq!(a.lower_bound.map(f64::to_bits), b.lower_bound.map(f64::to_bits), "median at {}", i);
                prop_assert_eq!(a.upper_bound.map(f64::to_bits), b.upper_bound.map(f64::to_bits), "mad at {}", i);
                prop_assert_eq!(a, b, "at {}", i);
            }
        }
    }

    #[test]
    fn the_fast_path_answers_a_plain_cron_run() {
        let series = series(3, 4321, false);
        let opts = HistoryOptions {
            window: Window::Points(4320),
            ..HistoryOptions::default()
        };
        let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
        let out = scan_few::<MedianMad>(&series, 4320, &opts, &values, pair_detection);
        assert!(out.is_some_and(|o| o.len() == 1));
    }
}
