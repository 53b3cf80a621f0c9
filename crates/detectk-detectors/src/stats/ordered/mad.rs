//! The weighted median and MAD queries of [`OrderedWindow`].
//!
//! The MAD is the smallest deviation `d` from the median such that the values within
//! `d` hold half the weight. It is found by moving the previous answer's "ball" of
//! ranks ([`super::ball`]), over the newest members alone when a margin proves the
//! older ones cannot matter, and by bisection over deviations when moving the ball
//! would take too many steps.

use super::OrderedWindow;
use super::ball::{Ball, Dense, Sparse, search};

/// Moves of the MAD search from the previous answer before it falls back to bisection.
const MAX_BALL_STEPS: usize = 96;

/// Moves of the search over the newest members (each move is one of their values).
const MAX_RECENT_STEPS: usize = 256;

/// Share of the total weight that bounds every rounding error of the weight sums
/// (the Fenwick tree's, the running total's and the balls'): see
/// [`OrderedWindow::mad_from_recent`].
pub(super) const ROUNDING_SLACK: f64 = 1e-8;

impl OrderedWindow {
    /// Weighted median and weighted median of absolute deviations from it.
    pub(crate) fn median_mad(&mut self) -> Option<(f64, f64)> {
        if self.len() == 0 || self.vals.is_empty() {
            return None;
        }
        let rm = self.rank_reaching(self.median_target());
        let m = self.vals[rm];
        if let Some(d) = self.mad_from_recent(rm, m) {
            return Some((m, d));
        }
        if self.recent.is_none()
            && let Some(d) = self.mad_from_ball(rm, m)
        {
            return Some((m, d));
        }
        // Bisect, and start the next ball search from this answer.
        let d = self.mad_around(rm, m);
        let lo = self.vals.partition_point(|&v| m - v > d);
        let hi = self.vals.partition_point(|&v| v - m <= d).max(lo);
        match &mut self.recent {
            Some(recent) => {
                recent.ball = Some(recent.ball_over(lo, hi));
                recent.last = Some((m, d));
            }
            None => {
                let weight = self.tree.prefix(hi) - self.tree.prefix(lo);
                self.ball = Some(Ball { lo, hi, weight });
            }
        }
        Some((m, d))
    }

    /// The MAD found by moving the previous deviation ball over every rank: `None`
    /// when that takes more than [`MAX_BALL_STEPS`] steps (the caller then bisects).
    fn mad_from_ball(&mut self, rm: usize, m: f64) -> Option<f64> {
        let half = self.median_target();
        let (found, ball) = match &self.occupied {
            Some(bits) => {
                let layer = Sparse {
                    weight: &self.weight,
                    bits,
                };
                search(&layer, &self.vals, self.ball, rm, m, half, MAX_BALL_STEPS)
            }
            None => search(
                &Dense(&self.weight),
                &self.vals,
                self.ball,
                rm,
                m,
                half,
                MAX_BALL_STEPS,
            ),
        };
        self.ball = found.map(|_| ball);
        found.map(|f| f.mad)
    }

