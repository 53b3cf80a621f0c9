//! Unweighted "any of several features" histories as sorted rank lists.
//!
//! Without weights, a window's quantiles, median and MAD are plain order statistics
//! of its values ([`crate::stats::exact`]). So instead of sliding one stream per key
//! (a point belongs to the streams of every key it matches, about 31 for hour of day
//! or day of week), each list of a [`UnionIndex`] (per subset of the features and value
//! of the subset: 3 lists per point for two features) keeps the ranks of its window
//! members sorted, and each scored point selects from its key's lists, signed by
//! inclusion-exclusion ([`crate::stats::rank_union`]).

use detectk_core::{DataPoint, Detection};

use crate::common::HistoryOptions;
use crate::history::{Scored, Sliding, WindowStart, scorable, too_little};
use crate::seasonal::RawKey;
use crate::stats::ordered::ranked;
use crate::stats::rank_union::RankSelect;
use crate::union_index::UnionIndex;

/// Whether a union history under `opts` is scored from sorted rank lists: several
/// features not combined, no decay, a statistic that can, and no `-0.0` value (it
/// would share its rank with `0.0`, whose sign a stream of its own could keep).
pub(crate) fn ranks_apply<S: Sliding>(opts: &HistoryOptions, values: &[Option<f64>]) -> bool {
    S::FROM_RANKS
        && opts.seasonality.features.len() >= 2
        && !opts.seasonality.combined
        && opts.decay.is_none()
        && !values
            .iter()
            .flatten()
            .any(|v| *v == 0.0 && v.is_sign_negative())
}

/// Scores `series[first..]` against unweighted union histories by selection over the
/// sorted rank lists of `index`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_ranks<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    values: &[Option<f64>],
    raw: &[RawKey],
    mut index: UnionIndex,
    starts: &mut WindowStart<'_>,
    mut score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let features = &opts.seasonality.features;
    // Ranks among the distinct values of the present points (missing ones never enter).
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let (vals, present_rank) = ranked(&present);
    let mut next = present_rank.into_iter();
    let ranks: Vec<u32> = values
        .iter()
        .map(|v| v.and_then(|_| next.next()).unwrap_or(0))
        .collect();
    index.track_ranks(ranks);
    let mut select = RankSelect::new(&vals);
    let mut out = Vec::with_capacity(series.len() - first);
    for i in first..series.len() {
        let point = &series[i];
        let value = match scorable(point, values[i], &raw[i], features) {
            Ok(value) => value,
            Err(skipped) => {
                out.push(skipped);
                continue;
            }
        };
        let lo = starts.at(i);
        let (n, parts) = index.ranked_window(&raw[i], lo, i);
        let summary = if n < opts.min_points || n == 0 {
            None
        } else {
            S::of_ranks(&mut select, &parts)
        };
        out.push(match summary {
            Some(summary) => score(Scored {
                point,
                value,
                summary,
                n,
            }),
            None => too_little(point, n, opts.min_points),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Seasonality;
    use crate::history::{scan, scan_unions};
    use crate::iqr::Quartiles;
    use crate::mad::MedianMad;
    use crate::seasonal::raw_key;
    use crate::test_series::featured_series;
    use detectk_core::Window;
    use proptest::prelude::*;

    fn to_detection<const N: usize>(s: Scored<'_, [f64; N]>) -> Detection {
        let mut d = Detection::skipped(s.point.timestamp, Some(s.value), "");
        d.skipped = None;
        d.lower_bound = Some(s.summary[0]);
        d.upper_bound = Some(s.summary[N - 1]);
        d.percent_deviation = Some(s.summary[N / 2]);
        d.score = Some(s.n as f64);
        d
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(60))]

        /// Fast union equals the reference computation: selecting from sorted rank lists
        /// gives every detection (quartiles; median and MAD) of gathering each point's
        /// whole history and scoring it afresh, to the bit.
        #[test]
        fn rank_lists_score_like_gathered_histories(
            seed in any::<u64>(),
            len in 2..1200usize,
            features in 2..=4usize,
            ties in any::<bool>(),
            window in prop_oneof![(1..40usize).prop_map(Window::Points), (40..900usize).prop_map(Window::Points)],
            min_points in 0..5usize,
            run in 1..8usize,
            first in 0..50usize,
        ) {
            let series = featured_series(seed, len, features, ties, run);
            let names: Vec<String> = (0..features).map(|f| format!("f{f}")).collect();
            let opts = HistoryOptions {
                window,
                min_points,
                decay: None,
                seasonality: Seasonality::any_of(names.clone()),
            };
            let first = first.min(len);
            let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
            prop_assert!(ranks_apply::<MedianMad>(&opts, &values));
            let raw: Vec<RawKey> = series.iter().map(|p| raw_key(&p.context, &names)).collect();
            let mad = |s: Scored<'_, (f64, f64)>| {
                to_detection(Scored { point: s.point, value: s.value, summary: [s.summary.0, s.summary.1], n: s.n })
            };
            let bits = |out: &[Detection]| -> Vec<[Option<u64>; 3]> {
                out.iter()
                    .map(|d| [d.lower_bound, d.percent_deviation, d.upper_bound].map(|x| x.map(f64::to_bits)))
                    .collect()
            };
            let fast = scan::<MedianMad>(&series, first, &opts, mad);
            let mut starts = WindowStart { series: &series, window: &opts.window, lo: 0 };
            let gathered = scan_unions::<MedianMad>(&series, first, &opts, &values, &raw, &mut starts, mad);
            prop_assert_eq!(bits(&fast), bits(&gathered));
            prop_assert_eq!(fast, gathered);
            let fast = scan::<Quartiles>(&series, first, &opts, to_detection);
            let mut starts = WindowStart { series: &series, window: &opts.window, lo: 0 };
            let gathered = scan_unions::<Quartiles>(&series, first, &opts, &values, &raw, &mut starts, to_detection);
            prop_assert_eq!(bits(&fast), bits(&gathered));
            prop_assert_eq!(fast, gathered);
        }
    }
}
