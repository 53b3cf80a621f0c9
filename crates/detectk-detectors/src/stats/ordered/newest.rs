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
    /// The sum of `weights`.
    pub total: f64,
    /// Bound of the weight of the window's older members (0 when there are none).
    pub rest: f64,
    /// The same members as (value, weight) pairs sorted by value, when the caller
    /// keeps them so: each selection is then one pass instead of a quickselect.
    pub sorted: Option<&'a [(f64, f64)]>,
}

impl Newest<'_> {
    /// The members as (value, weight) pairs, newest first.
    fn pairs(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.values
            .iter()
            .copied()
            .zip(self.weights.iter().copied())
    }
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
    scratch: &mut Scratch,
) -> Option<(f64, f64)> {
    if newest.values.is_empty() {
        return None;
    }
    let total = newest.total;
    let rest = newest.rest;
    let slack = 2.0 * ROUNDING_SLACK * (total + rest);
    let half_low = 0.5 * total;
    let half_high = 0.5 * (total + rest);
    let decided = |s: Selected| s.upto >= half_high + slack && s.below + rest + slack < half_low;
    if let Some(sorted) = newest.sorted {
        let median = select_sorted(sorted, half_low);
        if !decided(median) {
            return None;
        }
        let mad = select_deviation(sorted, median.key, half_low);
        return decided(mad).then_some((median.key, mad.key));
    }
    let Scratch {
        items: scratch,
        band,
    } = scratch;
    scratch.clear();
    scratch.extend(newest.pairs());
    let median = select_banded(scratch, band, total, half_low);
    if !decided(median) {
        return None;
    }
    let m = median.key;
    scratch.clear();
    scratch.extend(newest.pairs().map(|(v, w)| ((v - m).abs(), w)));
    let mad = select_banded(scratch, band, total, half_low);
    decided(mad).then_some((m, mad.key))
}

/// Weighted quartiles and median (`p` = 0.25, 0.5, 0.75: the first value whose
/// cumulative weight reaches `p` of the total, as `OrderedWindow::quantile` finds it)
/// of the window whose newest members are `newest`, or `None` when the older members or
/// rounding could change one of them: the median's argument of the module comment with
/// `p` in place of one half. `scratch` is reused between calls.
pub(crate) fn quartiles_of_newest(newest: &Newest<'_>, scratch: &mut Scratch) -> Option<[f64; 3]> {
    let Scratch {
        items: scratch,
        band,
    } = scratch;
    if newest.values.is_empty() {
        return None;
    }
    let total = newest.total;
    let rest = newest.rest;
    let slack = 2.0 * ROUNDING_SLACK * (total + rest);
    let mut out = [0.0; 3];
    // Sorted: each quartile's pass resumes at the previous one's group.
    let mut from = (0, 0.0);
    for (q, p) in out.iter_mut().zip([0.25, 0.5, 0.75]) {
        let low = p * total;
        let high = p * (total + rest);
        let s = match newest.sorted {
            Some(sorted) => {
                let (s, at) = select_sorted_from(sorted, from, low);
                from = at;
                s
            }
            None => {
                scratch.clear();
                scratch.extend(newest.pairs());
                select_banded(scratch, band, total, low)
            }
        };
        if !(s.upto >= high + slack && s.below + rest + slack < low) {
            return None;
        }
        *q = s.key;
    }
    Some(out)
}

/// Buffers reused by [`median_mad_of_newest`] from call to call.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    items: Vec<(f64, f64)>,
    band: Vec<(f64, f64)>,
}

/// Items of the newest members guessing the band of keys that holds the answer.
const GUESS: usize = 16;

/// [`select`] over `items` (total weight `total`) in one pass when the newest
/// [`GUESS`] items bracket the answer: their keys bound a band that holds it unless
/// the older items' weight moves it, and only the band's items are selected from.
/// Every key it returns comes with the true weights below and up to it (the caller's
/// margin check stays sound); when the band misses, a plain [`select`].
fn select_banded(
    items: &mut [(f64, f64)],
    band: &mut Vec<(f64, f64)>,
    total: f64,
    target: f64,
) -> Selected {
    if items.len() <= 2 * GUESS {
        return select(items, target);
    }
    let mut head = [(0.0, 0.0); GUESS];
    head.copy_from_slice(&items[..GUESS]);
    insertion_sort(&mut head);
    let older = total - head.iter().map(|p| p.1).sum::<f64>();
    // Band (low, high]: keys up to `low` stay below target even with every older item
    // added under them; `high` reaches it with the newest items alone.
    let (mut low, mut high) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut cum = 0.0;
    let mut g = 0;
    while g < GUESS {
        let key = head[g].0;
        while g < GUESS && head[g].0 == key {
            cum += head[g].1;
            g += 1;
        }
        if cum + older < target {
            low = key;
        }
        if cum >= target {
            high = key;
            break;
        }
    }
    if band.len() < items.len() {
        band.resize(items.len(), (0.0, 0.0));
    }
    let mut count = 0;
    // Four partial sums: one running sum would wait on each addition.
    let mut partial = [0.0; 4];
    for chunk in items.chunks(4) {
        for (&x, sum) in chunk.iter().zip(&mut partial) {
            *sum += if x.0 <= low { x.1 } else { 0.0 };
            band[count] = x;
            count += usize::from(low < x.0 && x.0 <= high);
        }
    }
    let below = (partial[0] + partial[1]) + (partial[2] + partial[3]);
    if count == 0 {
        return select(items, target);
    }
    let s = select(&mut band[..count], target - below);
    Selected {
        key: s.key,
        below: below + s.below,
        upto: below + s.upto,
    }
}

