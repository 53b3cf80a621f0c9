//! The `iqr` detector: Tukey's fences on the quartiles of the history.

use std::sync::Arc;

use detectk_core::config::Params;
use detectk_core::registry::DetectorFactory;
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, Window};
use serde_json::Map;

use crate::band::{detection, put};
use crate::common::{HistoryOptions, positive};
use crate::history::{Scored, Sliding, scan};
use crate::stats::exact;
use crate::stats::ordered::{Newest, OrderedWindow, Scratch, quartiles_of_newest};
use crate::stats::rank_union::{Parts, RankSelect};

/// Flags values outside `[Q1 - multiplier * IQR, Q3 + multiplier * IQR]` of the history.
///
/// A quantile `p` is the first sorted history value whose cumulative weight reaches
/// `p` (numpy's `inverted_cdf`; with `decay` set the k-th most recent point weighs
/// `exp(-decay * k)`). The score is the distance beyond the nearer fence's quartile
/// in IQR units: `(value - Q3) / IQR` above Q3, `(Q1 - value) / IQR` below Q1, else 0,
/// so a point is anomalous exactly when its score exceeds `multiplier`.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use detectk_core::{DataPoint, DetectionContext, Detector, Window};
/// use detectk_detectors::{HistoryOptions, IqrDetector};
///
/// let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let step = TimeDelta::minutes(10);
/// let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 20.0];
/// let series: Vec<DataPoint> = values
///     .iter()
///     .enumerate()
///     .map(|(i, v)| DataPoint::new(t0 + step * i as i32, *v))
///     .collect();
/// let history = HistoryOptions { window: Window::Points(8), decay: None, ..Default::default() };
/// let iqr = IqrDetector::new(history, 1.5);
/// let ctx = DetectionContext { execution_time: t0 + step * 9, interval: step };
/// let out = iqr.detect(&series, 8, &ctx);
/// // Q1 = 2, Q3 = 6, IQR = 4: fences -4 and 12
/// assert_eq!((out[0].lower_bound, out[0].upper_bound), (Some(-4.0), Some(12.0)));
/// assert!(out[0].is_anomaly);
/// assert_eq!(out[0].score, Some(3.5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IqrDetector {
    history: HistoryOptions,
    multiplier: f64,
}

impl Default for IqrDetector {
    /// The config defaults: 30-day window, equal weights, `multiplier` 1.5.
    fn default() -> Self {
        let history = HistoryOptions {
            decay: None,
            ..HistoryOptions::default()
        };
        Self::new(history, 1.5)
    }
}

impl IqrDetector {
    /// An IQR detector over `history` with fences `multiplier` (> 0) IQRs beyond the quartiles.
    pub fn new(history: HistoryOptions, multiplier: f64) -> Self {
        Self {
            history,
            multiplier,
        }
    }

    /// Reads the detector from config params, recording every problem in `p`.
    pub fn from_params(p: &mut Params<'_>) -> Option<Self> {
        let history = HistoryOptions::read(p, false);
        let multiplier = positive(p, "multiplier", 1.5);
        (!p.has_issues()).then(|| Self::new(history, multiplier))
    }

    /// The history options.
    pub fn history(&self) -> &HistoryOptions {
        &self.history
    }
}

/// Quartiles and median of a sliding window.
pub(crate) struct Quartiles(OrderedWindow);

impl Sliding for Quartiles {
    type Summary = [f64; 3];
    fn new(values: &[f64], decay: Option<f64>) -> Self {
        Self(OrderedWindow::new(values, decay))
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
    fn summary(&mut self) -> Option<[f64; 3]> {
        Some([
            self.0.quantile(0.25)?,
            self.0.quantile(0.5)?,
            self.0.quantile(0.75)?,
        ])
    }
    const FROM_NEWEST: bool = true;
    fn from_newest(newest: &Newest<'_>, scratch: &mut Scratch) -> Option<[f64; 3]> {
        quartiles_of_newest(newest, scratch)
    }
    const UNWEIGHTED_EXACT: bool = true;
    fn of_unweighted(values: &mut [f64], _scratch: &mut Vec<f64>) -> Option<[f64; 3]> {
        Some([
            exact::quantile(values, 0.25)?,
            exact::quantile(values, 0.5)?,
            exact::quantile(values, 0.75)?,
        ])
    }
    const FROM_RANKS: bool = true;
    fn of_ranks(select: &mut RankSelect<'_>, parts: &Parts<'_>) -> Option<[f64; 3]> {
        Some([
            select.quantile(parts, 0.25, 1)?,
            select.quantile(parts, 0.5, 2)?,
            select.quantile(parts, 0.75, 3)?,
        ])
    }
}

/// Distance beyond the quartiles in IQR units (0 inside, infinite with zero IQR).
fn iqr_score(value: f64, q1: f64, q3: f64, iqr: f64) -> f64 {
    let beyond = if value > q3 {
        value - q3
    } else if value < q1 {
        q1 - value
    } else {
        return 0.0;
    };
    if iqr > 0.0 {
        beyond / iqr
    } else {
        f64::INFINITY
    }
}

impl Detector for IqrDetector {
    fn window(&self) -> Window {
        self.history.window.clone()
    }

    fn detect(
        &self,
        series: &[DataPoint],
        first: usize,
        _ctx: &DetectionContext,
    ) -> Vec<Detection> {
        scan::<Quartiles>(series, first, &self.history, |s: Scored<'_, [f64; 3]>| {
            let [q1, median, q3] = s.summary;
            let iqr = q3 - q1;
            let lower = q1 - self.multiplier * iqr;
            let upper = q3 + self.multiplier * iqr;
            let stats = || {
                let mut stats = Map::new();
                put(&mut stats, "q1", q1);
                put(&mut stats, "median", median);
                put(&mut stats, "q3", q3);
                put(&mut stats, "iqr", iqr);
                stats.insert("n".into(), s.n.into());
                stats
            };
            let score = iqr_score(s.value, q1, q3, iqr);
            detection(
                s.point.timestamp,
                s.value,
                median,
                lower,
                upper,
                score,
                stats,
            )
        })
    }
}

/// Reads the params and builds the detector; problems go into `params`.
fn read_detector(params: &mut Params<'_>) -> Option<Box<dyn Detector>> {
    IqrDetector::from_params(params).map(|d| Box::new(d) as Box<dyn Detector>)
}

/// The factory registered as `iqr`.
pub(crate) fn factory() -> Arc<dyn DetectorFactory> {
    Arc::new(read_detector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_rules() {
        assert_eq!(iqr_score(5.0, 2.0, 6.0, 4.0), 0.0);
        assert_eq!(iqr_score(10.0, 2.0, 6.0, 4.0), 1.0);
        assert_eq!(iqr_score(0.0, 2.0, 6.0, 4.0), 0.5);
        assert_eq!(iqr_score(3.0, 3.0, 3.0, 0.0), 0.0);
        assert_eq!(iqr_score(3.5, 3.0, 3.0, 0.0), f64::INFINITY);
    }
}
