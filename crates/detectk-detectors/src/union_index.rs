//! "Any of several features" histories without one stream per key.
//!
//! The history of a scored point is every window point matching it on at least one
//! feature. [`UnionIndex`] keeps, per subset of the features and per value of the
//! subset, the ascending list of the history points carrying that value on every
//! feature of the subset. The number of history points in a window then follows by
//! inclusion-exclusion over the key's subsets, and the newest history points by
//! merging, from the window's end backwards, the key's one-feature lists. A point
//! enters one list per subset once, instead of the stream of every key it matches.

use std::collections::hash_map::Entry;

use crate::groups::FastMap;
use crate::seasonal::{FeatureValue, RawKey, usable};
use crate::stats::rank_union::{MAX_PARTS, Parts};

/// Most features handled (subsets grow as `2^features`); more go the stream way.
pub(crate) const MAX_FEATURES: usize = 4;

/// Ascending member indices and two cursors that only move forward.
struct List {
    members: Vec<usize>,
    /// First member at or after the window's start.
    start: usize,
    /// First member at or after the scored point.
    end: usize,
    /// With ranks tracked ([`UnionIndex::track_ranks`]): the ranks of the members
    /// `start..end`, ascending.
    sorted: Vec<u32>,
}

impl List {
    /// Moves the cursors to the window `lo..i` (both never move back), keeping
    /// `sorted` when `ranks` (per series index) are given.
    fn slide(&mut self, lo: usize, i: usize, ranks: Option<&[u32]>) {
        while self.end < self.members.len() && self.members[self.end] < i {
            if let Some(ranks) = ranks {
                let r = ranks[self.members[self.end]];
                let at = self.sorted.partition_point(|&x| x <= r);
                self.sorted.insert(at, r);
            }
            self.end += 1;
        }
        while self.start < self.end && self.members[self.start] < lo {
            if let Some(ranks) = ranks {
                let r = ranks[self.members[self.start]];
                let at = self.sorted.partition_point(|&x| x < r);
                self.sorted.remove(at);
            }
            self.start += 1;
        }
    }
}

/// Per-subset lists of the usable history points of a series.
pub(crate) struct UnionIndex {
    features: usize,
    lists: Vec<List>,
    /// Per subset (mask - 1), the list of each value tuple.
    by_subset: Vec<FastMap<Vec<FeatureValue>, usize>>,
    /// Per key seen, its entry in `resolved`.
    keys: FastMap<RawKey, usize>,
    /// Per key seen, the list of each subset (mask - 1), `None` where the key has no
    /// usable value on some feature of the subset.
    resolved: Vec<Vec<Option<usize>>>,
    /// Per series index, the rank of its value, when lists keep their ranks sorted.
    ranks: Option<Vec<u32>>,
}

impl UnionIndex {
    /// The index of the points `j` with `values[j]` present, by their keys `raw`;
    /// `None` with more than [`MAX_FEATURES`] features.
    pub(crate) fn build(raw: &[RawKey], values: &[Option<f64>], features: usize) -> Option<Self> {
        if !(2..=MAX_FEATURES).contains(&features) {
            return None;
        }
        let mut index = Self {
            features,
            lists: Vec::new(),
            by_subset: (1..1usize << features)
                .map(|_| FastMap::default())
                .collect(),
            keys: FastMap::default(),
            resolved: Vec::new(),
            ranks: None,
        };
        // Neighbours often share their key: compare with the last one before hashing.
        let mut last: Option<(&RawKey, usize)> = None;
        for (j, key) in raw.iter().enumerate() {
            if values[j].is_none() {
                continue;
            }
            let k = match last {
                Some((prev, k)) if prev == key => k,
                _ => index.key_of(key),
            };
            last = Some((key, k));
            for id in index.resolved[k].iter().flatten() {
                index.lists[*id].members.push(j);
            }
        }
        Some(index)
    }

