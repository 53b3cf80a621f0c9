//! The `mad` detector: median and median absolute deviation of the history.

use std::sync::Arc;

use detectk_core::config::Params;
use detectk_core::registry::DetectorFactory;
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, Window};
use serde_json::Map;

use crate::band::{put, sigma_band};
use crate::common::{HistoryOptions, positive};
use crate::history::{Scored, Sliding, scan};
use crate::stats::exact;
use crate::stats::ordered::{Newest, OrderedWindow, Scratch, median_mad_of_newest};
use crate::stats::rank_union::{Parts, RankSelect};

/// Scale making the MAD comparable to a normal standard deviation.
pub const MAD_SCALE: f64 = 1.4826;

/// Flags values outside `median ± n_sigma * 1.4826 * MAD` of the history.
///
/// With `decay` set, the k-th most recent history point weighs `exp(-decay * k)`;
/// the weighted median is the first sorted value whose cumulative weight reaches
/// one half, and the MAD is the weighted median of `|x - median|`.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use detectk_core::{DataPoint, DetectionContext, Detector, Window};
/// use detectk_detectors::{HistoryOptions, MadDetector};
///
/// let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let step = TimeDelta::minutes(10);
/// let values = [10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 40.0];
/// let series: Vec<DataPoint> = values
///     .iter()
///     .enumerate()
///     .map(|(i, v)| DataPoint::new(t0 + step * i as i32, *v))
///     .collect();
/// let history = HistoryOptions { window: Window::Points(6), decay: None, ..Default::default() };
/// let mad = MadDetector::new(history, 3.0);
/// let ctx = DetectionContext { execution_time: t0 + step * 7, interval: step };
/// let out = mad.detect(&series, 6, &ctx);
/// assert!(out[0].is_anomaly); // median 10 and MAD 0: any other value is flagged
/// assert_eq!(out[0].stats["median"], 10.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MadDetector {
    history: HistoryOptions,
    n_sigma: f64,
}

impl Default for MadDetector {
    /// The config defaults: 30-day window, `n_sigma` 3, weights decaying by 0.1.
    fn default() -> Self {
        Self::new(HistoryOptions::default(), 3.0)
    }
}

impl MadDetector {
    /// A MAD detector over `history`, flagging beyond `n_sigma` (> 0) robust sigmas.
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

/// Median and MAD of a sliding window.
pub(crate) struct MedianMad(OrderedWindow);

impl Sliding for MedianMad {
    type Summary = (f64, f64);
    fn new(values: &[f64], decay: Option<f64>) -> Self {
        Self(OrderedWindow::for_mad(values, decay))
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
        self.0.median_mad()
    }
    const FROM_NEWEST: bool = true;
    fn from_newest(newest: &Newest<'_>, scratch: &mut Scratch) -> Option<(f64, f64)> {
        median_mad_of_newest(newest, scratch)
    }
    const UNWEIGHTED_EXACT: bool = true;
    fn of_unweighted(values: &mut [f64], scratch: &mut Vec<f64>) -> Option<(f64, f64)> {
        exact::median_mad(values, scratch)
    }
    const FROM_RANKS: bool = true;
    fn of_ranks(select: &mut RankSelect<'_>, parts: &Parts<'_>) -> Option<(f64, f64)> {
        select.median_mad(parts)
    }
}

impl Detector for MadDetector {
    fn window(&self) -> Window {
        self.history.window.clone()
    }

    fn detect(
        &self,
        series: &[DataPoint],
        first: usize,
        _ctx: &DetectionContext,
    ) -> Vec<Detection> {
        scan::<MedianMad>(series, first, &self.history, |s: Scored<'_, (f64, f64)>| {
            let (median, mad) = s.summary;
            let sigma = MAD_SCALE * mad;
            let stats = || {
                let mut stats = Map::new();
                put(&mut stats, "median", median);
                put(&mut stats, "mad", mad);
                put(&mut stats, "sigma", sigma);
                stats.insert("n".into(), s.n.into());
                stats
            };
            sigma_band(
                s.point.timestamp,
                s.value,
                median,
                sigma,
                self.n_sigma,
                stats,
            )
        })
    }
}

/// Reads the params and builds the detector; problems go into `params`.
fn read_detector(params: &mut Params<'_>) -> Option<Box<dyn Detector>> {
    MadDetector::from_params(params).map(|d| Box::new(d) as Box<dyn Detector>)
}

/// The factory registered as `mad`.
pub(crate) fn factory() -> Arc<dyn DetectorFactory> {
    Arc::new(read_detector)
}
