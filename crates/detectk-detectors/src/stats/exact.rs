//! Unweighted order statistics of a whole window by selection, for a cron run's few
//! points: the values a sliding [`super::ordered::OrderedWindow`] gives, without
//! ranking the window.
//!
//! With equal weights every cumulative weight the window computes is an exact integer
//! count, so its quantile rules are plain order statistics: the value at sorted
//! position `k` for the smallest count reaching the target. Values must be finite and
//! contain no `-0.0` (the window keeps the first of `-0.0` and `0.0` it ranks, a
//! selection whichever it meets).

use super::python_median::python_median_position;

/// The value at 0-based sorted position `k` of `values` (reordered).
fn select(values: &mut [f64], k: usize) -> f64 {
    *values.select_nth_unstable_by(k, f64::total_cmp).1
}

/// The first value whose count reaches `p` of the count (`0 < p <= 1`), as
/// `OrderedWindow::quantile` finds it; `None` when empty.
pub(crate) fn quantile(values: &mut [f64], p: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    // Smallest count c with c >= p * n (exact below 2^50 values).
    let c = ((p * n as f64).ceil() as usize).clamp(1, n);
    Some(select(values, c - 1))
}

/// Median and MAD as `OrderedWindow::median_mad` finds them without weights (Python
/// detectk's median position for both); `deviations` is scratch space.
pub(crate) fn median_mad(values: &mut [f64], deviations: &mut Vec<f64>) -> Option<(f64, f64)> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let k = python_median_position(n);
    let m = select(values, k);
    deviations.clear();
    deviations.extend(values.iter().map(|v| (v - m).abs()));
    Some((m, select(deviations, k)))
}

#[cfg(test)]
mod tests {
    use super::super::ordered::OrderedWindow;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Fast path equals full computation: selection gives the unweighted window's
        /// quartiles, median and MAD to the bit, ties included.
        #[test]
        fn selection_equals_the_ordered_window(
            values in prop_oneof![
                prop::collection::vec(-1e3..1e3f64, 1..600),
                prop::collection::vec((0..9i32).prop_map(f64::from), 1..600),
            ],
        ) {
            let mut w = OrderedWindow::new(&values, None);
            for _ in &values {
                w.push();
            }
            let mut v = values.clone();
            for p in [0.25, 0.5, 0.75] {
                prop_assert_eq!(quantile(&mut v, p).map(f64::to_bits), w.quantile(p).map(f64::to_bits));
            }
            let (m, mad) = median_mad(&mut v, &mut Vec::new()).unwrap();
            let (wm, wmad) = w.median_mad().unwrap();
            prop_assert_eq!(m.to_bits(), wm.to_bits());
            prop_assert_eq!(mad.to_bits(), wmad.to_bits());
        }
    }
}
