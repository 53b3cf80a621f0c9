//! Walks a series and hands each scored point the statistics of its own history.
//!
//! The history of `series[i]` is every present, finite point `j < i` inside the
//! window (`ts[j] >= ts[i] - span`, or `j >= i - count`), restricted to the point's
//! seasonal group. Each history stream ([`crate::groups`]) keeps one sliding
//! statistic, so a point enters and leaves it once; unions whose streams would be too
//! large are gathered and scored point by point instead, and unions of a statistic that
//! can answer from the newest points of a decaying window (weighted MAD) need no
//! streams at all ([`crate::union_scan`]).

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::{DataPoint, Detection, Window};

use crate::common::HistoryOptions;
use crate::few_scored::{few_applies, scan_few};
use crate::groups::Groups;
use crate::seasonal::{KeyError, RawKey, key_at, matches, missing_feature, raw_keys};
use crate::stats::ordered::{Newest, Scratch};
use crate::stats::rank_union::{Parts, RankSelect};
use crate::union_index::UnionIndex;
use crate::union_ranks::{ranks_apply, scan_ranks};
use crate::union_scan::{newest_applies, scan_newest};

/// A window statistic that slides over a stream of history values.
pub(crate) trait Sliding {
    /// What the detector needs from the window.
    type Summary;
    /// An empty window over the stream `values` (finite, in time order).
    fn new(values: &[f64], decay: Option<f64>) -> Self;
    /// Starts an empty window at member `m` (members before it never enter).
    fn start_at(&mut self, m: usize);
    /// Adds the next member.
    fn push(&mut self);
    /// Removes the oldest member.
    fn pop(&mut self);
    /// The statistics of the members in the window (`None` when empty).
    fn summary(&mut self) -> Option<Self::Summary>;
    /// Whether [`Sliding::from_newest`] can answer for weighted windows.
    const FROM_NEWEST: bool = false;
    /// The statistics of a decaying window from its newest members alone, when they
    /// provably equal those of the whole window; `None` otherwise.
    fn from_newest(_newest: &Newest<'_>, _scratch: &mut Scratch) -> Option<Self::Summary> {
        None
    }
    /// Whether [`Sliding::of_unweighted`] can answer.
    const UNWEIGHTED_EXACT: bool = false;
    /// The statistics of an unweighted window from its values alone (in any order,
    /// reordered; finite, no `-0.0`), exactly the sliding statistic's; `None` when
    /// empty. `scratch` is reused between calls.
    fn of_unweighted(_values: &mut [f64], _scratch: &mut Vec<f64>) -> Option<Self::Summary> {
        None
    }
    /// Whether [`Sliding::of_ranks`] can answer.
    const FROM_RANKS: bool = false;
    /// The statistics of an unweighted, non-empty history given as signed sorted rank
    /// lists, exactly the sliding statistic's.
    fn of_ranks(_select: &mut RankSelect<'_>, _parts: &Parts<'_>) -> Option<Self::Summary> {
        None
    }
}

/// What a scored point gets: its value and the statistics of its history.
pub(crate) struct Scored<'a, T> {
    /// The scored point.
    pub point: &'a DataPoint,
    /// Its (finite) value.
    pub value: f64,
    /// Statistics of its history.
    pub summary: T,
    /// Number of history points used.
    pub n: usize,
}

/// Finds, for increasing `i`, the first index inside the window of `series[i]`.
pub(crate) struct WindowStart<'a> {
    pub(crate) series: &'a [DataPoint],
    pub(crate) window: &'a Window,
    pub(crate) lo: usize,
}

impl WindowStart<'_> {
    /// The first index inside the window of `series[i]` (`i` never decreasing).
    pub(crate) fn at(&mut self, i: usize) -> usize {
        match self.window {
            Window::Points(n) => i.saturating_sub(*n),
            Window::Span(d) => {
                let start = earliest(self.series[i].timestamp, d.delta());
                while self.lo < i && self.series[self.lo].timestamp < start {
                    self.lo += 1;
                }
                self.lo
            }
        }
    }
}

