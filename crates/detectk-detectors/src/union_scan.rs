//! Decaying "any of several features" histories scored from their newest points.
//!
//! With weights decaying fast enough, a window's weighted median and MAD are decided
//! by its newest points ([`crate::stats::ordered::median_mad_of_newest`] proves when).
//! So each scored point walks back over its newest history points through a
//! [`UnionIndex`] instead of sliding one stream per key: first the points holding all
//! but `exp(-8)` of the newest weight, then, when that does not decide, all but
//! `exp(-27)` of it, and when even that does not, the whole window, scored like the
//! reference. A point with the previous point's key has that point's history plus
//! that point, so it starts from the previous point's newest points.

use detectk_core::{DataPoint, Detection};

use crate::common::HistoryOptions;
use crate::history::{Scored, Sliding, WindowStart, scorable, too_little};
use crate::newest_sorted::NewestSorted;
use crate::seasonal::RawKey;
use crate::stats::ordered::{Newest, Scratch, older_weight_bound};
use crate::union_index::{UnionIndex, Walk};

/// Slowest decay scored this way: below it the newest points needed grow past a few
/// hundred and sliding streams cost less.
const MIN_DECAY: f64 = 0.05;

/// Newest weight exponents left out by the first and the second try.
const TRIES: [f64; 2] = [8.0, 27.0];

/// Whether a union history under `opts` is scored from its newest points: several
/// features not combined, a fast enough decay, a statistic that can, and no `-0.0`
/// value (whose sign the whole-stream computation may keep where this one cannot).
pub(crate) fn newest_applies<S: Sliding>(opts: &HistoryOptions, values: &[Option<f64>]) -> bool {
    S::FROM_NEWEST
        && opts.seasonality.features.len() >= 2
        && !opts.seasonality.combined
        && opts.decay.is_some_and(|d| d >= MIN_DECAY)
        && !values
            .iter()
            .flatten()
            .any(|v| *v == 0.0 && v.is_sign_negative())
}

/// Scores `series[first..]` against union histories from their newest points.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_newest<S: Sliding>(
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
    let decay = opts.decay.unwrap_or(MIN_DECAY);
    let kept = TRIES.map(|e| (e / decay).ceil() as usize);
    let weights: Vec<f64> = (0..kept[1]).map(|k| (-decay * k as f64).exp()).collect();
    // totals[k]: the sum of the newest k weights.
    let totals: Vec<f64> = std::iter::once(0.0)
        .chain(weights.iter().scan(0.0, |sum, w| {
            *sum += w;
            Some(*sum)
        }))
        .collect();
    // History values without the `Option`: only present points are walked.
    let dense: Vec<f64> = values.iter().map(|v| v.unwrap_or(0.0)).collect();
    let mut newest: Vec<f64> = Vec::with_capacity(kept[1]);
    let mut scratch = Scratch::default();
    // The newest history points of the last scored point, newest first: the next point
    // with the same key has the same history plus that point.
    let mut recent: Vec<usize> = Vec::with_capacity(kept[1] + 1);
    let mut recent_of: Option<usize> = None;
    // The newest `kept[0]` (or fewer) of `recent`, sorted by value.
    let mut sorted = NewestSorted::default();
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
        let (n, walk) = index.window(&raw[i], lo, i);
        if n < opts.min_points || n == 0 {
            out.push(too_little(point, n, opts.min_points));
            continue;
        }
        let previous = i.checked_sub(1);
        let first_k = kept[0].min(n);
        let reused = previous.is_some() && recent_of == previous && raw[i - 1] == raw[i];
        if reused {
            // The previous point was scored (its value is present) with this key.
            recent.insert(0, i - 1);
            sorted.push_newest(dense[i - 1]);
        } else {
            recent.clear();
        }
        recent_of = Some(i);
        let mut newer = Newer {
            walk,
            walked: 0,
            recent: &mut recent,
        };
        newer.fill(first_k);
        if reused {
            while sorted.len() > first_k {
                sorted.pop_oldest(dense[newer.recent[sorted.len() - 1]]);
            }
            while sorted.len() < first_k {
                sorted.push_oldest(dense[newer.recent[sorted.len()]]);
            }
        } else {
            sorted.reset(newer.recent[..first_k].iter().map(|&j| dense[j]));
        }
        let mut summary = None;
        for k in kept {
            let k = k.min(n);
            newer.fill(k);
            newest.clear();
            newest.extend(newer.recent[..k].iter().map(|&j| dense[j]));
            let rest = if k == n {
                0.0
            } else {
                older_weight_bound(decay, k)
            };
            let part = Newest {
                values: &newest,
                weights: &weights[..k],
                total: totals[k],
                rest,
                sorted: (k == first_k).then(|| sorted.pairs(&weights)),
            };
            summary = S::from_newest(&part, &mut scratch);
            if summary.is_some() || k == n {
                break;
            }
        }
        let summary = summary.or_else(|| {
            // Undecided: the whole window, oldest first, as the reference scores it.
            newer.fill(n);
            newest.clear();
            newest.extend(newer.recent[..n].iter().rev().filter_map(|&j| values[j]));
            let mut stat = S::new(&newest, opts.decay);
            for _ in 0..n {
                stat.push();
            }
            stat.summary()
        });
        recent.truncate(kept[1]);
        match summary {
            Some(summary) => out.push(score(Scored {
                point,
                value,
                summary,
                n,
            })),
            None => out.push(too_little(point, n, opts.min_points)),
        }
    }
    out
}

