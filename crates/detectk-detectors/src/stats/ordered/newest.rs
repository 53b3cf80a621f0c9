//! The weighted median and MAD of a decaying window from its newest members alone.
//!
//! With weights `exp(-decay * k)` for the k-th newest member, the members older than
//! the newest `K` weigh at most `rest = exp(-decay * K) / (1 - exp(-decay))` times the
//! newest one, whatever the window's size. The median is the smallest value `v` whose
//! cumulative weight `C(v)` reaches half the total; over the newest members alone
//! `C_K(v) <= C(v) <= C_K(v) + rest` and `T_K <= T <= T_K + rest`. So when the newest
//! members' candidate `v*` has `C_K(v*) >= (T_K + rest) / 2 + e` and the weight strictly
//! below it `C_K(<v*) + rest + e < T_K / 2`, every value below `v*` (a newest member's
//! or an older one's) stays under half and `v*` reaches it: `v*` is the median by any
//! computation whose rounding stays within `e`. The MAD, the weighted median of the
//! deviations `|v - m|`, follows by the same argument over the deviations. The bound
//! `e` is the one of [`OrderedWindow::median_mad`](super::OrderedWindow) (see
//! `mad_from_recent`): [`ROUNDING_SLACK`] of the total, twice over to also cover the
//! sums here (at most a few hundred weights below 1, so an error below `1e-13` of the
//! total).

use super::mad::ROUNDING_SLACK;

/// The newest members of a decaying window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Newest<'a> {
    /// Their values, newest first.
    pub values: &'a [f64],
    /// Their weights, newest first (`exp(-decay * k)`, the newest weighing 1).
    pub weights: &'a [f64],
    /// Bound of the weight of the window's older members (0 when there are none).
    pub rest: f64,
}

/// The weight bound of all members older than the newest `kept` under `decay`.
pub(crate) fn older_weight_bound(decay: f64, kept: usize) -> f64 {
    (-decay * kept as f64).exp() / (1.0 - (-decay).exp())
}

/// Weighted median and MAD of the window whose newest members are `newest`, or `None`
/// when the older members or rounding could change either (see the module comment).
/// `scratch` is reused between calls.
pub(crate) fn median_mad_of_newest(
    newest: &Newest<'_>,
    scratch: &mut Vec<(f64, f64)>,
) -> Option<(f64, f64)> {
    scratch.clear();
    scratch.extend(newest.values.iter().copied().zip(newest.weights.iter().copied()));
    if scratch.is_empty() {
        return None;
    }
    let total: f64 = scratch.iter().map(|p| p.1).sum();
    let rest = newest.rest;
    let slack = 2.0 * ROUNDING_SLACK * (total + rest);
    let half_low = 0.5 * total;
    let half_high = 0.5 * (total + rest);
    let decided = |s: Selected| s.upto >= half_high + slack && s.below + rest + slack < half_low;
    let median = select(scratch, half_low);
    if !decided(median) {
        return None;
    }
    let m = median.key;
    scratch.clear();
    scratch.extend(
        newest
            .values
            .iter()
            .zip(newest.weights)
            .map(|(&v, &w)| ((v - m).abs(), w)),
    );
    let mad = select(scratch, half_low);
    decided(mad).then_some((m, mad.key))
}

/// A key found by [`select`] with the weight strictly below it and up to it.
#[derive(Debug, Clone, Copy)]
struct Selected {
    key: f64,
    below: f64,
    upto: f64,
}

/// The smallest key (keys equal by `==` are one) whose cumulative weight reaches
/// `target`, by three-way quickselect (`items`: (key, weight), reordered). When even
/// the whole weight stays below `target` (rounding), the largest key.
fn select(items: &mut [(f64, f64)], target: f64) -> Selected {
    let mut lo = 0;
    let mut hi = items.len();
    let mut acc = 0.0;
    loop {
        let slice = &mut items[lo..hi];
        let pivot = pivot_of(slice);
        // Partition into [< pivot | == pivot | > pivot].
        let (mut lt, mut i, mut gt) = (0, 0, slice.len());
        let (mut w_lt, mut w_eq) = (0.0, 0.0);
        while i < gt {
            let k = slice[i].0;
            if k < pivot {
                w_lt += slice[i].1;
                slice.swap(lt, i);
                lt += 1;
                i += 1;
            } else if k > pivot {
                gt -= 1;
                slice.swap(i, gt);
            } else {
                w_eq += slice[i].1;
                i += 1;
            }
        }
        if acc + w_lt >= target && lt > 0 {
            hi = lo + lt;
        } else if acc + w_lt + w_eq >= target || gt == slice.len() {
            return Selected {
                key: pivot,
                below: acc + w_lt,
                upto: acc + w_lt + w_eq,
            };
        } else {
            acc += w_lt + w_eq;
            lo += gt;
        }
    }
}