/// [`select`] over items sorted by key, in one pass.
fn select_sorted(items: &[(f64, f64)], target: f64) -> Selected {
    select_sorted_from(items, (0, 0.0), target).0
}

/// [`select_sorted`] from the group starting at `from.0` with weight `from.1` below
/// it (a smaller target's answer); also returns where the answer's group starts.
fn select_sorted_from(
    items: &[(f64, f64)],
    from: (usize, f64),
    target: f64,
) -> (Selected, (usize, f64)) {
    let (mut g, mut cum) = from;
    let mut last = (
        Selected {
            key: f64::NAN,
            below: cum,
            upto: cum,
        },
        from,
    );
    while g < items.len() {
        let key = items[g].0;
        let start = (g, cum);
        while g < items.len() && items[g].0 == key {
            cum += items[g].1;
            g += 1;
        }
        last = (
            Selected {
                key,
                below: start.1,
                upto: cum,
            },
            start,
        );
        if cum >= target {
            break;
        }
    }
    last
}

/// [`select`] over the deviations `|v - m|` of items sorted by key `v`, in one pass
/// outwards from `m` (deviations grow both ways from it).
fn select_deviation(items: &[(f64, f64)], m: f64, target: f64) -> Selected {
    let split = items.partition_point(|x| x.0 < m);
    // Left: items[..l] not taken yet (deviation m - v, growing leftwards); right:
    // items[r..] not taken yet (deviation v - m).
    let (mut l, mut r) = (split, split);
    let mut cum = 0.0;
    let mut last = Selected {
        key: f64::NAN,
        below: 0.0,
        upto: 0.0,
    };
    loop {
        let dl = (l > 0).then(|| m - items[l - 1].0);
        let dr = items.get(r).map(|x| x.0 - m);
        let d = match (dl, dr) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return last,
        };
        let below = cum;
        while l > 0 && m - items[l - 1].0 == d {
            cum += items[l - 1].1;
            l -= 1;
        }
        while r < items.len() && items[r].0 - m == d {
            cum += items[r].1;
            r += 1;
        }
        last = Selected {
            key: d,
            below,
            upto: cum,
        };
        if cum >= target {
            return last;
        }
    }
}

/// Sorts a few items by key (equal keys in any order).
fn insertion_sort(items: &mut [(f64, f64)]) {
    for i in 1..items.len() {
        let x = items[i];
        let mut j = i;
        while j > 0 && items[j - 1].0 > x.0 {
            items[j] = items[j - 1];
            j -= 1;
        }
        items[j] = x;
    }
}

/// A key found by [`select`] with the weight strictly below it and up to it.
#[derive(Debug, Clone, Copy)]
struct Selected {
    key: f64,
    below: f64,
    upto: f64,
}

/// The smallest key (keys equal by `==` are one) whose cumulative weight reaches
/// `target`, by quickselect with branch-free partitions (`items`: (key, weight),
/// reordered). When even the whole weight stays below `target` (rounding), the
/// largest key.
fn select(items: &mut [(f64, f64)], target: f64) -> Selected {
    let mut lo = 0;
    let mut hi = items.len();
    let mut acc = 0.0;
    loop {
        let slice = &mut items[lo..hi];
        let pivot = pivot_of(slice);
        let (lt, w_lt, w_le) = partition(slice, |k| k < pivot, pivot);
        if acc + w_lt >= target && lt > 0 {
            hi = lo + lt;
        } else if acc + w_le >= target {
            return Selected {
                key: pivot,
                below: acc + w_lt,
                upto: acc + w_le,
            };
        } else {
            // Move the keys equal to the pivot first, and go on above them.
            let (eq, _, _) = partition(&mut slice[lt..], |k| k <= pivot, pivot);
            if lt + eq == slice.len() {
                return Selected {
                    key: pivot,
                    below: acc + w_lt,
                    upto: acc + w_le,
                };
            }
            acc += w_le;
            lo += lt + eq;
        }
    }
}

