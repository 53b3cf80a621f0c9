//! Unweighted order statistics of a history given as a signed sum of sorted rank lists.
//!
//! An "any of several features" history is, by inclusion-exclusion, the window's
//! points of each one-feature list, minus those of each two-feature list, plus those of
//! each three-feature list, and so on. Each list is kept as the ascending global ranks
//! (ranks among the series' distinct values) of its window members, so the number of
//! history points up to a rank is a signed sum of positions, and one step to the next
//! history rank is a look at each list's next element. A query walks from the previous
//! query's answer (consecutive points share most of their history), and bisects over
//! ranks when that takes too many steps.
//!
//! With equal weights the window's quantile rules are plain order statistics (see
//! [`super::exact`]), so these give the sliding window's answers to the bit (ranks
//! require no `-0.0` among the values: `-0.0` and `0.0` would share a rank).

use super::ordered::smallest_deviation;
use super::python_median::python_median_position;

/// Most lists of a history (the non-empty subsets of four features).
pub(crate) const MAX_PARTS: usize = 15;

/// Walking steps of a query before it bisects instead.
const MAX_STEPS: usize = 48;

/// A history: sorted rank lists with signs, the one-feature lists first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts<'a> {
    lists: [&'a [u32]; MAX_PARTS],
    sign: [isize; MAX_PARTS],
    len: usize,
    /// The first `singles` lists: every history rank is in one of them.
    singles: usize,
}

impl Default for Parts<'_> {
    fn default() -> Self {
        Self {
            lists: [&[]; MAX_PARTS],
            sign: [0; MAX_PARTS],
            len: 0,
            singles: 0,
        }
    }
}

impl<'a> Parts<'a> {
    /// Adds the ascending ranks of the window points carrying a `size`-feature subset
    /// of the key (one-feature lists must come first).
    pub(crate) fn push(&mut self, list: &'a [u32], size: u32) {
        debug_assert!(size == 1 || self.singles < MAX_PARTS);
        debug_assert!(
            size > 1 || self.singles == self.len,
            "one-feature lists first"
        );
        self.lists[self.len] = list;
        self.sign[self.len] = if size % 2 == 1 { 1 } else { -1 };
        self.len += 1;
        if size == 1 {
            self.singles += 1;
        }
    }

    /// Number of history points.
    pub(crate) fn count(&self) -> usize {
        (0..self.len)
            .map(|s| self.sign[s] * self.lists[s].len() as isize)
            .sum::<isize>()
            .max(0) as usize
    }
}

/// A rank boundary `b` in a history: per list, how many of its ranks are below `b`.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    pos: [usize; MAX_PARTS],
    /// History points with a rank below `bound`.
    count: isize,
    bound: u32,
}

impl Cursor {
    /// The cursor at boundary `b`.
    fn at(parts: &Parts<'_>, b: u32) -> Self {
        let mut c = Self {
            pos: [0; MAX_PARTS],
            count: 0,
            bound: b,
        };
        for s in 0..parts.len {
            let p = parts.lists[s].partition_point(|&x| x < b);
            c.pos[s] = p;
            c.count += parts.sign[s] * p as isize;
        }
        c
    }

    /// The smallest history rank at or above the boundary, without moving.
    fn peek_up(&self, parts: &Parts<'_>) -> Option<u32> {
        (0..parts.singles)
            .filter_map(|s| parts.lists[s].get(self.pos[s]).copied())
            .min()
    }

    /// The largest history rank below the boundary, without moving.
    fn peek_down(&self, parts: &Parts<'_>) -> Option<u32> {
        (0..parts.singles)
            .filter_map(|s| {
                let p = self.pos[s];
                (p > 0).then(|| parts.lists[s][p - 1])
            })
            .max()
    }

    /// Moves the boundary past rank `r`, the next history rank at or above it.
    fn pass_up(&mut self, parts: &Parts<'_>, r: u32) {
        for s in 0..parts.len {
            let list = parts.lists[s];
            let mut p = self.pos[s];
            while p < list.len() && list[p] == r {
                p += 1;
            }
            self.count += parts.sign[s] * (p - self.pos[s]) as isize;
            self.pos[s] = p;
        }
        self.bound = r + 1;
    }

    /// Moves the boundary down to rank `r`, the last history rank below it.
    fn pass_down(&mut self, parts: &Parts<'_>, r: u32) {
        for s in 0..parts.len {
            let list = parts.lists[s];
            let mut p = self.pos[s];
            while p > 0 && list[p - 1] == r {
                p -= 1;
            }
            self.count -= parts.sign[s] * (self.pos[s] - p) as isize;
            self.pos[s] = p;
        }
        self.bound = r;
    }
}

/// Order statistics of successive histories over the ranks of one series' values.
#[derive(Debug)]
pub(crate) struct RankSelect<'v> {
    /// The series' distinct values, ascending (rank `r` is `vals[r]`).
    vals: &'v [f64],
    /// Per quantile slot, the rank of the previous answer.
    hints: [u32; 4],
    /// The previous MAD.
    mad: f64,
}

