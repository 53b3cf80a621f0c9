//! A sliding window of values with weighted order statistics (quantiles, MAD).
//!
//! Values are mapped once to ranks among the distinct values of the whole stream,
//! so adding or removing a point and finding a weighted quantile cost `O(log n)`
//! through a Fenwick tree, instead of sorting the window for every point.

use super::decay::{Decay, weight_of};
use super::fenwick::Fenwick;

/// Weighted order statistics over a contiguous range of a stream's members.
#[derive(Debug, Clone)]
pub(crate) struct OrderedWindow {
    /// Distinct values of the stream, ascending.
    vals: Vec<f64>,
    /// Rank of each member's value in `vals`.
    rank: Vec<u32>,
    /// Total weight per rank inside the window.
    weight: Vec<f64>,
    tree: Fenwick,
    total: f64,
    head: usize,
    tail: usize,
    decay: Option<Decay>,
    ops: usize,
    /// The deviation ball found by the last MAD query, reused as the next starting point.
    ball: Option<Ball>,
}

/// Ranks `lo..hi` around the median and their total weight.
#[derive(Debug, Clone, Copy)]
struct Ball {
    lo: usize,
    hi: usize,
    weight: f64,
}

/// Moves of the MAD search from the previous answer before it falls back to bisection.
const MAX_BALL_STEPS: usize = 96;

impl OrderedWindow {
    /// An empty window over the stream `values` (finite, in time order).
    pub(crate) fn new(values: &[f64], decay: Option<f64>) -> Self {
        let mut vals: Vec<f64> = values.to_vec();
        vals.sort_unstable_by(f64::total_cmp);
        vals.dedup_by(|a, b| a == b);
        let rank = values
            .iter()
            .map(|&v| vals.partition_point(|&x| x < v) as u32)
            .collect();
        let n = vals.len();
        Self {
            vals,
            rank,
            weight: vec![0.0; n],
            tree: Fenwick::new(n),
            total: 0.0,
            head: 0,
            tail: 0,
            decay: decay.map(Decay::new),
            ops: 0,
            ball: None,
        }
    }

    /// Number of members in the window.
    pub(crate) fn len(&self) -> usize {
        self.tail - self.head
    }

    /// Starts the (empty) window at member `m`: earlier members never enter.
    pub(crate) fn start_at(&mut self, m: usize) {
        debug_assert_eq!(self.len(), 0);
        self.head = m;
        self.tail = m;
        if let Some(d) = &mut self.decay {
            d.rebase(m);
        }
    }

    /// Adds the next member (members enter in stream order).
    pub(crate) fn push(&mut self) {
        let m = self.tail;
        self.tail += 1;
        if let Some(d) = &mut self.decay
            && d.needs_rebase(m)
        {
            d.rebase(m);
            self.rebuild();
            return;
        }
        self.change(m, 1.0);
    }

    /// Removes the oldest member.
    pub(crate) fn pop(&mut self) {
        let m = self.head;
        self.head += 1;
        self.change(m, -1.0);
        if self.head == self.tail {
            // Empty again: restart from exact zeros.
            self.weight.iter_mut().for_each(|w| *w = 0.0);
            self.tree.rebuild(&self.weight);
            self.total = 0.0;
            self.ball = None;
        }
    }

    fn change(&mut self, m: usize, sign: f64) {
        let w = sign * weight_of(&self.decay, m);
        let r = self.rank[m] as usize;
        self.weight[r] += w;
        self.tree.add(r, w);
        if let Some(b) = &mut self.ball
            && (b.lo..b.hi).contains(&r)
        {
            b.weight += w;
        }
        self.total += w;
        self.ops += 1;
        if self.decay.is_some() && self.ops > 4 * (self.vals.len() + 1024) {
            self.rebuild();
        }
    }

    /// Recomputes every weight and sum from the members in the window.
    fn rebuild(&mut self) {
        self.weight.iter_mut().for_each(|w| *w = 0.0);
        for m in self.head..self.tail {
            self.weight[self.rank[m] as usize] += weight_of(&self.decay, m);
        }
        self.tree.rebuild(&self.weight);
        self.total = self.weight.iter().sum();
        self.ops = 0;
        self.ball = None;
    }

    /// Rank of the first value (ascending) whose cumulative weight reaches `p` of the total.
    fn quantile_rank(&self, p: f64) -> usize {
        let r = self.tree.search(p * self.total);
        if r < self.vals.len() {
            return r;
        }
        // Rounding left the target above the sum: take the largest value in the window.
        (0..self.vals.len())
            .rev()
            .find(|&r| self.weight[r] > 0.0)
            .unwrap_or(0)
    }