/// `t - span`, saturating at the earliest representable time.
fn earliest(t: DateTime<Utc>, span: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(span)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Scores `series[first..]` with a statistic `S`; `score` builds each detection.
///
/// A cron run's few points are scored from their newest history when that decides
/// them ([`crate::few_scored`]); otherwise streams slide ([`scan_streams`]).
pub(crate) fn scan<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    mut score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let first = first.min(series.len());
    let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
    if few_applies::<S>(opts, &values, first)
        && let Some(out) = scan_few::<S>(series, first, opts, &values, &mut score)
    {
        return out;
    }
    if !newest_applies::<S>(opts, &values)
        && let Some((keys, groups)) = Groups::<S>::for_scored(series, first, &values, opts)
    {
        // A cron run's few points: only their own streams, found without every key.
        let starts = WindowStart {
            series,
            window: &opts.window,
            lo: 0,
        };
        let keys = (keys.as_slice(), first);
        return slide_groups(series, first, opts, &values, keys, groups, starts, score);
    }
    let raw = keys_of(series, opts);
    slide::<S>(series, first, opts, values, raw, score)
}

/// Each point's feature values, read from its context once (none without features:
/// see [`key_at`]).
fn keys_of(series: &[DataPoint], opts: &HistoryOptions) -> Vec<RawKey> {
    let features = &opts.seasonality.features;
    if features.is_empty() {
        Vec::new()
    } else {
        raw_keys(series, features, opts.seasonality.timezone)
    }
}

/// [`scan`] without the few-points path: always slides streams (or walks unions).
#[cfg(test)]
pub(crate) fn scan_streams<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let first = first.min(series.len());
    let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
    let raw = keys_of(series, opts);
    slide::<S>(series, first, opts, values, raw, score)
}

/// Scores `series[first..]` by sliding one stream per history (or walking unions).
fn slide<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    values: Vec<Option<f64>>,
    raw: Vec<RawKey>,
    score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let features = &opts.seasonality.features;
    let mut starts = WindowStart {
        series,
        window: &opts.window,
        lo: 0,
    };
    let newest = newest_applies::<S>(opts, &values);
    if (newest || ranks_apply::<S>(opts, &values))
        && let Some(index) = UnionIndex::build(&raw, &values, features.len())
    {
        let (values, raw, starts) = (&values, &raw, &mut starts);
        return if newest {
            scan_newest::<S>(series, first, opts, values, raw, index, starts, score)
        } else {
            scan_ranks::<S>(series, first, opts, values, raw, index, starts, score)
        };
    }
    let Some(groups) =
        Groups::<S>::build(&raw, &values, features, opts.seasonality.combined, first)
    else {
        return scan_unions::<S>(series, first, opts, &values, &raw, &mut starts, score);
    };
    slide_groups(
        series,
        first,
        opts,
        &values,
        (&raw, 0),
        groups,
        starts,
        score,
    )
}

/// Where a scored point's history is, or why it has none.
enum Plan {
    /// Missing or non-finite value.
    Unusable,
    /// Its own key lacks a feature.
    BadKey(KeyError),
    /// No stream has its key.
    NoStream,
    /// In a stream; the first series index inside its window.
    Stream(usize),
}