    /// The entry of `key` in `resolved`, with its lists created empty when new.
    fn key_of(&mut self, key: &RawKey) -> usize {
        if let Some(&k) = self.keys.get(key) {
            return k;
        }
        let ids: Vec<Option<usize>> = (1..1usize << self.features)
            .map(|mask| {
                let tuple: Option<Vec<FeatureValue>> = (0..self.features)
                    .filter(|f| mask & (1 << f) != 0)
                    .map(|f| usable(&key[f]).cloned())
                    .collect();
                let tuple = tuple?;
                Some(match self.by_subset[mask - 1].entry(tuple) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        self.lists.push(List {
                            members: Vec::new(),
                            start: 0,
                            end: 0,
                            sorted: Vec::new(),
                        });
                        *e.insert(self.lists.len() - 1)
                    }
                })
            })
            .collect();
        self.resolved.push(ids);
        self.keys.insert(key.clone(), self.resolved.len() - 1);
        self.resolved.len() - 1
    }

    /// Makes every list keep the ranks of its window members sorted (`ranks`: per
    /// series index, the rank of its value), for [`Self::ranked_window`]; before any
    /// window is taken.
    pub(crate) fn track_ranks(&mut self, ranks: Vec<u32>) {
        self.ranks = Some(ranks);
    }

    /// Slides the lists of key entry `k` to the window `lo..i`; the history's size.
    fn slide_key(&mut self, k: usize, lo: usize, i: usize) -> usize {
        let mut n: isize = 0;
        for (mask, id) in (1..1usize << self.features).zip(&self.resolved[k]) {
            let &Some(id) = id else { continue };
            let list = &mut self.lists[id];
            list.slide(lo, i, self.ranks.as_deref());
            let count = (list.end - list.start) as isize;
            if mask.count_ones() % 2 == 1 {
                n += count;
            } else {
                n -= count;
            }
        }
        n.max(0) as usize
    }

    /// The history of `key` in the window `lo..i` (`lo` and `i` never decrease from
    /// call to call): its size, and a walk over its points from the newest back.
    pub(crate) fn window(&mut self, key: &RawKey, lo: usize, i: usize) -> (usize, Walk<'_>) {
        let k = self.key_of(key);
        let n = self.slide_key(k, lo, i);
        let mut walk = Walk {
            lists: [&[]; MAX_FEATURES],
            len: 0,
        };
        for f in 0..self.features {
            if let Some(id) = self.resolved[k][(1 << f) - 1] {
                let list = &self.lists[id];
                walk.lists[walk.len] = &list.members[list.start..list.end];
                walk.len += 1;
            }
        }
        (n, walk)
    }

    /// The history of `key` in the window `lo..i` (as [`Self::window`]) as sorted rank
    /// lists with inclusion-exclusion signs; needs [`Self::track_ranks`].
    pub(crate) fn ranked_window(
        &mut self,
        key: &RawKey,
        lo: usize,
        i: usize,
    ) -> (usize, Parts<'_>) {
        let k = self.key_of(key);
        let n = self.slide_key(k, lo, i);
        let mut parts = Parts::default();
        let mut masks: [usize; MAX_PARTS] = std::array::from_fn(|m| m + 1);
        let masks = &mut masks[..(1 << self.features) - 1];
        // One-feature lists first: their union holds every history rank.
        masks.sort_by_key(|m| m.count_ones());
        for &mask in masks.iter() {
            if let Some(id) = self.resolved[k][mask - 1] {
                parts.push(&self.lists[id].sorted, mask.count_ones());
            }
        }
        (n, parts)
    }
}

/// The history points of a window, newest first: a backward merge of one-feature lists.
pub(crate) struct Walk<'a> {
    /// The window's part of each one-feature list not walked yet.
    lists: [&'a [usize]; MAX_FEATURES],
    len: usize,
}

impl Iterator for Walk<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let lists = &mut self.lists[..self.len];
        let newest = lists.iter().filter_map(|l| l.last()).max().copied()?;
        for l in lists.iter_mut() {
            if let Some((&last, rest)) = l.split_last()
                && last == newest
            {
                *l = rest;
            }
        }
        Some(newest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seasonal::matches;

    /// Count and walk equal a scan of the window with the matching rule.
    #[test]
    fn counts_and_walks_like_a_scan() {
        let mut state: u64 = 99;
        let mut next = move |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        };
        for features in 2..=3 {
            let len = 900;
            let raw: Vec<RawKey> = (0..len)
                .map(|_| {
                    (0..features)
                        .map(|_| match next(9) {
                            0 => None,
                            1 => Some(None),
                            v => Some(Some(FeatureValue::number(v as f64 % 4.0))),
                        })
                        .collect()
                })
                .collect();
            let values: Vec<Option<f64>> = (0..len)
                .map(|j| (next(10) != 0).then_some(j as f64))
                .collect();
            let mut index = UnionIndex::build(&raw, &values, features).unwrap();
            let mut lo = 0;
            for i in 0..len {
                lo += (next(3) == 0 && lo + 40 < i) as usize * next(5) as usize;
                let expected: Vec<usize> = (lo..i)
                    .rev()
                    .filter(|&j| values[j].is_some() && matches(&raw[j], &raw[i], false))
                    .collect();
                let (n, walk) = index.window(&raw[i], lo, i);
                assert_eq!(n, expected.len(), "count at {i}");
                assert_eq!(walk.collect::<Vec<_>>(), expected, "walk at {i}");
            }
        }
        assert!(UnionIndex::build(&[], &[], 1).is_none());
        assert!(UnionIndex::build(&[], &[], 5).is_none());
    }
}
