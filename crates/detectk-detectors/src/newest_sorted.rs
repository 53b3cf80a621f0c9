//! The newest history points of consecutive scored points, kept sorted by value.
//!
//! A union point with the previous point's key has that point's history plus that
//! point ([`crate::union_scan`]), so its newest `k` points are the previous ones with
//! the previous point in front and the oldest one dropped: one insertion and one
//! removal keep them sorted by value, and each weighted selection over them is then one
//! pass ([`crate::stats::ordered::Newest::sorted`]) instead of a quickselect.

/// The newest `k` history points as (value, sequence) pairs sorted by value; the
/// point at recency position `p` (0 the newest) has sequence `top - p`.
#[derive(Debug, Default)]
pub(crate) struct NewestSorted {
    items: Vec<(f64, u64)>,
    top: u64,
    /// (value, weight) pairs of the last [`NewestSorted::pairs`] call.
    pairs: Vec<(f64, f64)>,
    /// Scratch for [`NewestSorted::reset`]'s sort.
    packed: Vec<u128>,
}

/// An integer with the order of `f64::total_cmp`.
fn order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

/// The value of an [`order_key`].
fn value_of(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

impl NewestSorted {
    /// Starts over from `newest` (values, newest first).
    pub(crate) fn reset(&mut self, newest: impl Iterator<Item = f64>) {
        self.top = self.top.wrapping_add(1 << 32);
        let top = self.top;
        // Sort (order key, sequence) as integers: the key orders like `total_cmp`.
        self.packed.clear();
        self.packed.extend(
            newest
                .zip(0..)
                .map(|(v, p): (f64, u64)| (u128::from(order_key(v)) << 64) | u128::from(top - p)),
        );
        self.packed.sort_unstable();
        self.items.clear();
        self.items.extend(
            self.packed
                .iter()
                .map(|&x| (value_of((x >> 64) as u64), x as u64)),
        );
    }

    /// Number of points kept.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Puts a new newest point `v` in front.
    pub(crate) fn push_newest(&mut self, v: f64) {
        self.top += 1;
        let at = self.items.partition_point(|x| x.0.total_cmp(&v).is_lt());
        self.items.insert(at, (v, self.top));
    }

    /// Appends the older point `v` behind the oldest kept.
    pub(crate) fn push_oldest(&mut self, v: f64) {
        let seq = self.top - self.items.len() as u64;
        let at = self.items.partition_point(|x| x.0.total_cmp(&v).is_lt());
        self.items.insert(at, (v, seq));
    }

    /// Drops the oldest kept point, whose value is `v`.
    pub(crate) fn pop_oldest(&mut self, v: f64) {
        let seq = self.top + 1 - self.items.len() as u64;
        let from = self.items.partition_point(|x| x.0.total_cmp(&v).is_lt());
        if let Some(k) = self.items[from..].iter().position(|x| x.1 == seq) {
            self.items.remove(from + k);
        }
    }

    /// The kept points as (value, weight) pairs sorted by value, the point at recency
    /// position `p` weighing `weights[p]`.
    pub(crate) fn pairs(&mut self, weights: &[f64]) -> &[(f64, f64)] {
        let top = self.top;
        self.pairs.clear();
        self.pairs.extend(
            self.items
                .iter()
                .map(|&(v, seq)| (v, weights[(top - seq) as usize])),
        );
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The order key sorts like `total_cmp` and gives the value back, bit for bit.
        #[test]
        fn order_keys_sort_like_total_cmp(a in any::<f64>(), b in any::<f64>()) {
            prop_assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b));
            prop_assert_eq!(value_of(order_key(a)).to_bits(), a.to_bits());
        }
    }

    proptest! {
        /// Fast path equals full computation: after any sequence of new points in front
        /// (and oldest dropped, or older added behind), the pairs are those of sorting
        /// the newest points afresh, weights by recency.
        #[test]
        fn kept_sorted_like_a_fresh_sort(
            start in prop::collection::vec((0..20i32).prop_map(f64::from), 0..30),
            steps in prop::collection::vec(((0..20i32).prop_map(f64::from), 0..3u8), 0..60),
            k in 1..40usize,
        ) {
            let weights: Vec<f64> = (0..200).map(|p| 0.9f64.powi(p)).collect();
            // Newest first.
            let mut newest: Vec<f64> = start.iter().copied().take(k).collect();
            let mut s = NewestSorted::default();
            s.reset(newest.iter().copied());
            let mut older: Vec<f64> = start.iter().copied().skip(k).collect();
            for (v, op) in steps {
                match op {
                    0 | 1 => {
                        newest.insert(0, v);
                        s.push_newest(v);
                        if op == 0 && newest.len() > k {
                            let gone = newest.pop().unwrap();
                            s.pop_oldest(gone);
                        }
                    }
                    _ => {
                        if let Some(o) = older.pop() {
                            newest.push(o);
                            s.push_oldest(o);
                        }
                    }
                }
                let mut expected: Vec<(f64, f64)> =
                    newest.iter().enumerate().map(|(p, &v)| (v, weights[p])).collect();
                expected.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                let mut got = s.pairs(&weights).to_vec();
                got.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                prop_assert_eq!(s.len(), newest.len());
                prop_assert_eq!(got, expected);
                let keys: Vec<f64> = s.pairs(&weights).iter().map(|x| x.0).collect();
                prop_assert!(keys.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
}
