//! The `threshold` detector: compares each value with fixed limits.

use std::sync::Arc;

use detectk_core::config::Params;
use detectk_core::registry::DetectorFactory;
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, Direction, Window};
use serde_json::{Map, Value};

use crate::band::put;
use crate::history::unusable;

/// How a value is compared with the threshold(s); the named condition is the anomaly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operator {
    /// `value > threshold`.
    GreaterThan,
    /// `value >= threshold`.
    GreaterEqual,
    /// `value < threshold`.
    LessThan,
    /// `value <= threshold`.
    LessEqual,
    /// `|value - threshold| <= tolerance`.
    Equals {
        /// Allowed difference.
        tolerance: f64,
    },
    /// `|value - threshold| > tolerance`.
    NotEquals {
        /// Allowed difference.
        tolerance: f64,
    },
    /// `threshold <= value <= upper`.
    Between {
        /// Upper end of the range.
        upper: f64,
    },
    /// `value < threshold` or `value > upper`.
    Outside {
        /// Upper end of the range.
        upper: f64,
    },
}

/// Config names of the operators.
pub const OPERATORS: &[&str] = &[
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "equals",
    "not_equals",
    "between",
    "outside",
];

/// Flags values by a fixed comparison, optionally on the percent change from a baseline.
///
/// ```
/// use chrono::{TimeZone, Utc, TimeDelta};
/// use detectk_core::{DataPoint, DetectionContext, Detector};
/// use detectk_detectors::{Operator, ThresholdDetector};
///
/// let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let ctx = DetectionContext { execution_time: t, interval: TimeDelta::minutes(10) };
/// // a rise of more than 10 % over a baseline of 1000
/// let d = ThresholdDetector::new(10.0, Operator::GreaterThan).with_baseline(1000.0);
/// let out = d.detect(&[DataPoint::new(t, 1150.0)], 0, &ctx);
/// assert!(out[0].is_anomaly);
/// assert_eq!(out[0].score, Some(5.0)); // 15 % is 5 points above 10 %
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdDetector {
    threshold: f64,
    operator: Operator,
    baseline: Option<f64>,
}

impl ThresholdDetector {
    /// Compares values with `threshold` by `operator`.
    pub fn new(threshold: f64, operator: Operator) -> Self {
        Self {
            threshold,
            operator,
            baseline: None,
        }
    }