impl<'v> RankSelect<'v> {
    /// Queries over ranks of `vals` (distinct, ascending, no `-0.0`).
    pub(crate) fn new(vals: &'v [f64]) -> Self {
        Self {
            vals,
            hints: [0; 4],
            mad: 0.0,
        }
    }

    /// The first value whose count reaches `p` of the count (`0 < p <= 1`), as
    /// [`super::exact::quantile`]; `slot` (below 4) keeps the answer as the next start.
    pub(crate) fn quantile(&mut self, parts: &Parts<'_>, p: f64, slot: usize) -> Option<f64> {
        let n = parts.count();
        if n == 0 {
            return None;
        }
        let c = ((p * n as f64).ceil() as usize).clamp(1, n);
        Some(self.vals[self.select(parts, c as isize, slot) as usize])
    }

    /// Median and MAD as [`super::exact::median_mad`] finds them.
    pub(crate) fn median_mad(&mut self, parts: &Parts<'_>) -> Option<(f64, f64)> {
        let n = parts.count();
        if n == 0 {
            return None;
        }
        let t = python_median_position(n) as isize + 1;
        let rm = self.select(parts, t, 0);
        let m = self.vals[rm as usize];
        let d = self.mad_of(parts, m, t);
        self.mad = d;
        Some((m, d))
    }

    /// The smallest rank `r` with at least `t` history points ranked up to it
    /// (`1 <= t <= count`).
    fn select(&mut self, parts: &Parts<'_>, t: isize, slot: usize) -> u32 {
        let r = self
            .walk(parts, t, self.hints[slot])
            .unwrap_or_else(|| self.bisect(parts, t));
        self.hints[slot] = r;
        r
    }

    /// [`Self::select`] by stepping from rank `hint`; `None` after [`MAX_STEPS`].
    fn walk(&self, parts: &Parts<'_>, t: isize, hint: u32) -> Option<u32> {
        let mut c = Cursor::at(parts, hint.saturating_add(1).min(self.vals.len() as u32));
        for _ in 0..MAX_STEPS {
            if c.count >= t {
                let r = c.peek_down(parts)?;
                c.pass_down(parts, r);
                if c.count < t {
                    return Some(r);
                }
            } else {
                let r = c.peek_up(parts)?;
                c.pass_up(parts, r);
                if c.count >= t {
                    return Some(r);
                }
            }
        }
        None
    }

    /// [`Self::select`] by bisection over rank boundaries.
    fn bisect(&self, parts: &Parts<'_>, t: isize) -> u32 {
        // Smallest boundary b with t points below it; the answer is b - 1.
        let (mut lo, mut hi) = (1u32, self.vals.len() as u32);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if Cursor::at(parts, mid).count >= t {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo.saturating_sub(1)
    }

    /// The ranks `lo..hi` of the values within `d` of `m` (`|v - m| <= d`).
    fn ball(&self, m: f64, d: f64) -> (u32, u32) {
        let lo = self.vals.partition_point(|&v| m - v > d);
        let hi = self.vals.partition_point(|&v| v - m <= d).max(lo);
        (lo as u32, hi as u32)
    }

    /// The smallest deviation `|v - m|` of a history value such that at least `t`
    /// history values lie within it: the `t`-th smallest deviation.
    fn mad_of(&self, parts: &Parts<'_>, m: f64, t: isize) -> f64 {
        self.mad_walk(parts, m, t)
            .unwrap_or_else(|| self.mad_bisect(parts, m, t))
    }

    /// [`Self::mad_of`] by moving the ball of the previous MAD around `m`, one layer of
    /// equal deviations at a time; `None` after [`MAX_STEPS`].
    fn mad_walk(&self, parts: &Parts<'_>, m: f64, t: isize) -> Option<f64> {
        let dev = |r: u32| (self.vals[r as usize] - m).abs();
        let (lo, hi) = self.ball(m, self.mad);
        // The ball holds every history value within the previous MAD, none beyond.
        let mut left = Cursor::at(parts, lo);
        let mut right = Cursor::at(parts, hi);
        if right.count - left.count >= t {
            for _ in 0..MAX_STEPS {
                // Shed the outermost layer while what is left still holds `t`.
                let a = left.peek_up(parts).filter(|&r| r < right.bound);
                let b = right.peek_down(parts).filter(|&r| r >= left.bound);
                let top = match (a, b) {
                    (Some(a), Some(b)) => dev(a).max(dev(b)),
                    (a, b) => dev(a.or(b)?),
                };
                while let Some(r) = left
                    .peek_up(parts)
                    .filter(|&r| r < right.bound && dev(r) == top)
                {
                    left.pass_up(parts, r);
                }
                while let Some(r) = right
                    .peek_down(parts)
                    .filter(|&r| r >= left.bound && dev(r) == top)
                {
                    right.pass_down(parts, r);
                }
                if right.count - left.count < t {
                    return Some(top);
                }
            }
            None
        } else {
            for _ in 0..MAX_STEPS {
                // Take in the nearest layer outside until the ball holds `t`.
                let a = left.peek_down(parts);
                let b = right.peek_up(parts);
                let near = match (a, b) {
                    (Some(a), Some(b)) => dev(a).min(dev(b)),
                    (a, b) => dev(a.or(b)?),
                };
                while let Some(r) = left.peek_down(parts).filter(|&r| dev(r) == near) {
                    left.pass_down(parts, r);
                }
                while let Some(r) = right.peek_up(parts).filter(|&r| dev(r) == near) {
                    right.pass_up(parts, r);
                }
                if right.count - left.count >= t {
                    return Some(near);
                }
            }
            None
        }
    }

    /// [`Self::mad_of`] by bisection over the deviations of all ranked values.
    fn mad_bisect(&self, parts: &Parts<'_>, m: f64, t: isize) -> f64 {
        let ok = |d: f64| {
            let (lo, hi) = self.ball(m, d);
            Cursor::at(parts, hi).count - Cursor::at(parts, lo).count >= t
        };
        let rm = self.vals.partition_point(|&v| v < m);
        smallest_deviation(self.vals, rm, m, ok)
    }
}

#[cfg(test)]
mod tests {
    use super::super::exact;
    use super::super::ordered::ranked;
    use super::*;
    use proptest::prelude::*;

