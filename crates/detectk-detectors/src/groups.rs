//! The history streams that scored points slide over.
//!
//! Without seasonality there is one stream of every usable point. With one feature, or
//! all features combined, the streams partition the history by key. With "any of
//! several features" every distinct key of a scored point gets its own stream: the
//! points matching it on at least one feature, in time order (a point belongs to the
//! streams of many keys). A point's weight is its rank in its stream, which is its rank
//! in the scored point's filtered history, as in the reference.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use detectk_core::DataPoint;

use crate::common::HistoryOptions;
use crate::seasonal::{FeatureValue, KeyReader, RawKey, complete, missing_feature, usable};

/// FNV-1a: keys are short and not attacker-chosen, so SipHash's cost buys nothing.
#[derive(Default)]
pub(crate) struct Fnv(u64);

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

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// One history stream and the sliding statistic over it.
pub(crate) struct Group<S> {
    /// Series indices of the stream's points, ascending.
    pub members: Vec<usize>,
    /// First member inside the current window.
    pub head: usize,
    /// First member not yet added.
    pub tail: usize,
    /// Built when a point first scores against this stream.
    pub stat: Option<S>,
}

impl<S> Group<S> {
    fn new(members: Vec<usize>) -> Self {
        Self {
            members,
            head: 0,
            tail: 0,
            stat: None,
        }
    }
}

/// The streams of one series, found by key.
pub(crate) struct Groups<S> {
    ids: FastMap<RawKey, usize>,
    /// The streams.
    pub list: Vec<Group<S>>,
    /// For unions: per feature, the usable history points of each value.
    by_feature: Option<Vec<FastMap<FeatureValue, Vec<usize>>>>,
}

/// Most scored points whose streams [`Groups::for_scored`] finds point by point.
const MAX_SCORED: usize = 32;

/// Member entries allowed per series point before unions are scored point by point.
const UNION_BUDGET_PER_POINT: usize = 48;

impl<S> Groups<S> {
    /// The streams of a series (`values`: its usable values, `raw`: its points' feature
    /// values) for `features`; `None` for a union whose streams would hold too many
    /// entries (then score point by point).
    pub fn build(
        raw: &[RawKey],
        values: &[Option<f64>],
        features: &[String],
        combined: bool,
        first: usize,
    ) -> Option<Self> {
        let len = values.len();
        let candidates = (0..len.saturating_sub(1)).filter(|&j| values[j].is_some());
        let mut groups = Self {
            ids: FastMap::default(),
            list: Vec::new(),
            by_feature: None,
        };
        if features.is_empty() {
            groups.ids.insert(Vec::new(), 0);
            groups.list.push(Group::new(candidates.collect()));
        } else if features.len() == 1 || combined {
            for j in candidates.filter(|&j| complete(&raw[j])) {
                let id = match groups.ids.get(&raw[j]) {
                    Some(&id) => id,
                    None => {
                        groups.ids.insert(raw[j].clone(), groups.list.len());
                        groups.list.push(Group::new(Vec::new()));
                        groups.list.len() - 1
                    }
                };
                groups.list[id].members.push(j);
            }
        } else {
            let mut by_feature: Vec<FastMap<FeatureValue, Vec<usize>>> =
                vec![FastMap::default(); features.len()];
            for j in candidates {
                for (index, v) in by_feature.iter_mut().zip(&raw[j]) {
                    let Some(v) = usable(v) else { continue };
                    match index.get_mut(v) {
                        Some(list) => list.push(j),
                        None => {
                            index.insert(v.clone(), vec![j]);
                        }
                    }
                }
            }
            let mut seen: HashSet<&RawKey, BuildHasherDefault<Fnv>> = HashSet::default();
            let mut entries = 0;
            for i in (first..len).filter(|&i| values[i].is_some()) {
                if missing_feature(&raw[i], features).is_none() && seen.insert(&raw[i]) {
                    entries += stream_len(&by_feature, &raw[i]);
                }
            }
            if entries > UNION_BUDGET_PER_POINT * len + 4096 {
                return None;
            }
            groups.by_feature = Some(by_feature);
        }
        Some(groups)
    }

