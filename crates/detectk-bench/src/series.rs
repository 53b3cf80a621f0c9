//! The value model of one generated series: a level of its own, a daily and a weekly
//! cycle, noise, and a few spikes. Every value is a pure function of the fleet's seed,
//! the series and the interval ("slot"), so a fleet generated in one go equals one
//! generated shorter and then advanced.

use std::f64::consts::TAU;

/// Seconds of one interval (10 minutes).
pub const INTERVAL_SECONDS: i64 = 600;

/// Intervals per day.
pub const SLOTS_PER_DAY: i64 = 86_400 / INTERVAL_SECONDS;

/// Chance that a point (after the first day) is a spike.
const SPIKE_CHANCE: f64 = 1.0 / 2000.0;

/// SplitMix64 finaliser: a well-mixed 64-bit hash of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Deterministic uniforms keyed by (seed, series, slot, stream).
fn uniform(seed: u64, series: u32, slot: i64, stream: u64) -> f64 {
    let key = mix(seed ^ mix(u64::from(series).wrapping_mul(0xA24B_AED4_963E_E407)));
    let key = mix(key ^ (slot as u64).wrapping_mul(0x9FB2_1C65_1E98_DF25));
    unit(mix(key ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93)))
}

/// One generated point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The value, rounded to 4 decimals.
    pub value: f64,
    /// Whether a spike was injected here.
    pub spike: bool,
}

/// The shape of one series; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesModel {
    seed: u64,
    id: u32,
    level: f64,
    daily_amplitude: f64,
    peak_hour: f64,
    weekend_factor: f64,
    noise: f64,
    spikes_from: i64,
}

impl SeriesModel {
    /// The series `id` of a fleet seeded with `seed`; no spike before slot `spikes_from`
    /// (so detectors have history before the first one).
    pub fn new(seed: u64, id: u32, spikes_from: i64) -> Self {
        let u = |stream| uniform(seed, id, -1, stream);
        Self {
            seed,
            id,
            // 10 .. 100,000, log-uniform: counts, revenue, latencies of very different size.
            level: 10f64.powf(1.0 + 4.0 * u(1)),
            daily_amplitude: 0.15 + 0.45 * u(2),
            peak_hour: 24.0 * u(3),
            weekend_factor: 0.6 + 0.45 * u(4),
            noise: 0.01 + 0.04 * u(5),
            spikes_from,
        }
    }

    /// The point of interval `slot` (Unix time / 600).
    pub fn point(&self, slot: i64) -> Point {
        let seconds = slot * INTERVAL_SECONDS;
        let hour = seconds.rem_euclid(86_400) as f64 / 3600.0;
        // 1970-01-01 was a Thursday: day 0 -> weekday 3 (Monday = 0).
        let weekday = (seconds.div_euclid(86_400) + 3).rem_euclid(7);
        let daily = 1.0 + self.daily_amplitude * ((hour - self.peak_hour + 6.0) / 24.0 * TAU).sin();
        let weekly = if weekday >= 5 {
            self.weekend_factor
        } else {
            1.0
        };
        let base = self.level * daily * weekly;
        let u = |stream| uniform(self.seed, self.id, slot, stream);
        // Box-Muller.
        let normal = (-2.0 * u(1).max(1e-12).ln()).sqrt() * (TAU * u(2)).cos();
        let mut value = base * (1.0 + self.noise * normal);
        let spike = slot >= self.spikes_from && u(3) < SPIKE_CHANCE;
        if spike {
            value = if u(4) < 0.7 {
                base * (1.8 + 1.2 * u(5))
            } else {
                base * (0.1 + 0.2 * u(5))
            };
        }
        let value = (value.max(self.level * 0.01) * 10_000.0).round() / 10_000.0;
        Point { value, spike }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_depends_only_on_seed_series_and_slot() {
        let a = SeriesModel::new(7, 3, 0);
        let b = SeriesModel::new(7, 3, 0);
        assert_eq!(a.point(2_900_000), b.point(2_900_000));
        assert_ne!(
            a.point(2_900_000),
            SeriesModel::new(8, 3, 0).point(2_900_000)
        );
        assert_ne!(
            a.point(2_900_000),
            SeriesModel::new(7, 4, 0).point(2_900_000)
        );
    }

    #[test]
    fn values_are_positive_fractional_and_spikes_are_rare() {
        let model = SeriesModel::new(1, 1, 0);
        let points: Vec<Point> = (0..100_000).map(|s| model.point(2_900_000 + s)).collect();
        assert!(points.iter().all(|p| p.value > 0.0));
        let fractional = points.iter().filter(|p| p.value.fract() != 0.0).count();
        assert!(fractional > 99_000, "{fractional}");
        let spikes = points.iter().filter(|p| p.spike).count();
        assert!(
            (20..=100).contains(&spikes),
            "{spikes} spikes in 100,000 points"
        );
    }

    #[test]
    fn no_spike_before_spikes_from() {
        let model = SeriesModel::new(1, 1, 2_950_000);
        assert!((2_900_000..2_950_000).all(|s| !model.point(s).spike));
    }

    #[test]
    fn levels_differ_between_series() {
        let levels: Vec<f64> = (0..50).map(|i| SeriesModel::new(1, i, 0).level).collect();
        let min = levels.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = levels.iter().cloned().fold(0.0, f64::max);
        assert!(max / min > 100.0, "{min} .. {max}");
    }
}
