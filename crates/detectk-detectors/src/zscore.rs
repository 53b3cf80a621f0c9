//! The `zscore` detector: mean and standard deviation of the history.

use std::sync::Arc;

use detectk_core::config::Params;
use detectk_core::registry::DetectorFactory;
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, Window};
use serde_json::Map;

use crate::band::{put, sigma_band};
use crate::common::{HistoryOptions, positive};
use crate::history::{Scored, Sliding, scan};
use crate::stats::moments::Moments;

/// Flags values outside `mean ± n_sigma * std` of the history.
///
/// With `decay` set, the k-th most recent history point weighs `exp(-decay * k)`
/// (normalised); the standard deviation is `sqrt(sum w (x - mean)^2)`.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use detectk_core::{DataPoint, DetectionContext, Detector, Window};
/// use detectk_detectors::{HistoryOptions, ZScoreDetector};
///
/// let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let step = TimeDelta::minutes(10);
/// let values = [1.0, 3.0, 1.0, 3.0, 9.0];
/// let series: Vec<DataPoint> = values
///     .iter()
///     .enumerate()
///     .map(|(i, v)| DataPoint::new(t0 + step * i as i32, *v))
///     .collect();
/// let history = HistoryOptions { window: Window::Points(4), decay: None, ..Default::default() };
/// let z = ZScoreDetector::new(history, 3.0);
/// let ctx = DetectionContext { execution_time: t0 + step * 5, interval: step };
/// let out = z.detect(&series, 4, &ctx);
/// assert!(out[0].is_anomaly);
/// assert_eq!(out[0].stats["mean"], 2.0); // statistics come with anomalies
/// assert_eq!(out[0].stats["std"], 1.0);
/// assert_eq!((out[0].lower_bound, out[0].upper_bound), (Some(-1.0), Some(5.0)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ZScoreDetector {
    history: HistoryOptions,
    n_sigma: f64,
}

impl Default for ZScoreDetector {
    /// The config defaults: 30-day window, `n_sigma` 3, weights decaying by 0.1.
    fn default() -> Self {
        Self::new(HistoryOptions::default(), 3.0)
    }
}

impl ZScoreDetector {
    /// A z-score detector over `history`, flagging beyond `n_sigma` (> 0) standard deviations.
    pub fn new(history: HistoryOptions, n_sigma: f64) -> Self {
        Self { history, n_sigma }
    }

    /// Reads the detector from config params, recording every problem in `p`.
    pub fn from_params(p: &mut Params<'_>) -> Option<Self> {
        let history = HistoryOptions::read(p, true);
        let n_sigma = positive(p, "n_sigma", 3.0);
        (!p.has_issues()).then(|| Self::new(history, n_sigma))
    }

    /// The history options.
    pub fn history(&self) -> &HistoryOptions {
        &self.history
    }
}

/// Mean and standard deviation of a sliding window.
pub(crate) struct MeanStd(Moments);

impl Sliding for MeanStd {
    type Summary = (f64, f64);
    fn new(values: &[f64], decay: Option<f64>) -> Self {
        Self(Moments::new(values, decay))
    }
    fn start_at(&mut self, m: usize) {
        self.0.start_at(m);
    }
    fn push(&mut self) {
        self.0.push();
    }
    fn pop(&mut self) {
        self.0.pop();
    }
    fn summary(&mut self) -> Option<(f64, f64)> {
        self.0.mean_std()
    }
}

impl Detector for ZScoreDetector {
    fn window(&self) -> Window {
        self.history.window.clone()
    }

    fn detect(
        &self,
        series: &[DataPoint],
        first: usize,
        _ctx: &DetectionContext,
    ) -> Vec<Detection> {
        scan::<MeanStd>(series, first, &self.history, |s: Scored<'_, (f64, f64)>| {
            let (mean, std) = s.summary;
            let stats = || {
                let mut stats = Map::new();
                put(&mut stats, "mean", mean);
                put(&mut stats, "std", std);
                stats.insert("n".into(), s.n.into());
                stats
            };
            sigma_band(s.point.timestamp, s.value, mean, std, self.n_sigma, stats)
        })
    }
}

/// Reads the params and builds the detector; problems go into `params`.
fn read_detector(params: &mut Params<'_>) -> Option<Box<dyn Detector>> {
    ZScoreDetector::from_params(params).map(|d| Box::new(d) as Box<dyn Detector>)
}

/// The factory registered as `zscore`.
pub(crate) fn factory() -> Arc<dyn DetectorFactory> {
    Arc::new(read_detector)
}