    /// Keys of two or three features for `len` points, values continuous or tied.
    fn cases() -> impl Strategy<Value = (Vec<f64>, Vec<[u8; 3]>, usize)> {
        (1..400usize, 2..=3usize, any::<bool>()).prop_flat_map(|(len, features, ties)| {
            let value = if ties {
                (0..6i32).prop_map(f64::from).boxed()
            } else {
                (-1e3..1e3f64).boxed()
            };
            (
                prop::collection::vec(value, len),
                prop::collection::vec(prop::array::uniform3(0..4u8), len),
                Just(features),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Fast path equals full computation: for growing and sliding windows over keyed
        /// points, the signed rank lists give the quartiles, median and MAD of the
        /// gathered history (points matching the key on any feature) by selection,
        /// to the bit, walking from each previous answer.
        #[test]
        fn signed_rank_lists_select_like_the_gathered_history(
            (values, keys, features) in cases(),
            key in prop::array::uniform3(0..4u8),
            window in 1..200usize,
        ) {
            let (vals, rank) = ranked(&values);
            let mut sel = RankSelect::new(&vals);
            for end in 1..=values.len() {
                let start = end.saturating_sub(window);
                let matches = |j: usize, mask: usize| {
                    (0..features).filter(|f| mask & (1 << f) != 0).all(|f| keys[j][f] == key[f])
                };
                // One sorted list per subset, one-feature subsets first.
                let mut masks: Vec<usize> = (1..1usize << features).collect();
                masks.sort_by_key(|m| m.count_ones());
                let lists: Vec<(Vec<u32>, u32)> = masks
                    .iter()
                    .map(|&mask| {
                        let mut l: Vec<u32> =
                            (start..end).filter(|&j| matches(j, mask)).map(|j| rank[j]).collect();
                        l.sort_unstable();
                        (l, mask.count_ones())
                    })
                    .collect();
                let mut parts = Parts::default();
                for (l, size) in &lists {
                    parts.push(l, *size);
                }
                let mut history: Vec<f64> = (start..end)
                    .filter(|&j| (0..features).any(|f| keys[j][f] == key[f]))
                    .map(|j| values[j])
                    .collect();
                prop_assert_eq!(parts.count(), history.len());
                for (slot, p) in [0.25, 0.5, 0.75].into_iter().enumerate() {
                    let got = sel.quantile(&parts, p, slot + 1);
                    let want = exact::quantile(&mut history, p);
                    prop_assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits));
                }
                let got = sel.median_mad(&parts);
                let want = exact::median_mad(&mut history, &mut Vec::new());
                prop_assert_eq!(
                    got.map(|(a, b)| (a.to_bits(), b.to_bits())),
                    want.map(|(a, b)| (a.to_bits(), b.to_bits()))
                );
            }
        }
    }

    #[test]
    fn walking_and_bisecting_agree() {
        let vals: Vec<f64> = (0..500).map(f64::from).collect();
        let a: Vec<u32> = (0..500).step_by(3).collect();
        let b: Vec<u32> = (0..500).step_by(5).collect();
        let both: Vec<u32> = (0..500).step_by(15).collect();
        let mut parts = Parts::default();
        parts.push(&a, 1);
        parts.push(&b, 1);
        parts.push(&both, 2);
        let sel = RankSelect::new(&vals);
        let n = parts.count() as isize;
        for t in 1..=n {
            let bisected = sel.bisect(&parts, t);
            for hint in [0, 250, 499] {
                if let Some(walked) = sel.walk(&parts, t, hint) {
                    assert_eq!(walked, bisected, "t {t} hint {hint}");
                }
            }
        }
    }
}