/// The median of the first, middle and last keys.
fn pivot_of(slice: &[(f64, f64)]) -> f64 {
    let a = slice[0].0;
    let b = slice[slice.len() / 2].0;
    let c = slice[slice.len() - 1].0;
    if (a <= b) == (b <= c) {
        b
    } else if (b <= a) == (a <= c) {
        a
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::super::OrderedWindow;
    use super::*;
    use proptest::prelude::*;

    /// The reference: an [`OrderedWindow`] over the whole window.
    fn full(values: &[f64], decay: f64) -> (f64, f64) {
        let mut w = OrderedWindow::for_mad(values, Some(decay));
        for _ in values {
            w.push();
        }
        w.median_mad().unwrap()
    }

    fn values() -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            prop::collection::vec(-1e3..1e3f64, 1..1500),
            prop::collection::vec((0..12i32).prop_map(f64::from), 1..1500),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whenever the newest members answer, their median and MAD are the whole
        /// window's, to the bit; and with all members kept they answer nearly always.
        #[test]
        fn newest_members_give_the_whole_windows_median_and_mad(
            vals in values(),
            decay in prop_oneof![0.05..0.2f64, 0.2..3.0f64],
            kept in 1..400usize,
        ) {
            let (m, mad) = full(&vals, decay);
            let kept = kept.min(vals.len());
            let newest_first: Vec<f64> = vals.iter().rev().copied().collect();
            let weights: Vec<f64> = (0..kept).map(|k| (-decay * k as f64).exp()).collect();
            let rest = if kept == vals.len() { 0.0 } else { older_weight_bound(decay, kept) };
            let newest = Newest { values: &newest_first[..kept], weights: &weights, rest };
            let mut scratch = Vec::new();
            if let Some((fm, fmad)) = median_mad_of_newest(&newest, &mut scratch) {
                prop_assert_eq!(fm.to_bits(), m.to_bits());
                prop_assert_eq!(fmad.to_bits(), mad.to_bits());
            }
        }
    }

    #[test]
    fn select_groups_equal_keys() {
        let mut items = [(3.0, 1.0), (1.0, 1.0), (3.0, 1.0), (2.0, 1.0), (-0.0, 1.0), (0.0, 1.0)];
        let s = select(&mut items, 3.0);
        assert_eq!((s.key, s.below, s.upto), (1.0, 2.0, 3.0));
        let s = select(&mut items, 4.5);
        assert_eq!((s.key, s.below, s.upto), (3.0, 4.0, 6.0));
        let s = select(&mut items, 1.5);
        assert_eq!((s.key, s.below, s.upto), (0.0, 0.0, 2.0));
        let s = select(&mut items, 99.0);
        assert_eq!(s.key, 3.0);
    }

    #[test]
    fn answers_a_clear_window_and_refuses_a_close_call() {
        let mut scratch = Vec::new();
        // newest weighs 1, then 0.5, 0.25: the newest alone holds more than half
        let clear = Newest { values: &[9.0, 1.0, 2.0], weights: &[1.0, 0.5, 0.25], rest: 0.0 };
        assert_eq!(median_mad_of_newest(&clear, &mut scratch), Some((9.0, 0.0)));
        // two equal weights: the first reaches exactly half, older members could tip it
        let close = Newest { values: &[1.0, 2.0], weights: &[1.0, 1.0], rest: 1e-3 };
        assert_eq!(median_mad_of_newest(&close, &mut scratch), None);
    }
}