/// Slides the streams of `groups` over `series[first..]`; the key of point `i` is
/// `keys.0[i - keys.1]` (see [`key_at`]).
///
/// Streams are taken one at a time, each over all of its scored points: a stream's
/// pushes, pops and queries are those of scoring the points in time order (streams do
/// not interact), but its data stays in cache instead of being swapped with the other
/// streams' at every point (a union point belongs to about 30 streams), and a stream's
/// statistic is dropped once its points are scored.
#[allow(clippy::too_many_arguments)]
fn slide_groups<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    values: &[Option<f64>],
    keys: (&[RawKey], usize),
    mut groups: Groups<S>,
    mut starts: WindowStart<'_>,
    mut score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let features = &opts.seasonality.features;
    let (raw, offset) = keys;
    let mut plans = Vec::with_capacity(series.len() - first);
    // The scored points of each stream, ascending.
    let mut by_stream: Vec<Vec<usize>> = Vec::new();
    for (i, value) in values.iter().enumerate().skip(first) {
        if value.is_none() {
            plans.push(Plan::Unusable);
            continue;
        }
        if let Some(e) = missing_feature(key_at(raw, i - offset), features) {
            plans.push(Plan::BadKey(e));
            continue;
        }
        let lo = starts.at(i);
        let Some(id) = groups.id(key_at(raw, i - offset)) else {
            plans.push(Plan::NoStream);
            continue;
        };
        if by_stream.len() <= id {
            by_stream.resize_with(id + 1, Vec::new);
        }
        by_stream[id].push(i);
        plans.push(Plan::Stream(lo));
    }
    // Each stream point's statistics (when it has enough history) and history size.
    let mut found: Vec<Option<(Option<S::Summary>, usize)>> =
        (first..series.len()).map(|_| None).collect();
    for (id, points) in by_stream.iter().enumerate() {
        let g = &mut groups.list[id];
        for &i in points {
            let Plan::Stream(lo) = plans[i - first] else {
                continue;
            };
            let stat = g.stat.get_or_insert_with(|| {
                let vals: Vec<f64> = g
                    .members
                    .iter()
                    .map(|&j| values[j].unwrap_or(0.0))
                    .collect();
                let mut s = S::new(&vals, opts.decay);
                let m = g.members.partition_point(|&j| j < lo);
                s.start_at(m);
                g.head = m;
                g.tail = m;
                s
            });
            while g.tail < g.members.len() && g.members[g.tail] < i {
                stat.push();
                g.tail += 1;
            }
            while g.head < g.tail && g.members[g.head] < lo {
                stat.pop();
                g.head += 1;
            }
            let n = g.tail - g.head;
            let summary = (n >= opts.min_points).then(|| stat.summary()).flatten();
            found[i - first] = Some((summary, n));
        }
        g.stat = None;
    }
    let mut out = Vec::with_capacity(series.len() - first);
    for ((point, plan), found) in series[first..].iter().zip(plans).zip(found) {
        out.push(match (plan, found) {
            (Plan::Unusable, _) => unusable(point),
            (Plan::BadKey(e), _) => bad_key(point, e),
            (Plan::Stream(_), Some((Some(summary), n))) => score(Scored {
                point,
                value: point.present_value().unwrap_or(0.0),
                summary,
                n,
            }),
            (Plan::Stream(_), Some((None, n))) => too_little(point, n, opts.min_points),
            (Plan::NoStream | Plan::Stream(_), _) => too_little(point, 0, opts.min_points),
        });
    }
    out
}

