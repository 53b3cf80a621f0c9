//! The middle position Python detectk's unweighted median picks.
//!
//! Python detectk takes the median of `n` values with weights `np.ones(n) / n`: it
//! sorts the values, accumulates the weights with `np.cumsum` (in order, in floating
//! point) and takes the first position whose cumulative weight reaches 0.5
//! (`np.searchsorted(cumsum, 0.5)`). For odd `n` that is the middle value; for even
//! `n` the rounding of the sum decides between the lower and the upper middle
//! (at 2,016 values the sum of 1,008 weights falls just short of 0.5, so the upper
//! middle is taken). The MAD step uses the same rule on the absolute deviations.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Below this size an odd count's middle is provably the answer (the rounding error
/// of the sum stays far below the `1/(2n)` gap to 0.5).
const ODD_SHORTCUT: usize = 1 << 24;

/// The 0-based sorted position Python detectk's unweighted median takes among `n`
/// values (`n >= 1`).
pub(crate) fn python_median_position(n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    if n % 2 == 1 && n < ODD_SHORTCUT {
        return n / 2;
    }
    static CACHE: OnceLock<Mutex<HashMap<usize, usize>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(&k) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&n) {
        return k;
    }
    let k = simulate(n);
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(n, k);
    k
}

/// Replays `searchsorted(cumsum(ones(n) / n), 0.5)`: the first position whose
/// running float sum of `1/n` reaches 0.5 (the last one if rounding never gets there).
fn simulate(n: usize) -> usize {
    let w = 1.0 / n as f64;
    let mut sum = 0.0f64;
    for k in 0..n {
        sum += w;
        if sum >= 0.5 {
            return k;
        }
    }
    n - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_2016_takes_the_upper_middle() {
        assert_eq!(python_median_position(2016), 1008);
    }

    #[test]
    fn small_sizes() {
        assert_eq!(python_median_position(1), 0);
        assert_eq!(python_median_position(2), 0);
        assert_eq!(python_median_position(3), 1);
        assert_eq!(python_median_position(4), 1);
    }

    #[test]
    fn the_odd_shortcut_agrees_with_the_simulation() {
        for n in (1..6000).step_by(2) {
            assert_eq!(python_median_position(n), simulate(n), "n = {n}");
        }
    }
}