/// Moves the items whose key satisfies `first` to the front, without branches (a
/// Lomuto partition with unconditional swaps); returns their count, their weight and
/// the weight of the keys `<= pivot`.
fn partition(
    slice: &mut [(f64, f64)],
    first: impl Fn(f64) -> bool,
    pivot: f64,
) -> (usize, f64, f64) {
    let mut front = 0;
    let mut w_first = 0.0;
    let mut w_le = 0.0;
    for i in 0..slice.len() {
        let x = slice[i];
        slice.swap(i, front);
        let take = first(x.0);
        w_first += if take { x.1 } else { 0.0 };
        w_le += if x.0 <= pivot { x.1 } else { 0.0 };
        front += usize::from(take);
    }
    (front, w_first, w_le)
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

    /// The newest members as (value, weight) pairs sorted by value.
    /// The newest `kept` of `vals` (newest first), their decay weights and the bound on
    /// the older members' weight: what a [`Newest`] borrows.
    struct Kept {
        values: Vec<f64>,
        weights: Vec<f64>,
        rest: f64,
    }

    impl Kept {
        fn of(vals: &[f64], decay: f64, kept: usize) -> Self {
            let kept = kept.min(vals.len());
            let rest = if kept == vals.len() {
                0.0
            } else {
                older_weight_bound(decay, kept)
            };
            Self {
                values: vals.iter().rev().take(kept).copied().collect(),
                weights: (0..kept).map(|k| (-decay * k as f64).exp()).collect(),
                rest,
            }
        }

        fn newest(&self) -> Newest<'_> {
            Newest {
                values: &self.values,
                weights: &self.weights,
                total: self.weights.iter().sum(),
                rest: self.rest,
                sorted: None,
            }
        }
    }

    fn sorted_pairs(newest: &Newest<'_>) -> Vec<(f64, f64)> {
        let mut pairs: Vec<(f64, f64)> = newest
            .values
            .iter()
            .copied()
            .zip(newest.weights.iter().copied())
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs
    }

    /// Whether the values have ties (a close call at one half can then be refused).
    fn ties_at_half(vals: &[f64]) -> bool {
        let mut v = vals.to_vec();
        v.sort_by(f64::total_cmp);
        v.windows(2).any(|w| w[0] == w[1])
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
            let kept = Kept::of(&vals, decay, kept);
            let newest = kept.newest();
            let mut scratch = Scratch::default();
            if let Some((fm, fmad)) = median_mad_of_newest(&newest, &mut scratch) {
                prop_assert_eq!(fm.to_bits(), m.to_bits());
                prop_assert_eq!(fmad.to_bits(), mad.to_bits());
            }
            // The same members sorted by value: the one-pass selections.
            let pairs = sorted_pairs(&newest);
            let sorted = Newest { sorted: Some(&pairs), ..newest };
            if let Some((fm, fmad)) = median_mad_of_newest(&sorted, &mut scratch) {
                prop_assert_eq!(fm.to_bits(), m.to_bits());
                prop_assert_eq!(fmad.to_bits(), mad.to_bits());
            }
            // With every member kept nothing is left to chance: both answer.
            if kept.rest == 0.0 && vals.len() < 200 {
                prop_assert!(median_mad_of_newest(&sorted, &mut scratch).is_some() || ties_at_half(&vals));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whenever the newest members answer, their quartiles are the whole window's
        /// (`OrderedWindow::quantile`), to the bit; with all members kept they answer.
        #[test]
        fn newest_members_give_the_whole_windows_quartiles(
            vals in values(),
            decay in prop_oneof![0.05..0.2f64, 0.2..3.0f64],
            kept in 1..400usize,
        ) {
            let mut w = OrderedWindow::new(&vals, Some(decay));
            for _ in &vals {
                w.push();
            }
            let kept = Kept::of(&vals, decay, kept);
            let newest = kept.newest();
            if let Some(q) = quartiles_of_newest(&newest, &mut Scratch::default()) {
                for (got, p) in q.iter().zip([0.25, 0.5, 0.75]) {
                    prop_assert_eq!(Some(got.to_bits()), w.quantile(p).map(f64::to_bits), "p {}", p);
                }
            }
            let pairs = sorted_pairs(&newest);
            let sorted = Newest { sorted: Some(&pairs), ..newest };
            if let Some(q) = quartiles_of_newest(&sorted, &mut Scratch::default()) {
                for (got, p) in q.iter().zip([0.25, 0.5, 0.75]) {
                    prop_assert_eq!(Some(got.to_bits()), w.quantile(p).map(f64::to_bits), "p {}", p);
                }
            }
        }
    }

    #[test]
    fn select_groups_equal_keys() {
        let mut items = [
            (3.0, 1.0),
            (1.0, 1.0),
            (3.0, 1.0),
            (2.0, 1.0),
            (-0.0, 1.0),
            (0.0, 1.0),
        ];
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
        let mut scratch = Scratch::default();
        // newest weighs 1, then 0.5, 0.25: the newest alone holds more than half
        let clear = Newest {
            values: &[9.0, 1.0, 2.0],
            weights: &[1.0, 0.5, 0.25],
            total: 1.75,
            rest: 0.0,
            sorted: None,
        };
        assert_eq!(median_mad_of_newest(&clear, &mut scratch), Some((9.0, 0.0)));
        // two equal weights: the first reaches exactly half, older members could tip it
        let close = Newest {
            values: &[1.0, 2.0],
            weights: &[1.0, 1.0],
            total: 2.0,
            rest: 1e-3,
            sorted: None,
        };
        assert_eq!(median_mad_of_newest(&close, &mut scratch), None);
    }
}
