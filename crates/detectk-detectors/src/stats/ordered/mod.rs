//! A sliding window of values with weighted order statistics (quantiles, MAD).
//!
//! Values are mapped once to ranks among the distinct values of the whole stream,
//! so adding or removing a point and finding a weighted quantile cost `O(log n)`
//! through a Fenwick tree, instead of sorting the window for every point.

mod ball;
mod bits;
mod mad;
mod newest;
mod recent;

use super::decay::{Decay, weight_of};
use super::fenwick::Fenwick;
use super::python_median::python_median_position;
use ball::Ball;
use bits::Bits;
use recent::Recent;

pub(crate) use mad::smallest_deviation;
pub(crate) use newest::{
    Newest, Scratch, median_mad_of_newest, older_weight_bound, quartiles_of_newest,
};

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
    /// Weight of each member while it is in the window (weighted windows only).
    member_weight: Vec<f64>,
    /// The newest members apart, for fast weighted MAD queries ([`Self::for_mad`]).
    recent: Option<Recent>,
    /// The occupied ranks of an unweighted window, for the MAD ball search.
    occupied: Option<Bits>,
}

impl OrderedWindow {
    /// An empty window over the stream `values` (finite, in time order).
    pub(crate) fn new(values: &[f64], decay: Option<f64>) -> Self {
        let (vals, rank) = ranked(values);
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
            member_weight: if decay.is_some() {
                vec![0.0; values.len()]
            } else {
                Vec::new()
            },
            recent: None,
            occupied: decay.is_none().then(|| Bits::new(n)),
        }
    }

    /// An empty window for median and MAD queries: with a fast enough decay it also
    /// keeps its newest members apart, which makes the MAD query cheap.
    pub(crate) fn for_mad(values: &[f64], decay: Option<f64>) -> Self {
        let mut w = Self::new(values, decay);
        w.recent = decay.and_then(|d| Recent::new(d, values.len(), w.vals.len()));
        w
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
        if let Some(rc) = &mut self.recent {
            rc.clear(std::iter::empty(), m);
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
        let w = weight_of(&self.decay, m);
        if let Some(slot) = self.member_weight.get_mut(m) {
            *slot = w;
        }
        if let Some(rc) = &mut self.recent {
            rc.enter(self.rank[m] as usize, w);
            if self.tail - rc.first > rc.keep {
                let f = rc.first;
                rc.leave(self.rank[f] as usize, self.member_weight[f]);
                rc.first += 1;
            }
        }
        self.change(m, w);
    }

    /// Removes the oldest member.
    pub(crate) fn pop(&mut self) {
        let m = self.head;
        self.head += 1;
        let w = self.member_weight.get(m).copied().unwrap_or(1.0);
        if let Some(rc) = &mut self.recent
            && rc.first == m
        {
            rc.leave(self.rank[m] as usize, w);
            rc.first += 1;
        }
        self.change(m, -w);
        if self.head == self.tail {
            // Empty again: restart from exact zeros.
            self.weight.iter_mut().for_each(|w| *w = 0.0);
            self.tree.rebuild(&self.weight);
            self.total = 0.0;
            self.ball = None;
            if let Some(rc) = &mut self.recent {
                rc.ball = None;
            }
            if let Some(bits) = &mut self.occupied {
                bits.clear();
            }
        }
    }

    /// Adds the signed weight `w` of member `m`.
    fn change(&mut self, m: usize, w: f64) {
        let r = self.rank[m] as usize;
        self.weight[r] += w;
        self.tree.add(r, w);
        if let Some(bits) = &mut self.occupied {
            // Unweighted: the weight is an exact count.
            if self.weight[r] == 0.0 {
                bits.unset(r);
            } else {
                bits.set(r);
            }
        }
        Ball::note(&mut self.ball, r, w);
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
            let w = weight_of(&self.decay, m);
            if let Some(slot) = self.member_weight.get_mut(m) {
                *slot = w;
            }
            self.weight[self.rank[m] as usize] += w;
        }
        self.tree.rebuild(&self.weight);
        self.total = self.weight.iter().sum();
        self.ops = 0;
        self.ball = None;
        if let Some(rc) = &mut self.recent {
            let first = self.head.max(self.tail.saturating_sub(rc.keep));
            rc.clear((rc.first..self.tail).map(|m| self.rank[m] as usize), first);
            for m in first..self.tail {
                rc.enter(self.rank[m] as usize, self.member_weight[m]);
            }
        }
    }

    /// The cumulative weight the median must reach: half the total, or with equal
    /// weights the count Python detectk's floating-point cumulative sum needs (so an
    /// even count takes the lower or the upper middle exactly as the reference does).
    pub(super) fn median_target(&self) -> f64 {
        if self.decay.is_none() {
            python_median_position(self.len()) as f64 + 0.5
        } else {
            0.5 * self.total
        }
    }

    /// Rank of the first value (ascending) whose cumulative weight reaches `p` of the total.
    fn quantile_rank(&self, p: f64) -> usize {
        self.rank_reaching(p * self.total)
    }

    /// Rank of the first value (ascending) whose cumulative weight reaches `target`.
    pub(super) fn rank_reaching(&self, target: f64) -> usize {
        let r = self.tree.search(target);
        if r < self.vals.len() {
            return r;
        }
        // Rounding left the target above the sum: take the largest value in the window.
        (0..self.vals.len())
            .rev()
            .find(|&r| self.weight[r] > 0.0)
            .unwrap_or(0)
    }

    /// The smallest value in the window above `x`, for windows of equal weights.
    pub(crate) fn min_above(&self, x: f64) -> Option<f64> {
        let r = self.vals.partition_point(|&v| v <= x);
        let before = self.tree.prefix(r);
        (self.total - before > 0.5).then(|| {
            let k = self.tree.search(before + 0.5);
            self.vals[k.min(self.vals.len() - 1)]
        })
    }

    /// The first value whose cumulative weight reaches `p` (0 < p <= 1); `None` when empty.
    pub(crate) fn quantile(&self, p: f64) -> Option<f64> {
        (self.len() > 0 && !self.vals.is_empty()).then(|| self.vals[self.quantile_rank(p)])
    }
}