    /// The MAD from the newest members alone, when provably the MAD of the whole window
    /// (the value [`Self::mad_around`] returns); `None` otherwise.
    ///
    /// Let `W(d)` be the window's weight within `d` of `m` and `K(d)` the newest
    /// members' share of it, and let `R` bound the weight of the older members (their
    /// count times the weight of the newest of them: weights grow with recency). The
    /// search over the newest members finds `top`, their smallest deviation with
    /// `K(top) >= half`, and `K(top-)`, their weight strictly inside `top`. For any
    /// deviation `d < top`, `W(d) <= K(top-) + R`; and `W(top) >= K(top)`. So when
    /// `K(top) >= half + e` and `K(top-) + R + e < half`, where `e` bounds the
    /// rounding of every sum involved, `top` is the smallest deviation holding half
    /// the weight by any of the computations (exact, the bisection's Fenwick prefix
    /// sums, or the ball's running sums): the MAD, to the bit.
    ///
    /// `e`: each sum is a running sum of weights that grow by `exp(decay)` per member,
    /// so the error it carries is at most the unit roundoff `u = 1.1e-16` times the sum
    /// of its past values, below `u * c * total / (1 - exp(-decay))^2` with `c` its
    /// updates per member (two per Fenwick node, times 17 nodes in a prefix sum; for a
    /// ball two plus at most [`MAX_RECENT_STEPS`] moves). With `decay >= 0.01` (below
    /// that the newest members are not kept apart) `1 / (1 - exp(-decay))^2 < 1.02e4`,
    /// so `e < 1.1e-16 * 260 * 1.02e4 * total < 3e-10 * total`, below
    /// [`ROUNDING_SLACK`] `* total`.
    fn mad_from_recent(&mut self, rm: usize, m: f64) -> Option<f64> {
        let half = self.median_target();
        let recent = self.recent.as_mut()?;
        // When the median moved, start from the last MAD around the new median: the
        // ball then needs a few moves instead of one per value the median passed.
        let start = match (recent.ball, recent.last) {
            (Some(_), Some((last_m, last_d))) if last_m != m => {
                let lo = self.vals.partition_point(|&v| m - v > last_d);
                let hi = self.vals.partition_point(|&v| v - m <= last_d).max(lo);
                Some(recent.ball_over(lo, hi))
            }
            (ball, _) => ball,
        };
        let (found, ball) = search(&*recent, &self.vals, start, rm, m, half, MAX_RECENT_STEPS);
        recent.ball = found.map(|_| ball);
        let found = found?;
        recent.last = Some((m, found.mad));
        let older = recent.first - self.head;
        let rest = if older == 0 {
            0.0
        } else {
            older as f64 * self.member_weight[recent.first - 1]
        };
        let slack = ROUNDING_SLACK * self.total;
        (found.weight >= half + slack && found.inner + rest + slack < half).then_some(found.mad)
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
        // Candidates are deviations of all stream values (a superset of the window's):
        // the smallest satisfying candidate is a window value's deviation.
        smallest_deviation(&self.vals, rm, m, |d| self.within(m, d) >= half)
    }
}

/// The smallest deviation `|v - m|` over the sorted `vals` that satisfies `ok`, a
/// predicate monotone in the deviation (false, then true); `rm` is the rank of the first
/// value not below `m`. Infinity when none does. Both sides are bisected: right of `m`
/// deviations grow with the rank, left of it they shrink.
pub(crate) fn smallest_deviation(vals: &[f64], rm: usize, m: f64, ok: impl Fn(f64) -> bool) -> f64 {
    let right = &vals[rm..];
    let i = right.partition_point(|&v| !ok(v - m));
    let mut best = right.get(i).map(|&v| v - m);
    let left = &vals[..rm];
    // The last rank on the left that still satisfies.
    let j = left.partition_point(|&v| ok(m - v));
    if j > 0 {
        let d = m - left[j - 1];
        best = Some(best.map_or(d, |b| b.min(d)));
    }
    best.unwrap_or(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::super::OrderedWindow;
    use proptest::prelude::*;

    fn values() -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            // continuous values with a level shift
            prop::collection::vec(-1e3..1e3f64, 50..1500),
            // few distinct values: ties on ranks and on deviations
            prop::collection::vec((0..12i32).prop_map(f64::from), 50..1500),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(120))]

        /// Fast path equals full computation: whenever the search over the newest members
        /// answers, its MAD is the bisection's over the whole window, to the bit; and
        /// the query's answer always is.
        #[test]
        fn newest_members_give_the_mad_of_the_whole_window(
            vals in values(),
            decay in prop_oneof![0.01..0.05f64, 0.05..0.5f64, 0.5..3.0f64],
            window in 1..1200usize,
        ) {
            let mut w = OrderedWindow::for_mad(&vals, Some(decay));
            let kept = w.recent.is_some();
            let mut answered = 0;
            for end in 0..vals.len() {
                w.push();
                if end >= window {
                    w.pop();
                }
                let rm = w.rank_reaching(w.median_target());
                let m = w.vals[rm];
                let full = w.mad_around(rm, m);
                if let Some(fast) = w.mad_from_recent(rm, m) {
                    prop_assert_eq!(fast.to_bits(), full.to_bits(), "at {}", end);
                    answered += 1;
                }
                let (median, mad) = w.median_mad().unwrap();
                prop_assert_eq!(median.to_bits(), m.to_bits());
                prop_assert_eq!(mad.to_bits(), full.to_bits(), "at {}", end);
            }
            prop_assert_eq!(kept, w.recent.is_some());
            // The fast path is taken, not just allowed.
            prop_assert_eq!(kept, answered > 0);
        }
    }
}