/// The "any feature matches" case: gathers each point's history and scores it afresh.
pub(crate) fn scan_unions<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    values: &[Option<f64>],
    raw: &[RawKey],
    starts: &mut WindowStart<'_>,
    mut score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let features = &opts.seasonality.features;
    let mut out = Vec::with_capacity(series.len() - first);
    let mut history = Vec::new();
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
        history.clear();
        history
            .extend((lo..i).filter_map(|j| values[j].filter(|_| matches(&raw[j], &raw[i], false))));
        let n = history.len();
        let mut stat = S::new(&history, opts.decay);
        for _ in 0..n {
            stat.push();
        }
        match (n >= opts.min_points).then(|| stat.summary()).flatten() {
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

/// A point's value when it can be scored, else the detection that says why not: it has
/// no usable value ([`unusable`]) or its key lacks a seasonal feature ([`bad_key`]).
// Inlined into the scans, which move the skip straight into their output: boxing it
// would allocate for every missing point.
#[allow(clippy::result_large_err)]
#[inline]
pub(crate) fn scorable(
    point: &DataPoint,
    value: Option<f64>,
    key: &RawKey,
    features: &[String],
) -> Result<f64, Detection> {
    let Some(value) = value else {
        return Err(unusable(point));
    };
    match missing_feature(key, features) {
        Some(e) => Err(bad_key(point, e)),
        None => Ok(value),
    }
}

/// The result for a missing or non-finite point.
///
/// A missing point gets score 0, as in Python detectk (which reports it as not
/// anomalous with score 0); a non-finite value gets no score.
pub(crate) fn unusable(point: &DataPoint) -> Detection {
    if point.is_missing || point.value.is_none() {
        let mut d = Detection::skipped(point.timestamp, point.value, "missing value");
        d.score = Some(0.0);
        d
    } else {
        Detection::skipped(point.timestamp, point.value, "non-finite value")
    }
}

/// The result for a point whose own key lacks a feature.
pub(crate) fn bad_key(point: &DataPoint, e: KeyError) -> Detection {
    let KeyError::Missing(f) = e;
    Detection::skipped(
        point.timestamp,
        point.value,
        format!("seasonal feature `{f}` is missing from the point's context"),
    )
}

/// The result for a point with too little history.
pub(crate) fn too_little(point: &DataPoint, n: usize, min: usize) -> Detection {
    Detection::skipped(
        point.timestamp,
        point.value,
        format!("too little history: {n} of {min} points needed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Seasonality;
    use crate::seasonal::raw_key;
    use crate::stats::ordered::OrderedWindow;
    use crate::test_series::pair_detection;
    use crate::zscore::MeanStd;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    struct MedianMad(OrderedWindow);

    impl Sliding for MedianMad {
        type Summary = (f64, f64);
        fn new(values: &[f64], decay: Option<f64>) -> Self {
            Self(OrderedWindow::new(values, decay))
        }
        fn start_at(&mut self, m: usize) {
            self.0.start_at(m);
        }
        fn push(&mut self) {
            self.0.push();
        }
        fn pop(&mut self) {
            self.0.pop();
        }
        fn summary(&mut self) -> Option<(f64, f64)> {
            self.0.median_mad()
        }
    }

    /// Points with features `a` (sometimes null or absent), `b` and `hour_of_day`
    /// (from the timestamp), continuous values and missing points.
    fn keyed_series(seed: u64, len: usize) -> Vec<DataPoint> {
        let t0 = Utc.with_ymd_and_hms(2024, 3, 30, 0, 0, 0).unwrap();
        let mut state = seed | 1;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut ctx = Map::new();
                match state % 23 {
                    0 => {}
                    1 => {
                        ctx.insert("a".into(), Value::Null);
                    }
                    _ => {
                        ctx.insert("a".into(), Value::from((state >> 8) % 4));
                    }
                }
                ctx.insert("b".into(), Value::from(format!("b{}", (state >> 12) % 3)));
                let v = ((state >> 11) as f64 / (1u64 << 53) as f64) * 100.0 + (i / 250) as f64;
                let p = DataPoint::new(t0 + TimeDelta::minutes(20 * i as i64), v);
                if state.is_multiple_of(17) {
                    DataPoint::missing(p.timestamp)
                } else {
                    p
                }
                .with_context(ctx)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(60))]

        /// Fast path equals full computation: a cron run's few points slide only their
        /// own streams, found by comparing features in place, and get the detections
        /// of building every stream from every key, to the bit.
        #[test]
        fn streams_of_the_scored_points_alone_score_the_same(
            seed in any::<u64>(),
            len in 2..1500usize,
            scored in 1..40usize,
            decay in prop_oneof![Just(None), (0.01..2.0f64).prop_map(Some)],
            window in 1..600usize,
            season in 0..5usize,
            min_points in 0..4usize,
        ) {
            let series = keyed_series(seed, len);
            let mut seasonality = match season {
                0 => Seasonality::any_of(["a"]),
                1 => Seasonality::all_of(["a", "b"]),
                2 => Seasonality::any_of(["a", "b"]),
                3 => Seasonality::any_of(["a", "hour_of_day", "b"]),
                _ => Seasonality::all_of(["hour_of_day", "b"]),
            };
            seasonality.timezone = chrono_tz::Tz::Europe__Berlin;
            let opts = HistoryOptions {
                window: Window::Points(window),
                min_points,
                decay,
                seasonality,
            };
            let first = len.saturating_sub(scored);
            let a = scan::<MeanStd>(&series, first, &opts, pair_detection);
            let b = scan_streams::<MeanStd>(&series, first, &opts, pair_detection);
            prop_assert_eq!(a, b);
            let a = scan::<MedianMad>(&series, first, &opts, pair_detection);
            let b = scan_streams::<MedianMad>(&series, first, &opts, pair_detection);
            prop_assert_eq!(a, b);
        }
    }

    /// The streams slid point by point, in time order (what `slide_groups` did before
    /// it took one stream at a time).
    fn point_major<S: Sliding>(
        series: &[DataPoint],
        first: usize,
        opts: &HistoryOptions,
        score: impl Fn(Scored<'_, S::Summary>) -> Detection,
    ) -> Option<Vec<Detection>> {
        let features = &opts.seasonality.features;
        let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
        let raw = keys_of(series, opts);
        let mut groups =
            Groups::<S>::build(&raw, &values, features, opts.seasonality.combined, first)?;
        let mut starts = WindowStart {
            series,
            window: &opts.window,
            lo: 0,
        };
        let mut out = Vec::new();
        for i in first..series.len() {
            let point = &series[i];
            let value = match scorable(point, values[i], key_at(&raw, i), features) {
                Ok(value) => value,
                Err(skipped) => {
                    out.push(skipped);
                    continue;
                }
            };
            let lo = starts.at(i);
            let Some(id) = groups.id(key_at(&raw, i)) else {
                out.push(too_little(point, 0, opts.min_points));
                continue;
            };
            let g = &mut groups.list[id];
            let stat = g.stat.get_or_insert_with(|| {
                let vals: Vec<f64> = g
                    .members
                    .iter()
                    .map(|&j| values[j].unwrap_or(0.0))
                    .collect();
                let mut s = S::new(&vals, opts.decay);
                let m = g.members.partition_point(|&j| j < lo);
                s.start_at(m);
                g.head = m;
                g.tail = m;
                s
            });
            while g.tail < g.members.len() && g.members[g.tail] < i {
                stat.push();
                g.tail += 1;
            }
            while g.head < g.tail && g.members[g.head] < lo {
                stat.pop();
                g.head += 1;
            }
            let n = g.tail - g.head;
            out.push(
                match (n >= opts.min_points).then(|| stat.summary()).flatten() {
                    Some(summary) => score(Scored {
                        point,
                        value,
                        summary,
                        n,
                    }),
                    None => too_little(point, n, opts.min_points),
                },
            );
        }
        Some(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Taking one stream at a time gives the detections of sliding all streams
        /// point by point, to the bit (z-score moments and order statistics).
        #[test]
        fn one_stream_at_a_time_scores_like_point_by_point(
            seed in any::<u64>(),
            len in 2..2000usize,
            first in 0..200usize,
            decay in prop_oneof![Just(None), (0.01..2.0f64).prop_map(Some)],
            window in 1..700usize,
            season in 0..5usize,
            min_points in 0..4usize,
        ) {
            let series = keyed_series(seed, len);
            let seasonality = match season {
                0 => Seasonality::none(),
                1 => Seasonality::any_of(["a"]),
                2 => Seasonality::all_of(["a", "b"]),
                3 => Seasonality::any_of(["a", "b"]),
                _ => Seasonality::any_of(["a", "hour_of_day", "b"]),
            };
            let opts = HistoryOptions { window: Window::Points(window), min_points, decay, seasonality };
            let first = first.min(len);
            if let Some(expected) = point_major::<MeanStd>(&series, first, &opts, pair_detection) {
                let got = scan_streams::<MeanStd>(&series, first, &opts, pair_detection);
                for (a, b) in got.iter().zip(&expected) {
                    prop_assert_eq!(a.lower_bound.map(f64::to_bits), b.lower_bound.map(f64::to_bits));
                    prop_assert_eq!(a.upper_bound.map(f64::to_bits), b.upper_bound.map(f64::to_bits));
                }
                prop_assert_eq!(got, expected);
            }
            if let Some(expected) = point_major::<MedianMad>(&series, first, &opts, pair_detection) {
                let got = scan_streams::<MedianMad>(&series, first, &opts, pair_detection);
                prop_assert_eq!(got, expected);
            }
        }
    }

    /// Union streams and point-by-point gathering give the same results.
    #[test]
    fn union_streams_match_point_by_point_scoring() {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let mut state: u64 = 7;
        let series: Vec<DataPoint> = (0..600)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut ctx = Map::new();
                ctx.insert("a".into(), Value::from(state % 5));
                ctx.insert("b".into(), Value::from((state >> 8) % 3));
                if state.is_multiple_of(11) {
                    ctx.insert("b".into(), Value::Null);
                }
                let p =
                    DataPoint::new(t0 + TimeDelta::minutes(10 * i), ((state >> 16) % 50) as f64);
                if state.is_multiple_of(13) {
                    DataPoint::missing(p.timestamp)
                } else {
                    p
                }
                .with_context(ctx)
            })
            .collect();
        let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
        for decay in [None, Some(0.2)] {
            for window in [Window::Points(120), Window::Points(7)] {
                let opts = HistoryOptions {
                    window,
                    min_points: 2,
                    decay,
                    seasonality: Seasonality::any_of(["a", "b"]),
                };
                let sliding = scan::<MedianMad>(&series, 50, &opts, pair_detection);
                let mut starts = WindowStart {
                    series: &series,
                    window: &opts.window,
                    lo: 0,
                };
                let features = &opts.seasonality.features;
                let raw: Vec<RawKey> = series
                    .iter()
                    .map(|p| raw_key(&p.context, features))
                    .collect();
                let gathered = scan_unions::<MedianMad>(
                    &series,
                    50,
                    &opts,
                    &values,
                    &raw,
                    &mut starts,
                    pair_detection,
                );
                assert_eq!(sliding, gathered, "{decay:?}");
            }
        }
    }
}