    /// The first value whose cumulative weight reaches `p` (0 < p <= 1); `None` when empty.
    pub(crate) fn quantile(&self, p: f64) -> Option<f64> {
        (self.len() > 0 && !self.vals.is_empty()).then(|| self.vals[self.quantile_rank(p)])
    }

    /// Weighted median and weighted median of absolute deviations from it.
    pub(crate) fn median_mad(&mut self) -> Option<(f64, f64)> {
        if self.len() == 0 || self.vals.is_empty() {
            return None;
        }
        let rm = self.quantile_rank(0.5);
        let m = self.vals[rm];
        let mad = match self.mad_from_ball(rm, m) {
            Some(d) => d,
            None => {
                let d = self.mad_around(rm, m);
                let lo = self.vals.partition_point(|&v| m - v > d);
                let hi = self.vals.partition_point(|&v| v - m <= d).max(lo);
                let weight = self.tree.prefix(hi) - self.tree.prefix(lo);
                self.ball = Some(Ball { lo, hi, weight });
                d
            }
        };
        Some((m, mad))
    }

    /// The MAD found by moving the previous deviation ball: `None` when that takes
    /// more than [`MAX_BALL_STEPS`] steps (the caller then bisects).
    ///
    /// The ball `lo..hi` is kept "closed": it holds every window value whose deviation
    /// from `m` is at most the largest deviation inside it. It grows by the nearest
    /// outside value while it holds less than half the weight, and sheds its outermost
    /// layer while what remains still holds half; its largest deviation is then the MAD.
    fn mad_from_ball(&mut self, rm: usize, m: f64) -> Option<f64> {
        let half = 0.5 * self.total;
        let dev = |r: usize| (self.vals[r] - m).abs();
        let mut b = self.ball.unwrap_or(Ball {
            lo: rm,
            hi: rm,
            weight: 0.0,
        });
        let mut budget = MAX_BALL_STEPS;
        let result = loop {
            // Trim empty ranks at both ends.
            while b.lo < b.hi && self.weight[b.lo] == 0.0 {
                b.lo += 1;
            }
            while b.hi > b.lo && self.weight[b.hi - 1] == 0.0 {
                b.hi -= 1;
            }
            if b.lo == b.hi {
                b = Ball {
                    lo: rm,
                    hi: rm,
                    weight: 0.0,
                };
            }
            // Nearest occupied ranks outside the ball.
            let mut left = None;
            let mut r = b.lo;
            while r > 0 && budget > 0 {
                r -= 1;
                budget -= 1;
                if self.weight[r] != 0.0 {
                    left = Some(r);
                    break;
                }
            }
            let mut right = None;
            let mut r = b.hi;
            while r < self.vals.len() && budget > 0 {
                budget -= 1;
                if self.weight[r] != 0.0 {
                    right = Some(r);
                    break;
                }
                r += 1;
            }
            if budget == 0 {
                break None;
            }
            budget -= 1;
            let inner = (b.lo < b.hi).then(|| dev(b.lo).max(dev(b.hi - 1)));
            let outer = match (left.map(dev), right.map(dev)) {
                (Some(a), Some(c)) => Some(a.min(c)),
                (a, c) => a.or(c),
            };
            let grow = match (inner, outer) {
                (_, None) => false,
                (None, Some(_)) => true,
                // Not closed yet, or too light: take in the nearest outside layer.
                (Some(i), Some(o)) => o <= i || b.weight < half,
            };
            if grow {
                let o = outer.unwrap_or(0.0);
                if let Some(l) = left.filter(|&l| dev(l) <= o) {
                    b.weight += (l..b.lo).map(|k| self.weight[k]).sum::<f64>();
                    b.lo = l;
                }
                if let Some(h) = right.filter(|&h| dev(h) <= o) {
                    b.weight += (b.hi..=h).map(|k| self.weight[k]).sum::<f64>();
                    b.hi = h + 1;
                }
                continue;
            }
            let Some(top) = inner else { break None };
            if b.weight < half {
                // Everything is inside and still too light (rounding): give up.
                break None;
            }
            // Closed and heavy enough: try shedding the outermost layer.
            let mut shed = b;
            while shed.lo < shed.hi && (self.weight[shed.lo] == 0.0 || dev(shed.lo) == top) {
                shed.weight -= self.weight[shed.lo];
                shed.lo += 1;
            }
            while shed.hi > shed.lo && (self.weight[shed.hi - 1] == 0.0 || dev(shed.hi - 1) == top)
            {
                shed.weight -= self.weight[shed.hi - 1];
                shed.hi -= 1;
            }
            if shed.lo < shed.hi && shed.weight >= half {
                b = shed;
                continue;
            }
            break Some(top);
        };
        self.ball = result.map(|_| b);
        result
    }

