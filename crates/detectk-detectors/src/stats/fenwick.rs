//! A Fenwick (binary indexed) tree of `f64` weights over value ranks.

/// Prefix sums of per-rank weights with `O(log n)` update, prefix and search.
#[derive(Debug, Clone)]
pub(crate) struct Fenwick {
    tree: Vec<f64>,
    top: usize,
}

impl Fenwick {
    /// A tree over `n` ranks, all zero.
    pub(crate) fn new(n: usize) -> Self {
        let top = if n == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        Self {
            tree: vec![0.0; n + 1],
            top,
        }
    }

    /// Rebuilds the tree from per-rank weights in `O(n)`.
    pub(crate) fn rebuild(&mut self, weights: &[f64]) {
        let n = weights.len();
        self.tree[0] = 0.0;
        self.tree[1..=n].copy_from_slice(weights);
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[i];
            }
        }
    }

    /// Adds `delta` to the weight of `rank`.
    pub(crate) fn add(&mut self, rank: usize, delta: f64) {
        let mut i = rank + 1;
        while i < self.tree.len() {
            self.tree[i] += delta;
            i += i & i.wrapping_neg();
        }
    }

    /// Sum of the weights of ranks `0..end`.
    pub(crate) fn prefix(&self, end: usize) -> f64 {
        let mut i = end.min(self.tree.len() - 1);
        let mut sum = 0.0;
        while i > 0 {
            sum += self.tree[i];
            i &= i - 1;
        }
        sum
    }

    /// The smallest rank `r` whose prefix sum `0..=r` reaches `target`
    /// (the number of ranks when even the whole sum stays below it).
    pub(crate) fn search(&self, target: f64) -> usize {
        let n = self.tree.len() - 1;
        let mut pos = 0;
        let mut acc = 0.0;
        let mut step = self.top;
        while step > 0 {
            let next = pos + step;
            if next <= n && acc + self.tree[next] < target {
                pos = next;
                acc += self.tree[next];
            }
            step >>= 1;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_search_match_a_plain_scan() {
        let weights = [0.0, 2.0, 0.5, 0.0, 1.5, 3.0, 0.25];
        let mut f = Fenwick::new(weights.len());
        f.rebuild(&weights);
        let mut g = Fenwick::new(weights.len());
        for (r, w) in weights.iter().enumerate() {
            g.add(r, *w);
        }
        let mut acc = 0.0;
        for end in 0..=weights.len() {
            assert_eq!(f.prefix(end), acc);
            assert_eq!(g.prefix(end), acc);
            if end < weights.len() {
                acc += weights[end];
            }
        }
        for (target, expected) in [
            (0.1, 1),
            (2.0, 1),
            (2.1, 2),
            (2.5, 2),
            (2.6, 4),
            (7.0, 5),
            (7.2, 6),
            (99.0, 7),
        ] {
            assert_eq!(f.search(target), expected, "target {target}");
        }
    }

    #[test]
    fn empty_tree_is_harmless() {
        let f = Fenwick::new(0);
        assert_eq!(f.prefix(3), 0.0);
        assert_eq!(f.search(1.0), 0);
    }
}
