//! Decaying "any of several features" histories scored from their newest points.
//!
//! With weights decaying fast enough, a window's weighted median and MAD are decided
//! by its newest points ([`crate::stats::ordered::median_mad_of_newest`] proves when).
//! So each scored point walks back over its newest history points through a
//! [`UnionIndex`] instead of sliding one stream per key: first the points holding all
//! but `exp(-8)` of the newest weight, then, when that does not decide, all but
//! `exp(-27)` of it, and when even that does not, the whole window, scored like the
//! reference.

use detectk_core::{DataPoint, Detection};

use crate::common::HistoryOptions;
use crate::history::{Scored, Sliding, WindowStart, bad_key, too_little, unusable};
use crate::seasonal::{RawKey, missing_feature};
use crate::stats::ordered::{Newest, older_weight_bound};
use crate::union_index::UnionIndex;

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
    let mut newest: Vec<f64> = Vec::with_capacity(kept[1]);
    let mut scratch = Vec::with_capacity(kept[1]);
    let mut out = Vec::with_capacity(series.len() - first);
    for i in first..series.len() {
        let point = &series[i];
        let Some(value) = values[i] else {
            out.push(unusable(point));
            continue;
        };
        if let Some(e) = missing_feature(&raw[i], features) {
            out.push(bad_key(point, e));
            continue;
        }
        let lo = starts.at(i);
        let (n, mut walk) = index.window(&raw[i], lo, i);
        if n < opts.min_points || n == 0 {
            out.push(too_little(point, n, opts.min_points));
            continue;
        }
        newest.clear();
        let mut summary = None;
        for k in kept {
            let k = k.min(n);
            newest.extend(walk.by_ref().take(k - newest.len()).filter_map(|j| values[j]));
            let rest = if k == n {
                0.0
            } else {
                older_weight_bound(decay, k)
            };
            let part = Newest {
                values: &newest,
                weights: &weights[..k],
                rest,
            };
            summary = S::from_newest(&part, &mut scratch);
            if summary.is_some() || k == n {
                break;
            }
        }
        let summary = summary.or_else(|| {
            // Undecided: the whole window, oldest first, as the reference scores it.
            newest.extend(walk.filter_map(|j| values[j]));
            newest.reverse();
            let mut stat = S::new(&newest, opts.decay);
            for _ in 0..n {
                stat.push();
            }
            stat.summary()
        });
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
