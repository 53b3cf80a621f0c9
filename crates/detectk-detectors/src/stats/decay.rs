//! Exponential recency weights that stay in floating-point range.
//!
//! The k-th most recent history point weighs `exp(-decay * k)`. Only ratios
//! matter (weights are normalised), so member `m` of a history stream gets the
//! unnormalised weight `exp(decay * (m - base))`, which never changes while the
//! member is in the window; `base` moves forward ("rebase") before the newest
//! weight could overflow, and the owner then recomputes the weights it holds.

/// Largest exponent allowed before a rebase (`exp(600)` is about `1e260`).
const MAX_EXPONENT: f64 = 600.0;

/// Recency weights of the members of one history stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decay {
    factor: f64,
    base: usize,
}

impl Decay {
    /// Weights decaying by `factor` per member (`factor >= 0`).
    pub(crate) fn new(factor: f64) -> Self {
        Self { factor, base: 0 }
    }

    /// Unnormalised weight of member `m` (`m >= base`, or underflowing to zero below it).
    pub(crate) fn weight(&self, m: usize) -> f64 {
        let k = m as f64 - self.base as f64;
        (self.factor * k).exp()
    }

    /// Whether member `m` would get too large a weight: the caller must [`Decay::rebase`].
    pub(crate) fn needs_rebase(&self, m: usize) -> bool {
        self.factor * (m.saturating_sub(self.base) as f64) > MAX_EXPONENT
    }

    /// Makes member `m` weigh 1; older members weigh less (possibly 0 after underflow).
    pub(crate) fn rebase(&mut self, m: usize) {
        self.base = m;
    }
}

/// Weight of member `m` under optional decay (1 when unweighted).
pub(crate) fn weight_of(decay: &Option<Decay>, m: usize) -> f64 {
    match decay {
        Some(d) => d.weight(m),
        None => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_exponential_in_recency() {
        let d = Decay::new(0.1);
        let ratio = d.weight(10) / d.weight(13);
        assert!((ratio - (-0.3f64).exp()).abs() < 1e-15);
    }

    #[test]
    fn rebase_keeps_weights_finite() {
        let mut d = Decay::new(5.0);
        assert!(!d.needs_rebase(100));
        assert!(d.needs_rebase(200));
        d.rebase(200);
        assert_eq!(d.weight(200), 1.0);
        assert!(d.weight(201).is_finite());
        assert_eq!(d.weight(0), 0.0);
    }
}
