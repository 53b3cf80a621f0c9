#![doc = include_str!("../README.md")]

mod band;
mod calendar;
mod common;
mod few_scored;
mod groups;
mod history;
mod iqr;
mod mad;
mod missing_data;
mod newest_sorted;
mod robust_seasonal;
mod seasonal;
mod stats;
#[cfg(test)]
mod test_series;
mod threshold;
mod union_index;
mod union_ranks;
mod union_scan;
mod zscore;

use detectk_core::Registry;

pub use calendar::{CALENDAR_FEATURES, CalendarFeature};
pub use common::{
    DEFAULT_DECAY, DEFAULT_MIN_POINTS, DEFAULT_WINDOW_SECONDS, HistoryOptions, Seasonality,
};
pub use iqr::IqrDetector;
pub use mad::{MAD_SCALE, MadDetector};
pub use missing_data::{DEFAULT_LOOKBACK_POINTS, MissingDataDetector};
pub use robust_seasonal::{
    DEFAULT_LEVEL_SHIFT_HOURS, ROBUST_DEFAULT_MIN_HISTORY_SECONDS, ROBUST_DEFAULT_WINDOW_SECONDS,
    RobustSeasonalDetector,
};
pub use threshold::{OPERATORS, Operator, ThresholdDetector};
pub use zscore::ZScoreDetector;

/// Registers `threshold`, `mad`, `zscore`, `iqr`, `robust_seasonal` and `missing_data`
/// with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_detector(
        "threshold",
        "compares each value (or its percent change from a baseline) with fixed limits",
        threshold::factory(),
    );
    registry.register_detector(
        "mad",
        "median ± n_sigma robust sigmas (1.4826 × MAD) of the history, optionally weighted and seasonal",
        mad::factory(),
    );
    registry.register_detector(
        "zscore",
        "mean ± n_sigma standard deviations of the history, optionally weighted and seasonal",
        zscore::factory(),
    );
    registry.register_detector(
        "iqr",
        "Tukey's fences: Q1 - multiplier × IQR .. Q3 + multiplier × IQR of the history",
        iqr::factory(),
    );
    registry.register_detector(
        "robust_seasonal",
        "seasonal median (same hour of day, ...) ± multiplier × a high quantile of past absolute residuals",
        robust_seasonal::factory(),
    );
    registry.register_detector(
        "missing_data",
        "flags runs of missing points and data arriving after more than max_age",
        missing_data::factory(),
    );
}