    /// Weight of the values `v` with `|v - m| <= d` (deviation computed as `|v - m|`).
    fn within(&self, m: f64, d: f64) -> f64 {
        let lo = self.vals.partition_point(|&v| m - v > d);
        let hi = self.vals.partition_point(|&v| v - m <= d);
        if hi <= lo {
            return 0.0;
        }
        self.tree.prefix(hi) - self.tree.prefix(lo)
    }

    /// The smallest deviation `d` of a window value from `m` such that the values within
    /// `d` of `m` hold half the weight: the weighted median of `|v - m|`.
    fn mad_around(&self, rm: usize, m: f64) -> f64 {
        let half = 0.5 * self.total;
        let ok = |d: f64| self.within(m, d) >= half;
        // Candidates are deviations of all stream values (a superset of the window's):
        // the smallest satisfying candidate is a window value's deviation.
        let right = &self.vals[rm..];
        let i = right.partition_point(|&v| !ok(v - m));
        let mut best = right.get(i).map(|&v| v - m);
        let left = &self.vals[..rm];
        // Left deviations shrink as the rank grows: find the last rank that still satisfies.
        let j = left.partition_point(|&v| ok(m - v));
        if j > 0 {
            let d = m - left[j - 1];
            best = Some(best.map_or(d, |b| b.min(d)));
        }
        best.unwrap_or(f64::INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values: &[f64], decay: Option<f64>) -> OrderedWindow {
        let mut w = OrderedWindow::new(values, decay);
        for _ in values {
            w.push();
        }
        w
    }

    #[test]
    fn unweighted_median_is_the_lower_middle_value() {
        assert_eq!(filled(&[5.0, 1.0, 3.0], None).quantile(0.5), Some(3.0));
        assert_eq!(filled(&[4.0, 1.0, 3.0, 2.0], None).quantile(0.5), Some(2.0));
        assert_eq!(
            filled(&[4.0, 1.0, 3.0, 2.0], None).quantile(0.75),
            Some(3.0)
        );
        assert_eq!(
            filled(&[4.0, 1.0, 3.0, 2.0], None).quantile(0.25),
            Some(1.0)
        );
    }

    #[test]
    fn mad_of_a_small_window() {
        // median 3, deviations 2, 1, 0, 1, 7 -> lower middle 1
        let (m, mad) = filled(&[1.0, 2.0, 3.0, 4.0, 10.0], None)
            .median_mad()
            .unwrap();
        assert_eq!((m, mad), (3.0, 1.0));
    }

    #[test]
    fn weighted_median_follows_recent_points() {
        // newest weighs 1, then e^-2, e^-4: the newest alone holds more than half
        let w = filled(&[1.0, 2.0, 9.0], Some(2.0));
        assert_eq!(w.quantile(0.5), Some(9.0));
    }

    #[test]
    fn sliding_matches_a_fresh_window() {
        let values: Vec<f64> = (0..200).map(|i| ((i * 37) % 23) as f64 * 0.5).collect();
        let mut w = OrderedWindow::new(&values, Some(0.3));
        for end in 0..values.len() {
            w.push();
            if end >= 30 {
                w.pop();
            }
            let start = end.saturating_sub(29);
            let mut fresh = filled(&values[start..=end], Some(0.3));
            assert_eq!(w.median_mad(), fresh.median_mad(), "at {end}");
        }
    }

    #[test]
    fn ball_search_agrees_with_bisection_through_level_shifts() {
        let mut state: u64 = 42;
        let values: Vec<f64> = (0..4000)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let level = if (i / 700) % 2 == 0 { 0.0 } else { 1e4 };
                level + (state % 2000) as f64 * 0.25
            })
            .collect();
        for decay in [None, Some(0.01), Some(0.5)] {
            let mut w = OrderedWindow::new(&values, decay);
            for end in 0..values.len() {
                w.push();
                if end >= 500 {
                    w.pop();
                }
                let (m, mad) = w.median_mad().unwrap();
                let rm = w.quantile_rank(0.5);
                assert_eq!(mad, w.mad_around(rm, m), "{decay:?} at {end}");
            }
        }
    }

    #[test]
    fn empty_and_constant_windows() {
        let mut w = OrderedWindow::new(&[7.0, 7.0], None);
        assert_eq!(w.median_mad(), None);
        w.push();
        w.push();
        assert_eq!(w.median_mad(), Some((7.0, 0.0)));
        w.pop();
        w.pop();
        assert_eq!(w.quantile(0.5), None);
    }
}
