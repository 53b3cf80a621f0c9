//! The `missing_data` detector: missing points, runs of them, and stale data.

use std::sync::Arc;

use chrono::TimeDelta;
use detectk_core::config::Params;
use detectk_core::registry::DetectorFactory;
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, HumanDuration, Window};
use serde_json::{Map, Value};

use crate::band::put;

/// Points looked back at (at least) when counting a run of misses.
pub const DEFAULT_LOOKBACK_POINTS: usize = 1008;

/// Flags missing points once `consecutive_missing` of them follow each other, and
/// present points that arrive more than `max_age` after the previous present point.
///
/// Runs are counted from the series (which comes from storage), never from process
/// memory: the run of a missing point is the number of missing points since the last
/// present, fresh point, looking back at most `lookback` points; a stale point does
/// not end a run. The result has no up/down direction: the `stats` of an anomaly say
/// which `condition` (`missing` or `stale`) it is.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use detectk_core::{DataPoint, DetectionContext, Detector};
/// use detectk_detectors::MissingDataDetector;
///
/// let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let step = TimeDelta::minutes(10);
/// let series = vec![
///     DataPoint::new(t0, 5.0),
///     DataPoint::missing(t0 + step),
///     DataPoint::missing(t0 + step * 2),
/// ];
/// let d = MissingDataDetector::new(2);
/// let ctx = DetectionContext { execution_time: t0 + step * 3, interval: step };
/// let out = d.detect(&series, 1, &ctx);
/// assert!(!out[0].is_anomaly); // first miss: 1 of 2
/// assert!(out[1].is_anomaly); // second miss in a row
/// assert_eq!(out[1].score, Some(1.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MissingDataDetector {
    consecutive_missing: usize,
    max_age: Option<TimeDelta>,
    treat_zero_as_missing: bool,
    lookback: usize,
}

impl MissingDataDetector {
    /// Flags a run of `consecutive_missing` (>= 1) missing points.
    pub fn new(consecutive_missing: usize) -> Self {
        let consecutive_missing = consecutive_missing.max(1);
        Self {
            consecutive_missing,
            max_age: None,
            treat_zero_as_missing: false,
            lookback: consecutive_missing.max(DEFAULT_LOOKBACK_POINTS),
        }
    }

    /// Also flags present points more than `max_age` after the previous present point.
    pub fn with_max_age(mut self, max_age: TimeDelta) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Counts zero values as missing.
    pub fn treating_zero_as_missing(mut self) -> Self {
        self.treat_zero_as_missing = true;
        self
    }

    /// Reads `consecutive_missing`, `max_staleness_minutes` (Python detectk) or `max_age`,
    /// and `treat_zero_as_missing`, recording every problem in `p`.
    pub fn from_params(p: &mut Params<'_>) -> Option<Self> {
        let consecutive: usize = p.or("consecutive_missing", 1);
        p.check(consecutive >= 1, "consecutive_missing", || {
            format!("must be >= 1, got {consecutive}")
        });
        let minutes: Option<f64> = p.optional("max_staleness_minutes");
        if let Some(m) = minutes {
            p.check(m.is_finite() && m > 0.0, "max_staleness_minutes", || {
                format!("must be a number > 0, got {m}")
            });
        }
        let age: Option<HumanDuration> = p.optional("max_age");
        let from_minutes = minutes
            .filter(|m| m.is_finite() && *m > 0.0 && *m < 1e12)
            .map(|m| TimeDelta::milliseconds((m * 60_000.0).round() as i64));
        let max_age = match (age.map(|a| a.delta()), from_minutes) {
            (Some(a), Some(m)) if a != m => {
                p.error(
                    "max_age",
                    format!(
                        "disagrees with max_staleness_minutes ({} minutes); set only one",
                        minutes.unwrap_or_default()
                    ),
                );
                None
            }
            (a, m) => a.or(m),
        };
        let zero: bool = p.or("treat_zero_as_missing", false);
        if p.has_issues() {
            return None;
        }
        let mut d = Self::new(consecutive);
        d.max_age = max_age;
        d.treat_zero_as_missing = zero;
        Some(d)
    }