    /// Compares the percent change from `baseline` (non-zero) instead of the value.
    pub fn with_baseline(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// Reads the detector from config params, recording every problem in `p`.
    pub fn from_params(p: &mut Params<'_>) -> Option<Self> {
        let threshold: Option<f64> = p.required("threshold");
        let op = p.choice("operator", OPERATORS, "greater_than");
        let upper: Option<f64> = p.optional("upper_threshold");
        let percent: bool = p.or("percent", false);
        let baseline: Option<f64> = p.optional("baseline");
        let tolerance: f64 = p.or("tolerance", 0.001);
        p.check(
            tolerance.is_finite() && tolerance >= 0.0,
            "tolerance",
            || format!("must be a finite number >= 0, got {tolerance}"),
        );
        if let Some(t) = threshold {
            p.check(t.is_finite(), "threshold", || {
                format!("must be finite, got {t}")
            });
        }
        let ranged = matches!(op.as_str(), "between" | "outside");
        match (ranged, upper, threshold) {
            (true, None, _) => p.error(
                "upper_threshold",
                format!("is required with operator `{op}`"),
            ),
            (true, Some(u), Some(t)) if !(u >= t && u.is_finite()) => p.error(
                "upper_threshold",
                format!("must be a finite number >= threshold ({t}), got {u}"),
            ),
            (false, Some(_), _) => p.warn(
                "upper_threshold",
                format!("is only used by `between` and `outside`, not `{op}`"),
            ),
            _ => {}
        }
        if percent {
            match baseline {
                None => p.error("baseline", "is required when `percent` is true"),
                Some(b) if b == 0.0 || !b.is_finite() => p.error(
                    "baseline",
                    format!("must be a finite non-zero number, got {b}"),
                ),
                _ => {}
            }
        } else if baseline.is_some() {
            p.warn("baseline", "is only used when `percent` is true");
        }
        let operator = match op.as_str() {
            "greater_than" => Operator::GreaterThan,
            "greater_equal" => Operator::GreaterEqual,
            "less_than" => Operator::LessThan,
            "less_equal" => Operator::LessEqual,
            "equals" => Operator::Equals { tolerance },
            "not_equals" => Operator::NotEquals { tolerance },
            "between" => Operator::Between {
                upper: upper.unwrap_or(f64::NAN),
            },
            _ => Operator::Outside {
                upper: upper.unwrap_or(f64::NAN),
            },
        };
        if p.has_issues() {
            return None;
        }
        let d = Self::new(threshold?, operator);
        Some(match (percent, baseline) {
            (true, Some(b)) => d.with_baseline(b),
            _ => d,
        })
    }

    /// Scores one present value.
    fn score_value(&self, point: &DataPoint, value: f64) -> Detection {
        let t = self.threshold;
        let cv = match self.baseline {
            Some(b) => (value - b) / b.abs() * 100.0,
            None => value,
        };
        let (is_anomaly, score, direction, lower, upper) = match self.operator {
            Operator::GreaterThan | Operator::GreaterEqual => {
                let hit = if self.operator == Operator::GreaterThan {
                    cv > t
                } else {
                    cv >= t
                };
                (
                    hit,
                    (cv - t).abs(),
                    (cv > t).then_some(Direction::Up),
                    Some(t),
                    None,
                )
            }
            Operator::LessThan | Operator::LessEqual => {
                let hit = if self.operator == Operator::LessThan {
                    cv < t
                } else {
                    cv <= t
                };
                (
                    hit,
                    (cv - t).abs(),
                    (cv < t).then_some(Direction::Down),
                    None,
                    Some(t),
                )
            }
            Operator::Equals { tolerance } => (
                (cv - t).abs() <= tolerance,
                (cv - t).abs(),
                None,
                Some(t - tolerance),
                Some(t + tolerance),
            ),
            Operator::NotEquals { tolerance } => {
                ((cv - t).abs() > tolerance, (cv - t).abs(), None, None, None)
            }
            Operator::Between { upper } | Operator::Outside { upper } => {
                let outside = cv < t || cv > upper;
                let score = if cv < t {
                    t - cv
                } else if cv > upper {
                    cv - upper
                } else {
                    0.0
                };
                let direction = if cv < t {
                    Some(Direction::Down)
                } else if cv > upper {
                    Some(Direction::Up)
                } else {
                    None
                };
                match self.operator {
                    Operator::Between { .. } => (!outside, score, None, Some(t), Some(upper)),
                    _ => (outside, score, direction, Some(t), Some(upper)),
                }
            }
        };
        let percent_deviation = is_anomaly.then(|| self.deviation(cv)).flatten();
        let mut stats = Map::new();
        if is_anomaly {
            put(&mut stats, "comparison_value", cv);
            put(&mut stats, "threshold", t);
            if let Some(b) = self.baseline {
                put(&mut stats, "baseline", b);
            }
            stats.insert("percent".into(), Value::Bool(self.baseline.is_some()));
        }
        Detection {
            timestamp: point.timestamp,
            value: Some(value),
            is_anomaly,
            score: Some(score).filter(|s| !s.is_nan()),
            lower_bound: lower,
            upper_bound: upper,
            direction,
            percent_deviation,
            skipped: None,
            stats,
        }
    }

    /// Percent deviation from the threshold (from the nearer end for ranges).
    fn deviation(&self, cv: f64) -> Option<f64> {
        let t = self.threshold;
        let pct = |from: f64| (from != 0.0).then(|| (cv - from) / from.abs() * 100.0);
        let d = match self.operator {
            Operator::Between { upper } | Operator::Outside { upper } => {
                if cv < t {
                    pct(t)
                } else if cv > upper {
                    pct(upper)
                } else {
                    Some(0.0)
                }
            }
            _ if t != 0.0 => pct(t),
            _ => Some(if cv == 0.0 { 0.0 } else { 100.0 }),
        };
        d.filter(|v| v.is_finite())
    }
}

impl Detector for ThresholdDetector {
    fn window(&self) -> Window {
        Window::Points(1)
    }

    fn detect(
        &self,
        series: &[DataPoint],
        first: usize,
        _ctx: &DetectionContext,
    ) -> Vec<Detection> {
        series
            .get(first..)
            .unwrap_or_default()
            .iter()
            .map(|p| match p.present_value() {
                Some(v) => self.score_value(p, v),
                None => unusable(p),
            })
            .collect()
    }
}

/// Reads the params and builds the detector; problems go into `params`.
fn read_detector(params: &mut Params<'_>) -> Option<Box<dyn Detector>> {
    ThresholdDetector::from_params(params).map(|d| Box::new(d) as Box<dyn Detector>)
}

/// The factory registered as `threshold`.
pub(crate) fn factory() -> Arc<dyn DetectorFactory> {
    Arc::new(read_detector)
}
