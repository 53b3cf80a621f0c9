//! The deviation-ball search of the MAD, over any layer of per-rank weights.
//!
//! The MAD is the smallest deviation `d` from the median such that the values within
//! `d` hold half the weight. The search moves the previous answer's "ball" of ranks
//! until it is the smallest closed ball holding half the weight.

use super::bits::Bits;

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

impl Ball {
    /// Adds `w` to the ball's weight when rank `r` is inside.
    pub(super) fn note(ball: &mut Option<Ball>, r: usize, w: f64) {
        if let Some(b) = ball
            && (b.lo..b.hi).contains(&r)
        {
            b.weight += w;
        }
    }
}

/// Per-rank weights with a way to find occupied ranks.
pub(super) trait Layer {
    /// Weight of rank `r` (0 when unoccupied).
    fn weight(&self, r: usize) -> f64;
    /// The last occupied rank in `limit..from`, spending `budget`; `None` when there is
    /// none or the budget runs out.
    fn below(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize>;
    /// The first occupied rank in `from..limit`, spending `budget`.
    fn above(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize>;
}

/// Plain per-rank weights: a rank is occupied when its weight is not zero, and every
/// rank looked at costs one unit of budget.
pub(super) struct Dense<'a>(pub(super) &'a [f64]);

impl Layer for Dense<'_> {
    fn weight(&self, r: usize) -> f64 {
        self.0[r]
    }
    fn below(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        let mut r = from;
        while r > limit && *budget > 0 {
            r -= 1;
            *budget -= 1;
            if self.0[r] != 0.0 {
                return Some(r);
            }
        }
        None
    }
    fn above(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        let mut r = from;
        while r < limit && *budget > 0 {
            *budget -= 1;
            if self.0[r] != 0.0 {
                return Some(r);
            }
            r += 1;
        }
        None
    }
}

/// Per-rank weights with a bitset of the occupied ranks: each occupied rank found
/// costs one unit of budget, however many empty ranks lie before it.
pub(super) struct Sparse<'a> {
    /// Weight per rank.
    pub(super) weight: &'a [f64],
    /// The ranks whose weight is not zero.
    pub(super) bits: &'a Bits,
}

impl Layer for Sparse<'_> {
    fn weight(&self, r: usize) -> f64 {
        self.weight[r]
    }
    fn below(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        self.bits.below(from, limit, budget)
    }
    fn above(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        self.bits.above(from, limit, budget)
    }
}

/// What a successful search found.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    /// The MAD: the largest deviation inside the final ball.
    pub(super) mad: f64,
    /// The ball's weight (at least `half`).
    pub(super) weight: f64,
    /// The weight of the ranks whose deviation is below `mad` (less than `half`).
    pub(super) inner: f64,
}

/// Moves `start` (or an empty ball at `rm`) to the MAD ball around the median `m`
/// (at rank `rm`) of `layer`; `None` when that takes more than `budget` steps or
/// rounding leaves every rank too light (the caller then bisects).
///
/// The ball `lo..hi` is kept "closed": it holds every occupied rank whose deviation
/// from `m` is at most the largest deviation inside it. It grows by the nearest
/// outside value while it holds less than `half`, and sheds its outermost layer while
/// what remains still holds `half`; its largest deviation is then the MAD.
pub(super) fn search<L: Layer>(
    layer: &L,
    vals: &[f64],
    start: Option<Ball>,
    rm: usize,
    m: f64,
    half: f64,
    mut budget: usize,
) -> (Option<Found>, Ball) {
    let dev = |r: usize| (vals[r] - m).abs();
    let empty = Ball {
        lo: rm,
        hi: rm,
        weight: 0.0,
    };
    let mut b = start.unwrap_or(empty);
    // Trim unoccupied ranks at both ends (growing and shedding keep the ends occupied).
    b.lo = layer.above(b.lo, b.hi, &mut { usize::MAX }).unwrap_or(b.hi);
    b.hi = layer
        .below(b.hi, b.lo, &mut { usize::MAX })
        .map_or(b.lo, |r| r + 1);
    if b.lo == b.hi {
        b = empty;
    }
    let found = loop {
        // Nearest occupied ranks outside the ball.
        let left = layer.below(b.lo, 0, &mut budget);
        let right = layer.above(b.hi, vals.len(), &mut budget);
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
            // Only unoccupied ranks lie between the ball and `l` or `h`.
            if let Some(l) = left.filter(|&l| dev(l) <= o) {
                b.weight += layer.weight(l);
                b.lo = l;
            }
            if let Some(h) = right.filter(|&h| dev(h) <= o) {
                b.weight += layer.weight(h);
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
        let shed = shed_layer(layer, &dev, b, top);
        if shed.lo < shed.hi && shed.weight >= half {
            b = shed;
            continue;
        }
        break Some(Found {
            mad: top,
            weight: b.weight,
            inner: if shed.lo < shed.hi { shed.weight } else { 0.0 },
        });
    };
    (found, b)
}

/// The ball without its ranks at deviation `top` at either end.
fn shed_layer<L: Layer>(layer: &L, dev: &impl Fn(usize) -> f64, b: Ball, top: f64) -> Ball {
    let mut shed = b;
    loop {
        match layer.above(shed.lo, shed.hi, &mut { usize::MAX }) {
            Some(r) if dev(r) == top => {
                shed.weight -= layer.weight(r);
                shed.lo = r + 1;
            }
            next => {
                shed.lo = next.unwrap_or(shed.hi);
                break;
            }
        }
    }
    loop {
        match layer.below(shed.hi, shed.lo, &mut { usize::MAX }) {
            Some(r) if dev(r) == top => {
                shed.weight -= layer.weight(r);
                shed.hi = r;
            }
            next => {
                shed.hi = next.map_or(shed.lo, |r| r + 1);
                break;
            }
        }
    }
    shed
}
