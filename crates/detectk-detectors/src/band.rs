//! Turns a centre and a spread into a detection: bounds, score, direction.

use detectk_core::{Detection, Direction};
use serde_json::{Map, Value};

/// `value` against `center ± n_sigma * sigma`, the rule of `mad` and `zscore`.
///
/// The score is `|value - center| / sigma`; with zero spread it is 0 for a value
/// equal to the centre and infinite otherwise. The direction is set for anomalies.
pub(crate) fn sigma_band(
    timestamp: chrono::DateTime<chrono::Utc>,
    value: f64,
    center: f64,
    sigma: f64,
    n_sigma: f64,
    stats: impl FnOnce() -> Map<String, Value>,
) -> Detection {
    let lower = center - n_sigma * sigma;
    let upper = center + n_sigma * sigma;
    let score = if sigma > 0.0 {
        (value - center).abs() / sigma
    } else if value == center {
        0.0
    } else {
        f64::INFINITY
    };
    detection(timestamp, value, center, lower, upper, score, stats)
}

/// A scored detection with bounds `[lower, upper]` around `center`.
///
/// `stats` is built for anomalies only: they are what alerts explain, while the
/// bounds and score of every point already say where it stood (and building a JSON
/// map for each of a year of points would cost more than the detection itself).
pub(crate) fn detection(
    timestamp: chrono::DateTime<chrono::Utc>,
    value: f64,
    center: f64,
    lower: f64,
    upper: f64,
    score: f64,
    stats: impl FnOnce() -> Map<String, Value>,
) -> Detection {
    let is_anomaly = value < lower || value > upper;
    let direction = is_anomaly.then_some(if value > upper {
        Direction::Up
    } else {
        Direction::Down
    });
    let percent_deviation = (center != 0.0).then(|| (value - center) / center.abs() * 100.0);
    Detection {
        timestamp,
        value: Some(value),
        is_anomaly,
        score: Some(score).filter(|s| !s.is_nan()),
        lower_bound: Some(lower).filter(|b| !b.is_nan()),
        upper_bound: Some(upper).filter(|b| !b.is_nan()),
        direction,
        percent_deviation: percent_deviation.filter(|p| p.is_finite()),
        skipped: None,
        stats: if is_anomaly { stats() } else { Map::new() },
    }
}

/// Adds a number to a stats map (non-finite numbers become strings such as `"inf"`).
pub(crate) fn put(stats: &mut Map<String, Value>, key: &str, v: f64) {
    let value = serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(v.to_string()));
    stats.insert(key.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.timestamp_opt(0, 0).unwrap()
    }

    #[test]
    fn band_rules() {
        let d = sigma_band(t(), 16.0, 10.0, 2.0, 2.5, Map::new);
        assert_eq!((d.lower_bound, d.upper_bound), (Some(5.0), Some(15.0)));
        assert!(d.is_anomaly);
        assert_eq!(d.score, Some(3.0));
        assert_eq!(d.direction, Some(Direction::Up));
        assert_eq!(d.percent_deviation, Some(60.0));
        let d = sigma_band(t(), 9.0, 10.0, 2.0, 2.5, Map::new);
        assert!(!d.is_anomaly);
        assert_eq!(d.direction, None);
    }

    #[test]
    fn zero_spread() {
        let same = sigma_band(t(), 0.0, 0.0, 0.0, 3.0, Map::new);
        assert!(!same.is_anomaly);
        assert_eq!(same.score, Some(0.0));
        assert_eq!(same.percent_deviation, None);
        let other = sigma_band(t(), -1.0, 0.0, 0.0, 3.0, Map::new);
        assert!(other.is_anomaly);
        assert_eq!(other.score, Some(f64::INFINITY));
        assert_eq!(other.direction, Some(Direction::Down));
    }

    #[test]
    fn overflow_gives_no_nan() {
        let d = sigma_band(t(), f64::MAX, -f64::MAX, f64::INFINITY, 3.0, Map::new);
        assert!(d.score.is_none());
        assert!(!d.is_anomaly);
    }
}