    /// For a cron run's few scored points (`series[first..]`, at most [`MAX_SCORED`]
    /// points), the keys of the scored points and the streams of those keys alone, as
    /// [`Groups::build`] would find them, comparing each history point's features in
    /// place instead of reading every point's key. `None` without features, for more
    /// points, or for unions that [`Groups::build`] might refuse (then build them).
    pub fn for_scored(
        series: &[DataPoint],
        first: usize,
        values: &[Option<f64>],
        opts: &HistoryOptions,
    ) -> Option<(Vec<RawKey>, Self)> {
        let features = &opts.seasonality.features;
        let union = features.len() > 1 && !opts.seasonality.combined;
        if features.is_empty() || series.len() - first > MAX_SCORED {
            return None;
        }
        let mut reader = KeyReader::new(features, opts.seasonality.timezone);
        let keys: Vec<RawKey> = series[first..].iter().map(|p| reader.key(p)).collect();
        let mut groups = Self {
            ids: FastMap::default(),
            list: Vec::new(),
            by_feature: None,
        };
        let scored = keys
            .iter()
            .zip(&values[first..])
            .filter(|(k, v)| v.is_some() && missing_feature(k, features).is_none())
            .map(|(k, _)| k);
        let mut distinct: Vec<&RawKey> = Vec::new();
        for key in scored {
            if !distinct.contains(&key) {
                distinct.push(key);
            }
        }
        // `build`'s budget for unions: each stream holds at most one entry per point
        // and feature.
        if union && distinct.len() * features.len() > UNION_BUDGET_PER_POINT {
            return None;
        }
        let len = values.len();
        for key in distinct {
            let members: Vec<usize> = (0..len.saturating_sub(1))
                .filter(|&j| {
                    values[j].is_some()
                        && if union {
                            reader.matches_any(&series[j], key)
                        } else {
                            reader.complete_and_equal(&series[j], key)
                        }
                })
                .collect();
            if !members.is_empty() {
                groups.ids.insert(key.clone(), groups.list.len());
                groups.list.push(Group::new(members));
            }
        }
        Some((keys, groups))
    }

    /// The stream of `key`, created on first use for unions; `None` when it is empty.
    pub fn id(&mut self, key: &RawKey) -> Option<usize> {
        if let Some(&id) = self.ids.get(key) {
            return Some(id);
        }
        let by_feature = self.by_feature.as_ref()?;
        let lists = key
            .iter()
            .zip(by_feature)
            .filter_map(|(v, index)| index.get(usable(v)?).map(Vec::as_slice));
        let members = merge(lists);
        if members.is_empty() {
            return None;
        }
        let id = self.list.len();
        self.list.push(Group::new(members));
        self.ids.insert(key.clone(), id);
        Some(id)
    }
}

/// Upper bound of a union stream's length: the sum of its features' lists.
fn stream_len(by_feature: &[FastMap<FeatureValue, Vec<usize>>], key: &RawKey) -> usize {
    key.iter()
        .zip(by_feature)
        .filter_map(|(v, index)| index.get(usable(v)?))
        .map(Vec::len)
        .sum()
}

/// Merges ascending index lists into one ascending list without duplicates.
fn merge<'a>(lists: impl Iterator<Item = &'a [usize]>) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for list in lists {
        let mut merged = Vec::with_capacity(out.len() + list.len());
        let (mut a, mut b) = (0, 0);
        while a < out.len() || b < list.len() {
            let next = match (out.get(a), list.get(b)) {
                (Some(&x), Some(&y)) if x == y => {
                    a += 1;
                    b += 1;
                    x
                }
                (Some(&x), Some(&y)) if x < y => {
                    a += 1;
                    x
                }
                (Some(&x), None) => {
                    a += 1;
                    x
                }
                (_, Some(&y)) => {
                    b += 1;
                    y
                }
                (None, None) => unreachable!("loop condition"),
            };
            merged.push(next);
        }
        out = merged;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_dedups() {
        let a = [1, 4, 6];
        let b = [2, 4, 7];
        let c = [0, 7];
        assert_eq!(
            merge([&a[..], &b[..], &c[..]].into_iter()),
            [0, 1, 2, 4, 6, 7]
        );
        assert!(merge(std::iter::empty()).is_empty());
    }
}
