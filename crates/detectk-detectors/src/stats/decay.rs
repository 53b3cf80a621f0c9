//! Exponential recency weights that stay in floating-point range.
//!
//! The k-th most recent history point weighs `exp(-decay * k)`. Only ratios
//! matter (weights are normalised), so member `m` of a history stream gets the
//! unnormalised weight `exp(decay * (m - base))`, which never changes while the
//! member is in the window; `base` moves forward ("rebase") before the newest
//! weight could overflow, and the owner then recomputes the weights it holds.
//!
//! The weights `exp(factor * k)` for `k = 0, 1, ...` up to the rebase limit are
//! computed once per process and factor ([`ExpTable`]) and shared: a cron run then
//! slides its 30-day window without one `exp` call per member. A table entry is the
//! very value the direct computation gives (the same `exp` of the same argument), so
//! sums and results do not change by a bit.

use std::sync::{Arc, Mutex, OnceLock};

/// Largest exponent allowed before a rebase (`exp(600)` is about `1e260`).
const MAX_EXPONENT: f64 = 600.0;

/// Most entries of one table (512 KiB): slower decays compute the rest directly.
const MAX_TABLE_LEN: usize = 1 << 16;

/// Most factors with a table; further factors compute every weight directly.
const MAX_TABLES: usize = 16;

/// `exp(factor * k)` for `k` in `0..len`, shared by every stream with this factor.
#[derive(Debug)]
struct ExpTable {
    factor: f64,
    exps: Vec<f64>,
}

/// The shared table of `factor`, built on first use; `None` once [`MAX_TABLES`]
/// factors have one.
fn table_of(factor: f64) -> Option<Arc<ExpTable>> {
    static TABLES: OnceLock<Mutex<Vec<Arc<ExpTable>>>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| Mutex::new(Vec::new()));
    let mut tables = tables.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = tables
        .iter()
        .find(|t| t.factor.to_bits() == factor.to_bits())
    {
        return Some(Arc::clone(t));
    }
    if tables.len() >= MAX_TABLES || !factor.is_finite() {
        return None;
    }
    // Up to the largest k a window holds before a rebase (and one more).
    let len = if factor > 0.0 {
        ((MAX_EXPONENT / factor) as usize).saturating_add(2)
    } else {
        MAX_TABLE_LEN
    }
    .min(MAX_TABLE_LEN);
    let exps = (0..len).map(|k| (factor * k as f64).exp()).collect();
    let table = Arc::new(ExpTable { factor, exps });
    tables.push(Arc::clone(&table));
    Some(table)
}

/// Recency weights of the members of one history stream.
#[derive(Debug, Clone)]
pub(crate) struct Decay {
    factor: f64,
    base: usize,
    table: Option<Arc<ExpTable>>,
}

impl Decay {
    /// Weights decaying by `factor` per member (`factor >= 0`).
    pub(crate) fn new(factor: f64) -> Self {
        Self {
            factor,
            base: 0,
            table: table_of(factor),
        }
    }

    /// Unnormalised weight of member `m` (`m >= base`, or underflowing to zero below it).
    #[inline]
    pub(crate) fn weight(&self, m: usize) -> f64 {
        if let Some(t) = &self.table
            && let Some(&w) = m.checked_sub(self.base).and_then(|k| t.exps.get(k))
        {
            // `(m - base) as f64` equals `m as f64 - base as f64` for the indices of
            // any series that fits in memory: the same `exp` argument.
            return w;
        }
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
    fn table_weights_are_the_direct_ones_to_the_bit() {
        for factor in [0.0, 0.01, 0.1, 0.37, 5.0] {
            let mut d = Decay::new(factor);
            let direct = |d: &Decay, m: usize| (factor * (m as f64 - d.base as f64)).exp();
            for base in [0, 7, 1000] {
                d.rebase(base);
                for m in (0..base + 70_000).step_by(13) {
                    assert_eq!(d.weight(m).to_bits(), direct(&d, m).to_bits());
                }
            }
        }
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