/// A window's history points newest first: the known ones, then the walk's.
struct Newer<'a, 'b> {
    walk: Walk<'a>,
    /// Points taken from the walk so far.
    walked: usize,
    /// The newest points known, newest first.
    recent: &'b mut Vec<usize>,
}

impl Newer<'_, '_> {
    /// Makes the newest `k` points known (fewer when the window holds fewer).
    fn fill(&mut self, k: usize) {
        while self.recent.len() < k {
            // The walk yields the same points from the newest: skip the known ones.
            while self.walked < self.recent.len() {
                self.walk.next();
                self.walked += 1;
            }
            let Some(j) = self.walk.next() else { return };
            self.walked += 1;
            self.recent.push(j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Seasonality;
    use crate::history::{scan, scan_unions};
    use crate::iqr::Quartiles;
    use crate::mad::MedianMad;
    use crate::seasonal::raw_key;
    use crate::test_series::{featured_series, pair_detection};
    use detectk_core::Window;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Fast union equals the reference computation: scoring union histories from
        /// their newest points gives every detection (median and MAD; quartiles) of
        /// gathering each point's whole history and scoring it afresh, to the bit.
        #[test]
        fn newest_points_score_like_gathered_histories(
            seed in any::<u64>(),
            len in 50..1200usize,
            features in 2..=3usize,
            ties in any::<bool>(),
            decay in prop_oneof![0.05..0.3f64, 0.3..3.0f64],
            window in prop_oneof![(1..40usize).prop_map(Window::Points), (40..900usize).prop_map(Window::Points)],
            min_points in 0..5usize,
            run in 1..8usize,
        ) {
            let series = featured_series(seed, len, features, ties, run);
            let names: Vec<String> = (0..features).map(|f| format!("f{f}")).collect();
            let opts = HistoryOptions {
                window,
                min_points,
                decay: Some(decay),
                seasonality: Seasonality::any_of(names.clone()),
            };
            let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
            prop_assert!(newest_applies::<MedianMad>(&opts, &values));
            let fast = scan::<MedianMad>(&series, 10, &opts, pair_detection);
            let raw: Vec<RawKey> = series.iter().map(|p| raw_key(&p.context, &names)).collect();
            let mut starts = WindowStart { series: &series, window: &opts.window, lo: 0 };
            let gathered = scan_unions::<MedianMad>(&series, 10, &opts, &values, &raw, &mut starts, pair_detection);
            prop_assert_eq!(fast.len(), gathered.len());
            for (i, (a, b)) in fast.iter().zip(&gathered).enumerate() {
                prop_assert_eq!(a.lower_bound.map(f64::to_bits), b.lower_bound.map(f64::to_bits), "median at {}", i);
                prop_assert_eq!(a.upper_bound.map(f64::to_bits), b.upper_bound.map(f64::to_bits), "mad at {}", i);
                prop_assert_eq!(a, b, "at {}", i);
            }
            prop_assert!(newest_applies::<Quartiles>(&opts, &values));
            let quartiles = |s: Scored<'_, [f64; 3]>| {
                let mut d = Detection::skipped(s.point.timestamp, Some(s.value), "");
                d.skipped = None;
                d.lower_bound = Some(s.summary[0]);
                d.percent_deviation = Some(s.summary[1]);
                d.upper_bound = Some(s.summary[2]);
                d.score = Some(s.n as f64);
                d
            };
            let bits = |d: &Detection| [d.lower_bound, d.percent_deviation, d.upper_bound].map(|x| x.map(f64::to_bits));
            let fast = scan::<Quartiles>(&series, 10, &opts, quartiles);
            let mut starts = WindowStart { series: &series, window: &opts.window, lo: 0 };
            let gathered = scan_unions::<Quartiles>(&series, 10, &opts, &values, &raw, &mut starts, quartiles);
            prop_assert_eq!(fast.len(), gathered.len());
            for (i, (a, b)) in fast.iter().zip(&gathered).enumerate() {
                prop_assert_eq!(bits(a), bits(b), "quartiles at {}", i);
                prop_assert_eq!(a, b, "at {}", i);
            }
        }
    }
}