/// The distinct values of `values` ascending (values equal by `==` are one), and the
/// rank of each value among them: one sort of (value, position) pairs.
pub(crate) fn ranked(values: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let mut order: Vec<(f64, u32)> = values.iter().zip(0..).map(|(&v, i)| (v, i)).collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut vals: Vec<f64> = Vec::with_capacity(values.len());
    let mut rank = vec![0; values.len()];
    for (v, i) in order {
        if vals.last() != Some(&v) {
            vals.push(v);
        }
        rank[i as usize] = (vals.len() - 1) as u32;
    }
    (vals, rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    proptest! {
        /// One sort of pairs equals the definition: sorted distinct values (by `==`,
        /// the first of `-0.0` and `0.0` kept) and binary searches for the ranks.
        #[test]
        fn one_sort_ranks_like_binary_searches(values in prop::collection::vec(
            prop_oneof![(-3..4i32).prop_map(f64::from), Just(-0.0), -1e6..1e6f64],
            0..300,
        )) {
            let mut expected: Vec<f64> = values.clone();
            expected.sort_unstable_by(f64::total_cmp);
            expected.dedup_by(|a, b| a == b);
            let (vals, rank) = ranked(&values);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&vals), bits(&expected));
            for (v, r) in values.iter().zip(&rank) {
                prop_assert_eq!(*r as usize, expected.partition_point(|x| x < v));
            }
        }
    }

    #[test]
    fn ranks_are_positions_among_distinct_values() {
        let values = [3.0, -0.0, 1.5, 0.0, 3.0, -2.0];
        let (vals, rank) = ranked(&values);
        assert_eq!(vals, [-2.0, 0.0, 1.5, 3.0]);
        assert_eq!(rank, [3, 1, 2, 1, 3, 0]);
        for (v, r) in values.iter().zip(&rank) {
            assert_eq!(*r as usize, vals.partition_point(|x| x < v));
        }
    }

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
                let rm = w.rank_reaching(w.median_target());
                assert_eq!(mad, w.mad_around(rm, m), "{decay:?} at {end}");
            }
        }
    }

    #[test]
    fn unweighted_median_and_mad_follow_the_reference_float_rule() {
        // 2,016 values 0..2016: Python detectk's cumulative sum of 1/2016 reaches 0.5
        // only at position 1,008, the upper middle.
        let values: Vec<f64> = (0..2016).map(f64::from).collect();
        let mut w = filled(&values, None);
        let (m, mad) = w.median_mad().unwrap();
        assert_eq!(m, 1008.0);
        // deviations from 1008: 0, 1, 1, 2, 2, ..., 1007, 1007, 1008 -> position 1008
        let mut dev: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
        dev.sort_by(f64::total_cmp);
        assert_eq!(mad, dev[1008]);
        // four values: the sum of two quarters is exactly 0.5, the lower middle
        let (m4, _) = filled(&[4.0, 1.0, 3.0, 2.0], None).median_mad().unwrap();
        assert_eq!(m4, 2.0);
    }

    #[test]
    fn smallest_value_above() {
        let mut w = filled(&[0.0, 0.0, 3.0, 0.0, 1.5, 7.0], None);
        assert_eq!(w.min_above(0.0), Some(1.5));
        assert_eq!(w.min_above(1.5), Some(3.0));
        assert_eq!(w.min_above(7.0), None);
        w.pop();
        w.pop();
        w.pop();
        assert_eq!(w.min_above(-1.0), Some(0.0));
        assert_eq!(w.min_above(0.0), Some(1.5));
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
