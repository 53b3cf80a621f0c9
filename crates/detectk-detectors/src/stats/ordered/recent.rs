//! The newest members of a decaying window, by rank: the part that decides its MAD.
//!
//! With weights `exp(-decay * k)` for the k-th most recent member, the members older
//! than the newest `keep` hold at most `n * exp(-decay * keep)` of the newest weight
//! (`n` the window's size). [`Recent`] keeps only the newest `keep` members, with a
//! bitset of their ranks, so the MAD ball search steps from one recent value to the
//! next instead of over every window value and every empty rank in between. The
//! result is used only when a margin proves that the older members and rounding
//! cannot change it (see `OrderedWindow::mad_from_recent`).

use super::super::fenwick::Fenwick;
use super::ball::{Ball, Layer};
use super::bits::Bits;

/// Smallest decay factor for which the newest members are kept apart: below it the
/// kept part would be most of the window and the rounding bound grows.
const MIN_DECAY: f64 = 0.01;

/// `ln(1e10)`: the members left out weigh at most `1e-10` of the newest one.
const LEFT_OUT_EXPONENT: f64 = 23.03;

/// The newest members of a window: per-rank weights, counts and occupancy bits.
#[derive(Debug, Clone)]
pub(super) struct Recent {
    /// How many of the newest window members are kept.
    pub(super) keep: usize,
    /// First kept member: the kept members are `first..tail` of the stream.
    pub(super) first: usize,
    /// The deviation ball of the last query over the kept members.
    pub(super) ball: Option<Ball>,
    /// The median and MAD of the last query.
    pub(super) last: Option<(f64, f64)>,
    weight: Vec<f64>,
    /// Prefix sums of `weight`, for the weight of a ball in `O(log n)`.
    tree: Fenwick,
    count: Vec<u32>,
    bits: Bits,
}

impl Recent {
    /// The kept part for a stream of `members` members and `ranks` distinct values
    /// under `decay`, or `None` when keeping a part would not pay.
    pub(super) fn new(decay: f64, members: usize, ranks: usize) -> Option<Self> {
        if decay.is_nan() || decay < MIN_DECAY {
            return None;
        }
        let keep = ((((members + 1) as f64).ln() + LEFT_OUT_EXPONENT) / decay).ceil() as usize;
        (keep < members).then(|| Self {
            keep,
            first: 0,
            ball: None,
            last: None,
            weight: vec![0.0; ranks],
            tree: Fenwick::new(ranks),
            count: vec![0; ranks],
            bits: Bits::new(ranks),
        })
    }

    /// Adds a member of rank `r` and weight `w`.
    pub(super) fn enter(&mut self, r: usize, w: f64) {
        self.weight[r] += w;
        self.tree.add(r, w);
        self.count[r] += 1;
        self.bits.set(r);
        Ball::note(&mut self.ball, r, w);
    }

    /// Removes a member of rank `r` and weight `w`.
    pub(super) fn leave(&mut self, r: usize, w: f64) {
        self.count[r] -= 1;
        self.tree.add(r, -w);
        if self.count[r] == 0 {
            self.weight[r] = 0.0;
            self.bits.unset(r);
        } else {
            self.weight[r] -= w;
        }
        Ball::note(&mut self.ball, r, -w);
    }

    /// Empties the kept part (ranks `ranks` of the members it holds) and starts it at
    /// member `first`.
    pub(super) fn clear(&mut self, ranks: impl Iterator<Item = usize>, first: usize) {
        for r in ranks {
            self.weight[r] = 0.0;
            self.count[r] = 0;
            self.bits.clear_word_of(r);
        }
        self.tree.rebuild(&self.weight);
        self.first = first;
        self.ball = None;
        self.last = None;
    }
}

impl Recent {
    /// The ball of ranks `lo..hi` with the weight of the kept members in it.
    pub(super) fn ball_over(&self, lo: usize, hi: usize) -> Ball {
        let weight = self.tree.prefix(hi) - self.tree.prefix(lo);
        Ball { lo, hi, weight }
    }
}

impl Layer for Recent {
    fn weight(&self, r: usize) -> f64 {
        self.weight[r]
    }

    /// One unit of budget per occupied rank found, however far.
    fn below(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        self.bits.below(from, limit, budget)
    }

    fn above(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        self.bits.above(from, limit, budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_occupied_ranks_across_words() {
        let mut r = Recent::new(0.1, 10_000, 300).unwrap();
        for rank in [3, 64, 130, 199] {
            r.enter(rank, 1.0);
        }
        let mut b = usize::MAX;
        assert_eq!(r.above(0, 300, &mut b), Some(3));
        assert_eq!(r.above(4, 300, &mut b), Some(64));
        assert_eq!(r.above(65, 130, &mut b), None);
        assert_eq!(r.above(65, 131, &mut b), Some(130));
        assert_eq!(r.above(200, 300, &mut b), None);
        assert_eq!(r.below(300, 0, &mut b), Some(199));
        assert_eq!(r.below(199, 0, &mut b), Some(130));
        assert_eq!(r.below(130, 65, &mut b), None);
        assert_eq!(r.below(64, 0, &mut b), Some(3));
        assert_eq!(r.below(3, 0, &mut b), None);
        r.leave(64, 1.0);
        assert_eq!(r.above(4, 300, &mut b), Some(130));
        let mut one = 1;
        assert_eq!(r.above(0, 300, &mut one), Some(3));
        assert_eq!(r.above(0, 300, &mut one), None);
    }

    #[test]
    fn slow_decay_or_short_streams_keep_nothing_apart() {
        assert!(Recent::new(0.001, 50_000, 10).is_none());
        assert!(Recent::new(0.1, 100, 10).is_none());
        assert_eq!(Recent::new(0.1, 52_560, 10).map(|r| r.keep), Some(339));
    }
}
