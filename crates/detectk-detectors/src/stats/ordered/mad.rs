//! The weighted median and MAD queries of [`OrderedWindow`].
//!
//! The MAD is the smallest deviation `d` from the median such that the values within
//! `d` hold half the weight. It is found by moving the previous answer's "ball" of
//! ranks, and by bisection over deviations when that would take too many steps.

use super::OrderedWindow;

/// Ranks `lo..hi` around the median and their total weight.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ball {
    /// First rank inside.
    pub(super) lo: usize,
    /// First rank past the end.
    pub(super) hi: usize,
    /// Total weight of the ranks inside.
    pub(super) weight: f64,
}

/// Moves of the MAD search from the previous answer before it falls back to bisection.
const MAX_BALL_STEPS: usize = 96;

impl OrderedWindow {
    /// Weighted median and weighted median of absolute deviations from it.
    pub(crate) fn median_mad(&mut self) -> Option<(f64, f64)> {
        if self.len() == 0 || self.vals.is_empty() {
            return None;
        }
        let rm = self.rank_reaching(self.median_target());
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
        let half = self.median_target();
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
    pub(super) fn mad_around(&self, rm: usize, m: f64) -> f64 {
        let half = self.median_target();
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
