//! Parameters shared by the statistical detectors (`mad`, `zscore`, `iqr`).

use chrono_tz::Tz;
use detectk_core::config::Params;
use detectk_core::{HumanDuration, Window};
use serde_json::Value;

use crate::calendar::parse_timezone;

/// Default history window: 30 days.
pub const DEFAULT_WINDOW_SECONDS: i64 = 30 * 86_400;
/// Default minimum number of usable history points.
pub const DEFAULT_MIN_POINTS: usize = 3;
/// Default exponential decay factor of `use_weighted`.
pub const DEFAULT_DECAY: f64 = 0.1;

/// Seasonal restriction of the history.
///
/// A feature is read from the point's context; when the context lacks it and its
/// name is a calendar feature ([`crate::CALENDAR_FEATURES`]), it is computed from the
/// timestamp in `timezone` (a context column with the same name wins, as in Python).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seasonality {
    /// Context keys to match (`hour_of_day`, `day_of_week`, ...); empty for none.
    pub features: Vec<String>,
    /// `true`: a history point must match the scored point on every feature;
    /// `false`: on at least one of them.
    pub combined: bool,
    /// Timezone of the calendar features computed from timestamps (default UTC).
    pub timezone: Tz,
}

impl Default for Seasonality {
    /// No features, "any of", UTC.
    fn default() -> Self {
        Self {
            features: Vec::new(),
            combined: false,
            timezone: Tz::UTC,
        }
    }
}

impl Seasonality {
    /// No seasonal restriction.
    pub fn none() -> Self {
        Self::default()
    }

    /// Restriction to points matching on every listed feature.
    pub fn all_of<S: Into<String>>(features: impl IntoIterator<Item = S>) -> Self {
        Self {
            features: features.into_iter().map(Into::into).collect(),
            combined: true,
            timezone: Tz::UTC,
        }
    }

    /// Restriction to points matching on at least one listed feature.
    pub fn any_of<S: Into<String>>(features: impl IntoIterator<Item = S>) -> Self {
        Self {
            features: features.into_iter().map(Into::into).collect(),
            combined: false,
            timezone: Tz::UTC,
        }
    }

    /// Whether no feature is listed.
    pub fn is_none(&self) -> bool {
        self.features.is_empty()
    }
}

/// Which history each point is compared with, and how it is weighted.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryOptions {
    /// History window before each point: a duration, or a count of points (missing ones included).
    pub window: Window,
    /// Fewer usable history points than this gives a skipped result (at least 1).
    pub min_points: usize,
    /// Exponential decay factor of the history weights; `None` for equal weights.
    pub decay: Option<f64>,
    /// Seasonal restriction of the history.
    pub seasonality: Seasonality,
}

impl Default for HistoryOptions {
    /// The defaults of `mad` and `zscore`: a 30-day window, 3 points minimum,
    /// weights decaying by 0.1 per point, no seasonality.
    fn default() -> Self {
        Self {
            window: Window::Span(HumanDuration::from_seconds(DEFAULT_WINDOW_SECONDS)),
            min_points: DEFAULT_MIN_POINTS,
            decay: Some(DEFAULT_DECAY),
            seasonality: Seasonality::none(),
        }
    }
}

impl HistoryOptions {
    /// Reads `window_size`, `min_points`, `use_weighted`, `exp_decay_factor`,
    /// `seasonal_features` and `use_combined_seasonality`, recording problems in `p`.
    pub(crate) fn read(p: &mut Params<'_>, weighted_by_default: bool) -> Self {
        let window = p
            .optional::<Window>("window_size")
            .unwrap_or_else(|| HistoryOptions::default().window);
        let min_points: usize = p.or("min_points", DEFAULT_MIN_POINTS);
        p.check(min_points >= 1, "min_points", || {
            format!("must be >= 1, got {min_points}")
        });
        let use_weighted: bool = p.or("use_weighted", weighted_by_default);
        let decay: f64 = p.or("exp_decay_factor", DEFAULT_DECAY);
        p.check(
            decay.is_finite() && decay >= 0.0,
            "exp_decay_factor",
            || format!("must be a finite number >= 0, got {decay}"),
        );
        let features = seasonal_features(p);
        let tz_name: String = p.or("timezone", "UTC".to_string());
        let timezone = parse_timezone(&tz_name).unwrap_or_else(|e| {
            p.error("timezone", e);
            Tz::UTC
        });
        for (i, f) in features.iter().enumerate() {
            if f.is_empty() || features[..i].contains(f) {
                p.error(
                    "seasonal_features",
                    format!("feature names must be non-empty and distinct, got {f:?}"),
                );
            }
        }
        let combined: bool = p.or("use_combined_seasonality", false);
        Self {
            window,
            min_points: min_points.max(1),
            decay: use_weighted.then_some(decay.max(0.0)),
            seasonality: Seasonality {
                features,
                combined,
                timezone,
            },
        }
    }
}

/// Reads `seasonal_features`: a list of names, or of Python detectk's objects
/// `{name: hour_of_day, expression: ...}` (the name is used; a calendar name is
/// computed from the timestamp, any other name is read from the context).
pub(crate) fn seasonal_features(p: &mut Params<'_>) -> Vec<String> {
    let Some(raw) = p.raw("seasonal_features") else {
        return Vec::new();
    };
    let Value::Array(items) = raw else {
        p.error(
            "seasonal_features",
            "expected a list of feature names (or of {name: ..., expression: ...} objects)",
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.clone()),
            Value::Object(o) => match o.get("name") {
                Some(Value::String(s)) => out.push(s.clone()),
                _ => p.error(
                    &format!("seasonal_features[{i}]"),
                    "an object feature needs a string `name` (e.g. {name: hour_of_day})",
                ),
            },
            other => p.error(
                &format!("seasonal_features[{i}]"),
                format!("expected a feature name or {{name: ...}}, got {other}"),
            ),
        }
    }
    out
}

/// Reads a positive finite number with a default.
pub(crate) fn positive(p: &mut Params<'_>, key: &str, default: f64) -> f64 {
    let v: f64 = p.or(key, default);
    p.check(v.is_finite() && v > 0.0, key, || {
        format!("must be a finite number > 0, got {v}")
    });
    v
}