    /// Whether a point counts as missing.
    fn is_miss(&self, p: &DataPoint) -> bool {
        match p.present_value() {
            None => true,
            Some(v) => self.treat_zero_as_missing && v == 0.0,
        }
    }

    /// Age of a present point `i`: time since the previous present point within the
    /// look-back (or since the start of the look-back, `capped`); `None` at the very start.
    fn staleness(&self, series: &[DataPoint], i: usize) -> Option<(TimeDelta, bool)> {
        let lo = i.saturating_sub(self.lookback);
        if lo == i {
            return None;
        }
        let t = series[i].timestamp;
        match (lo..i).rev().find(|&j| !self.is_miss(&series[j])) {
            Some(j) => Some((t - series[j].timestamp, false)),
            None => Some((t - series[lo].timestamp, true)),
        }
    }

    fn is_stale(&self, series: &[DataPoint], i: usize) -> Option<(TimeDelta, bool)> {
        let max = self.max_age?;
        self.staleness(series, i).filter(|(age, _)| *age > max)
    }

    /// Missing points since the last present, fresh point (including `i`), at most `lookback`.
    fn run_length(&self, series: &[DataPoint], i: usize) -> usize {
        let lo = (i + 1).saturating_sub(self.lookback);
        let mut count = 0;
        for j in (lo..=i).rev() {
            if self.is_miss(&series[j]) {
                count += 1;
            } else if self.is_stale(series, j).is_none() {
                break;
            }
        }
        count
    }

    fn score(&self, series: &[DataPoint], i: usize) -> Detection {
        let p = &series[i];
        let mut stats = Map::new();
        let mut d = Detection {
            timestamp: p.timestamp,
            value: p.value,
            is_anomaly: false,
            score: None,
            lower_bound: None,
            upper_bound: None,
            direction: None,
            percent_deviation: None,
            skipped: None,
            stats: Map::new(),
        };
        if self.is_miss(p) {
            let run = self.run_length(series, i);
            d.is_anomaly = run >= self.consecutive_missing;
            d.score = Some(run as f64 / self.consecutive_missing as f64);
            stats.insert("condition".into(), "missing".into());
            stats.insert("consecutive_missing".into(), run.into());
            stats.insert("threshold".into(), self.consecutive_missing.into());
        } else if let Some((age, capped)) = self.is_stale(series, i) {
            let minutes = age.num_milliseconds() as f64 / 60_000.0;
            let max = self
                .max_age
                .map_or(1.0, |m| m.num_milliseconds() as f64 / 60_000.0);
            d.is_anomaly = true;
            d.score = Some(minutes / max);
            stats.insert("condition".into(), "stale".into());
            put(&mut stats, "staleness_minutes", minutes);
            put(&mut stats, "max_staleness_minutes", max);
            if capped {
                stats.insert("staleness_capped".into(), Value::Bool(true));
            }
        } else {
            d.score = Some(0.0);
        }
        if d.is_anomaly {
            stats.insert(
                "direction".into(),
                "none: missing or stale data is neither up nor down".into(),
            );
            d.stats = stats;
        }
        d
    }
}

impl Detector for MissingDataDetector {
    /// Twice the look-back, so that the staleness of every point in a run is known.
    fn window(&self) -> Window {
        Window::Points(self.lookback.saturating_mul(2))
    }

    fn detect(
        &self,
        series: &[DataPoint],
        first: usize,
        _ctx: &DetectionContext,
    ) -> Vec<Detection> {
        (first.min(series.len())..series.len())
            .map(|i| self.score(series, i))
            .collect()
    }
}

/// Reads the params and builds the detector; problems go into `params`.
fn read_detector(params: &mut Params<'_>) -> Option<Box<dyn Detector>> {
    MissingDataDetector::from_params(params).map(|d| Box::new(d) as Box<dyn Detector>)
}

/// The factory registered as `missing_data`.
pub(crate) fn factory() -> Arc<dyn DetectorFactory> {
    Arc::new(read_detector)
}
