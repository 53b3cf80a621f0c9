//! A sliding window of values with weighted mean and standard deviation.
//!
//! Running sums are kept around a shift close to the mean, with a bound on their
//! accumulated rounding error; when that bound could reach `1e-11` of the variance
//! (after a level shift, or once a huge outlier has left the window) the sums are
//! recomputed from the window in two passes. Exactly equal windows are recognised by
//! counting neighbouring members with different values (none: all equal), so they
//! give a standard deviation of exactly 0.

use super::decay::{Decay, weight_of};

/// Tolerated relative error of the variance before the sums are recomputed.
const MAX_RELATIVE_ERROR: f64 = 1e-11;

/// Weighted mean and standard deviation over a contiguous range of a stream's members.
#[derive(Debug, Clone)]
pub(crate) struct Moments {
    values: Vec<f64>,
    head: usize,
    tail: usize,
    decay: Option<Decay>,
    shift: f64,
    s0: f64,
    s1: f64,
    s2: f64,
    /// Bounds on the absolute rounding error of `s1` and `s2`.
    err1: f64,
    err2: f64,
    /// Neighbouring member pairs of the window whose values differ (by `!=`).
    changes: usize,
}

impl Moments {
    /// An empty window over the stream `values` (finite, in time order).
    pub(crate) fn new(values: &[f64], decay: Option<f64>) -> Self {
        Self {
            values: values.to_vec(),
            head: 0,
            tail: 0,
            decay: decay.map(Decay::new),
            shift: values.first().copied().unwrap_or(0.0),
            s0: 0.0,
            s1: 0.0,
            s2: 0.0,
            err1: 0.0,
            err2: 0.0,
            changes: 0,
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
        if m > self.head {
            self.changes += usize::from(self.values[m - 1] != self.values[m]);
        }
        self.tail += 1;
        if let Some(d) = &mut self.decay
            && d.needs_rebase(m)
        {
            d.rebase(m);
            self.recompute();
            return;
        }
        self.change(m, 1.0);
    }

    /// Removes the oldest member.
    pub(crate) fn pop(&mut self) {
        let m = self.head;
        self.head += 1;
        if self.head < self.tail {
            self.changes -= usize::from(self.values[m] != self.values[m + 1]);
        }
        if self.head == self.tail {
            self.s0 = 0.0;
            self.s1 = 0.0;
            self.s2 = 0.0;
            self.err1 = 0.0;
            self.err2 = 0.0;
        } else {
            self.change(m, -1.0);
        }
    }

    fn change(&mut self, m: usize, sign: f64) {
        let w = weight_of(&self.decay, m);
        let d = self.values[m] - self.shift;
        let t1 = w * d;
        let t2 = t1 * d;
        self.s0 += sign * w;
        self.s1 += sign * t1;
        self.s2 += sign * t2;
        self.err1 += f64::EPSILON * (self.s1.abs() + 2.0 * t1.abs());
        self.err2 += f64::EPSILON * (self.s2.abs() + 3.0 * t2.abs());
    }

    /// Recomputes the sums in two passes around the window's weighted mean.
    fn recompute(&mut self) {
        let (mut s0, mut sx) = (0.0, 0.0);
        for m in self.head..self.tail {
            let w = weight_of(&self.decay, m);
            s0 += w;
            sx += w * self.values[m];
        }
        let mean = sx / s0;
        self.shift = if mean.is_finite() {
            mean
        } else {
            self.values[self.head]
        };
        let (mut s1, mut s2, mut a1) = (0.0, 0.0, 0.0);
        for m in self.head..self.tail {
            let w = weight_of(&self.decay, m);
            let d = self.values[m] - self.shift;
            s1 += w * d;
            s2 += w * d * d;
            a1 += (w * d).abs();
        }
        let n = (self.tail - self.head) as f64;
        self.s0 = s0;
        self.s1 = s1;
        self.s2 = s2;
        self.err1 = 2.0 * n * f64::EPSILON * a1;
        self.err2 = 3.0 * n * f64::EPSILON * s2;
    }

    /// Weighted mean and standard deviation (`sqrt(sum w (x - mean)^2)`, normalised weights).
    pub(crate) fn mean_std(&mut self) -> Option<(f64, f64)> {
        if self.len() == 0 {
            return None;
        }
        if self.changes == 0 {
            // All equal: the newest value (the one sliding minimum and maximum kept).
            return Some((self.values[self.tail - 1], 0.0));
        }
        if let Some(r) = self.current(false) {
            return Some(r);
        }
        self.recompute();
        self.current(true)
    }

    /// Mean and std from the sums, unless their error bound is too large (and `force` is off).
    fn current(&self, force: bool) -> Option<(f64, f64)> {
        let mu = self.s1 / self.s0;
        let var = self.s2 / self.s0 - mu * mu;
        let bound = (self.err2 + 2.0 * mu.abs() * self.err1) / self.s0
            + 4.0 * f64::EPSILON * (self.s2 / self.s0);
        if !force && (var <= 0.0 || !var.is_finite() || bound > MAX_RELATIVE_ERROR * var) {
            return None;
        }
        Some((self.shift + mu, var.max(0.0).sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(values: &[f64], decay: Option<f64>) -> (f64, f64) {
        let n = values.len();
        let w: Vec<f64> = (0..n)
            .map(|i| decay.map_or(1.0, |l| (-l * (n - 1 - i) as f64).exp()))
            .collect();
        let total: f64 = w.iter().sum();
        let mean: f64 = values.iter().zip(&w).map(|(x, w)| x * w).sum::<f64>() / total;
        let var: f64 = values
            .iter()
            .zip(&w)
            .map(|(x, w)| w * (x - mean) * (x - mean))
            .sum::<f64>()
            / total;
        (mean, var.sqrt())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-10 * a.abs().max(b.abs()).max(1e-300)
    }

    #[test]
    fn sliding_matches_direct_even_with_offsets_and_outliers() {
        let mut values: Vec<f64> = (0..3000)
            .map(|i| 1e9 + ((i * 7919) % 101) as f64 * 0.01)
            .collect();
        values[500] = 1e15;
        values[1500] = -3e12;
        for decay in [None, Some(0.05), Some(2.0)] {
            let mut w = Moments::new(&values, decay);
            for end in 0..values.len() {
                w.push();
                if end >= 200 {
                    w.pop();
                }
                let start = end.saturating_sub(199);
                let (m, s) = w.mean_std().unwrap();
                let (dm, ds) = direct(&values[start..=end], decay);
                assert!(close(m, dm), "{decay:?} mean at {end}: {m} vs {dm}");
                if end > 0 {
                    assert!(close(s, ds), "{decay:?} std at {end}: {s} vs {ds}");
                }
            }
        }
    }

    #[test]
    fn equal_windows_are_found_through_pushes_and_pops() {
        let values = [1.0, 1.0, 0.0, -0.0, 0.0, 2.0, 2.0, 2.0, 3.0, 2.0, 2.0];
        for width in 1..6 {
            let mut w = Moments::new(&values, Some(0.3));
            for end in 0..values.len() {
                w.push();
                if end >= width {
                    w.pop();
                }
                let window = &values[end.saturating_sub(width - 1)..=end];
                let equal = window.iter().all(|v| *v == window[0]);
                let (mean, std) = w.mean_std().unwrap();
                assert_eq!(std == 0.0 && equal, equal, "{width} at {end}");
                if equal {
                    assert_eq!(mean.to_bits(), values[end].to_bits(), "{width} at {end}");
                }
            }
        }
    }

    #[test]
    fn equal_values_have_exactly_zero_spread() {
        let mut w = Moments::new(&[0.1, 0.1, 0.1, 0.2], Some(0.1));
        for _ in 0..3 {
            w.push();
        }
        assert_eq!(w.mean_std(), Some((0.1, 0.0)));
        w.push();
        assert!(w.mean_std().unwrap().1 > 0.0);
        w.pop();
        w.pop();
        w.pop();
        w.pop();
        assert_eq!(w.mean_std(), None);
    }
}
