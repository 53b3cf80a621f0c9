//! Walks a series and hands each scored point the statistics of its own history.
//!
//! The history of `series[i]` is every present, finite point `j < i` inside the
//! window (`ts[j] >= ts[i] - span`, or `j >= i - count`), restricted to the point's
//! seasonal group. Groups that partition the history (no feature, one feature, or
//! all features combined) each keep one sliding statistic, so every history point
//! enters and leaves it once; "any feature matches" unions are gathered per point.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::{DataPoint, Detection, Window};

use crate::common::HistoryOptions;
use crate::seasonal::{FeatureValue, KeyError, history_key, key_of, matches};

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

type Key = Vec<Option<FeatureValue>>;

/// FNV-1a: group keys are short and not attacker-chosen, so SipHash's cost buys nothing.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type GroupIds = HashMap<Key, usize, BuildHasherDefault<Fnv>>;

struct Group<S> {
    members: Vec<usize>,
    head: usize,
    tail: usize,
    stat: Option<S>,
}

/// Finds, for increasing `i`, the first index inside the window of `series[i]`.
struct WindowStart<'a> {
    series: &'a [DataPoint],
    window: &'a Window,
    lo: usize,
}

impl WindowStart<'_> {
    fn at(&mut self, i: usize) -> usize {
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

/// Scores `series[first..]` with a sliding statistic `S`; `score` builds each detection.
pub(crate) fn scan<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    mut score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let first = first.min(series.len());
    let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
    let features = &opts.seasonality.features;
    let mut starts = WindowStart {
        series,
        window: &opts.window,
        lo: 0,
    };
    if !opts.seasonality.partitions() {
        return scan_unions::<S>(series, first, opts, &values, &mut starts, score);
    }
    // Partitioned history: one group per key.
    let mut ids = GroupIds::default();
    let mut groups: Vec<Group<S>> = Vec::new();
    let candidates = (0..series.len().saturating_sub(1)).filter(|&j| values[j].is_some());
    if features.is_empty() {
        // No seasonality: one group of every usable point, without hashing keys.
        ids.insert(Vec::new(), 0);
        groups.push(Group {
            members: candidates.collect(),
            head: 0,
            tail: 0,
            stat: None,
        });
    } else {
        group_by_key(series, features, candidates, &mut ids, &mut groups);
    }
    let mut out = Vec::with_capacity(series.len() - first);
    for i in first..series.len() {
        let point = &series[i];
        let Some(value) = values[i] else {
            out.push(unusable(point));
            continue;
        };
        let key = match key_of(&point.context, features) {
            Ok(k) => k,
            Err(e) => {
                out.push(bad_key(point, e));
                continue;
            }
        };
        let lo = starts.at(i);
        let Some(&id) = ids.get(&key) else {
            out.push(too_little(point, 0, opts.min_points));
            continue;
        };
        let g = &mut groups[id];
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

/// Puts each history candidate into the group of its seasonal key (points whose key
/// has a value that equals nothing join no group).
fn group_by_key<S>(
    series: &[DataPoint],
    features: &[String],
    candidates: impl Iterator<Item = usize>,
    ids: &mut GroupIds,
    groups: &mut Vec<Group<S>>,
) {
    for j in candidates {
        let key = history_key(&series[j].context, features);
        if key.iter().any(Option::is_none) {
            continue;
        }
        let id = *ids.entry(key).or_insert_with(|| {
            groups.push(Group {
                members: Vec::new(),
                head: 0,
                tail: 0,
                stat: None,
            });
            groups.len() - 1
        });
        groups[id].members.push(j);
    }
}

/// The "any feature matches" case: gathers each point's history and scores it afresh.
fn scan_unions<S: Sliding>(
    series: &[DataPoint],
    first: usize,
    opts: &HistoryOptions,
    values: &[Option<f64>],
    starts: &mut WindowStart<'_>,
    mut score: impl FnMut(Scored<'_, S::Summary>) -> Detection,
) -> Vec<Detection> {
    let features = &opts.seasonality.features;
    let keys: Vec<Key> = series
        .iter()
        .map(|p| history_key(&p.context, features))
        .collect();
    let mut out = Vec::with_capacity(series.len() - first);
    let mut history = Vec::new();
    for i in first..series.len() {
        let point = &series[i];
        let Some(value) = values[i] else {
            out.push(unusable(point));
            continue;
        };
        let key = match key_of(&point.context, features) {
            Ok(k) => k,
            Err(e) => {
                out.push(bad_key(point, e));
                continue;
            }
        };
        let lo = starts.at(i);
        history.clear();
        history
            .extend((lo..i).filter_map(|j| values[j].filter(|_| matches(&keys[j], &key, false))));
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

/// The result for a missing or non-finite point.
pub(crate) fn unusable(point: &DataPoint) -> Detection {
    let reason = if point.is_missing || point.value.is_none() {
        "missing value"
    } else {
        "non-finite value"
    };
    Detection::skipped(point.timestamp, point.value, reason)
}

fn bad_key(point: &DataPoint, e: KeyError) -> Detection {
    let KeyError::Missing(f) = e;
    Detection::skipped(
        point.timestamp,
        point.value,
        format!("seasonal feature `{f}` is missing from the point's context"),
    )
}

fn too_little(point: &DataPoint, n: usize, min: usize) -> Detection {
    Detection::skipped(
        point.timestamp,
        point.value,
        format!("too little history: {n} of {min} points needed"),
    )
}
