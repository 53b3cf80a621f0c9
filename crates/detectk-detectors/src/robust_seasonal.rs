//! The `robust_seasonal` detector: a seasonal median centre and a tail-aware scale.
//!
//! For each point, the centre is the median of the history values at the same season
//! (calendar features of the timestamp, e.g. the same hour of the day), falling back
//! to the median of the whole window while the season has fewer than
//! `min_season_points` values. Each history point's residual is its value minus its
//! own centre (computed from its own history); the scale is a high quantile
//! (`quantile`, default 0.99) of the absolute residuals in the window, so routine
//! bursts set the scale instead of alerting. A point is anomalous when it lies more
//! than `multiplier` scales from its centre.
//!
//! Zero spread: when the quantile is 0 (a series dominated by one value) the scale is
//! the smallest non-zero absolute residual of the window; when every residual is 0,
//! it is `relative_floor × |centre|`; when that is 0 too, any other value is flagged
//! with an infinite score (as `mad` does).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use detectk_core::config::Params;
use detectk_core::registry::DetectorFactory;
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, HumanDuration, Window};
use serde_json::Map;

use crate::band::{put, sigma_band};
use crate::calendar::{CalendarFeature, LocalClock, parse_timezone};
use crate::common::positive;
use crate::history::unusable;
use crate::stats::ordered::OrderedWindow;

/// Default history window of `robust_seasonal`: 28 days.
pub const ROBUST_DEFAULT_WINDOW_SECONDS: i64 = 28 * 86_400;
/// Default `level_shift_after` of `exclude_anomalies`: 6 hours.
pub const DEFAULT_LEVEL_SHIFT_HOURS: i64 = 6;
/// Default warm-up of `robust_seasonal`: 2 days (two daily seasons).
pub const ROBUST_DEFAULT_MIN_HISTORY_SECONDS: i64 = 2 * 86_400;

/// Flags values more than `multiplier` tail scales away from a seasonal median.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use detectk_core::{DataPoint, DetectionContext, Detector};
/// use detectk_detectors::RobustSeasonalDetector;
///
/// let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
/// let step = TimeDelta::hours(1);
/// // A daily cycle for three days, then a spike at 12:00 of day four.
/// let mut series: Vec<DataPoint> = (0..84)
///     .map(|i| DataPoint::new(t0 + step * i, 100.0 + 10.0 * ((i % 24) as f64) + (i % 5) as f64))
///     .collect();
/// series[84 - 1].value = Some(900.0);
/// let det = RobustSeasonalDetector::default();
/// let ctx = DetectionContext { execution_time: t0 + step * 84, interval: step };
/// let out = det.detect(&series, 0, &ctx);
/// assert!(out[0].skipped.is_some()); // warm-up: less than a day of history
/// assert!(out[83].is_anomaly);
/// assert!(!out[82].is_anomaly);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RobustSeasonalDetector {
    window: Window,
    season: Vec<CalendarFeature>,
    timezone: Tz,
    min_season_points: usize,
    quantile: f64,
    multiplier: f64,
    min_history: TimeDelta,
    min_points: usize,
    relative_floor: f64,
    /// `Some(level_shift_after)`: flagged points leave the scale's residuals until
    /// their run has lasted this long.
    exclude: Option<TimeDelta>,
}

impl Default for RobustSeasonalDetector {
    /// The config defaults (the best setting on NAB, see docs/nab-baseline.md): 28-day
    /// window, season `hour_of_day` in UTC, 3 points per season, quantile 0.99,
    /// multiplier 1.1, 2 days of warm-up, 3 residuals, floor 1 %, no exclusion.
    fn default() -> Self {
        Self {
            window: Window::Span(HumanDuration::from_seconds(ROBUST_DEFAULT_WINDOW_SECONDS)),
            season: vec![CalendarFeature::HourOfDay],
            timezone: Tz::UTC,
            min_season_points: 3,
            quantile: 0.99,
            multiplier: 1.1,
            min_history: TimeDelta::seconds(ROBUST_DEFAULT_MIN_HISTORY_SECONDS),
            min_points: 3,
            relative_floor: 0.01,
            exclude: None,
        }
    }
}

impl RobustSeasonalDetector {
    /// The same detector with another history window.
    pub fn with_window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// The same detector with other season features (all must match; empty for none).
    pub fn with_season(mut self, season: Vec<CalendarFeature>) -> Self {
        self.season = season;
        self
    }

    /// The same detector computing the season in `timezone`.
    pub fn with_timezone(mut self, timezone: Tz) -> Self {
        self.timezone = timezone;
        self
    }

    /// The same detector with another residual quantile (0 < q <= 1) and multiplier (> 0).
    pub fn with_scale(mut self, quantile: f64, multiplier: f64) -> Self {
        self.quantile = quantile;
        self.multiplier = multiplier;
        self
    }

    /// The same detector with another warm-up, minimum season size and residual count.
    pub fn with_warm_up(
        mut self,
        min_history: TimeDelta,
        min_season_points: usize,
        min_points: usize,
    ) -> Self {
        self.min_history = min_history;
        self.min_season_points = min_season_points.max(1);
        self.min_points = min_points.max(1);
        self
    }

    /// The same detector leaving flagged points out of the scale (`exclude_anomalies`)
    /// until a run of them has lasted `level_shift_after`; `None` to keep them.
    pub fn with_exclusion(mut self, level_shift_after: Option<TimeDelta>) -> Self {
        self.exclude = level_shift_after;
        self
    }

    /// Reads the detector from config params, recording every problem in `p`.
    pub fn from_params(p: &mut Params<'_>) -> Option<Self> {
        let d = Self::default();
        let window = p.optional::<Window>("window_size").unwrap_or(d.window);
        let names = if p.has("seasonal_features") {
            crate::common::seasonal_features(p)
        } else {
            vec!["hour_of_day".to_string()]
        };
        let mut season = Vec::new();
        for name in &names {
            match CalendarFeature::parse(name) {
                Some(f) if !season.contains(&f) => season.push(f),
                Some(_) => p.error(
                    "seasonal_features",
                    format!("feature {name:?} is listed twice"),
                ),
                None => p.error_with_hint(
                    "seasonal_features",
                    format!("unknown calendar feature {name:?}"),
                    format!(
                        "robust_seasonal computes its seasons from the timestamp; use any of: {}",
                        crate::calendar::CALENDAR_FEATURES.join(", ")
                    ),
                ),
            }
        }
        let tz_name: String = p.or("timezone", "UTC".to_string());
        let timezone = match parse_timezone(&tz_name) {
            Ok(tz) => tz,
            Err(e) => {
                p.error("timezone", e);
                Tz::UTC
            }
        };
        let min_season_points: usize = p.or("min_season_points", d.min_season_points);
        p.check(min_season_points >= 1, "min_season_points", || {
            format!("must be >= 1, got {min_season_points}")
        });
        let min_points: usize = p.or("min_points", d.min_points);
        p.check(min_points >= 1, "min_points", || {
            format!("must be >= 1, got {min_points}")
        });
        let quantile: f64 = p.or("quantile", d.quantile);
        p.check(quantile > 0.0 && quantile <= 1.0, "quantile", || {
            format!("must be in (0, 1], got {quantile}")
        });
        let multiplier = positive(p, "multiplier", d.multiplier);
        let relative_floor: f64 = p.or("relative_floor", d.relative_floor);
        p.check(
            relative_floor.is_finite() && relative_floor >= 0.0,
            "relative_floor",
            || format!("must be a finite number >= 0, got {relative_floor}"),
        );
        let min_history = p
            .optional::<HumanDuration>("min_history")
            .map_or(d.min_history, |h| h.delta());
        if let Window::Span(w) = &window {
            p.check(min_history <= w.delta(), "min_history", || {
                format!(
                    "must not exceed window_size ({}), or no point could ever be scored",
                    w.as_str()
                )
            });
        }
        let exclude_anomalies: bool = p.or("exclude_anomalies", false);
        let level_shift_after = p
            .optional::<HumanDuration>("level_shift_after")
            .map_or(TimeDelta::hours(DEFAULT_LEVEL_SHIFT_HOURS), |h| h.delta());
        if exclude_anomalies && matches!(window, Window::Points(_)) {
            p.error_with_hint(
                "exclude_anomalies",
                "needs window_size as a duration",
                "write window_size as a duration such as \"14 days\"",
            );
        }
        (!p.has_issues()).then(|| Self {
            exclude: exclude_anomalies.then_some(level_shift_after),
            window,
            season,
            timezone,
            min_season_points: min_season_points.max(1),
            quantile,
            multiplier,
            min_history,
            min_points: min_points.max(1),
            relative_floor,
        })
    }

    /// Season key of a timestamp.
    fn key(&self, clock: &mut LocalClock, t: DateTime<Utc>) -> u64 {
        if self.season.is_empty() {
            return 0;
        }
        let local = clock.local(t);
        self.season
            .iter()
            .fold(0u64, |k, f| (k << 8) | u64::from(f.of_local(&local)))
    }
}

/// Finds, for increasing `i`, the first index inside the window of `series[i]`.
struct Starts<'a> {
    series: &'a [DataPoint],
    window: &'a Window,
    lo: usize,
}

impl Starts<'_> {
    fn at(&mut self, i: usize) -> usize {
        match self.window {
            Window::Points(n) => i.saturating_sub(*n),
            Window::Span(d) => {
                let t = self.series[i].timestamp;
                let start = t
                    .checked_sub_signed(d.delta())
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                while self.lo < i && self.series[self.lo].timestamp < start {
                    self.lo += 1;
                }
                self.lo
            }
        }
    }
}

/// Order statistics over the members of one stream inside a sliding index range.
///
/// The range moves with [`Slider::slide`] (two pointers); the order statistics follow
/// only when asked ([`Slider::stats`]), so a stream whose median is rarely needed
/// (the whole-window fallback) costs almost nothing. Each member still enters and
/// leaves the statistics at most once.
struct Slider {
    /// Series indices of the members, ascending.
    members: Vec<usize>,
    win: OrderedWindow,
    /// Members `head..tail` are in the range.
    head: usize,
    tail: usize,
    /// Members `in_head..in_tail` are in `win`.
    in_head: usize,
    in_tail: usize,
}

impl Slider {
    fn new(members: Vec<usize>, values: &[f64]) -> Self {
        Self {
            win: OrderedWindow::new(values, None),
            members,
            head: 0,
            tail: 0,
            in_head: 0,
            in_tail: 0,
        }
    }

    /// Moves the range to the members with indices in `lo..end`.
    fn slide(&mut self, lo: usize, end: usize) {
        if self.head == self.tail {
            let m = self.members.partition_point(|&j| j < lo).max(self.tail);
            self.head = m;
            self.tail = m;
        }
        while self.tail < self.members.len() && self.members[self.tail] < end {
            self.tail += 1;
        }
        while self.head < self.tail && self.members[self.head] < lo {
            self.head += 1;
        }
    }

    /// The order statistics of the members in the range.
    fn stats(&mut self) -> &OrderedWindow {
        if self.head >= self.in_tail || self.in_head == self.in_tail {
            // No overlap: empty the statistics and start at the range.
            while self.in_head < self.in_tail {
                self.win.pop();
                self.in_head += 1;
            }
            self.win.start_at(self.head);
            self.in_head = self.head;
            self.in_tail = self.head;
        }
        while self.in_tail < self.tail {
            self.win.push();
            self.in_tail += 1;
        }
        while self.in_head < self.head {
            self.win.pop();
            self.in_head += 1;
        }
        &self.win
    }

    fn len(&self) -> usize {
        self.tail - self.head
    }

    /// Series index of the oldest member in the range.
    fn oldest(&self) -> Option<usize> {
        (self.head < self.tail).then(|| self.members[self.head])
    }
}

/// What pass one learns about a point: its centre and how much history backs it.
#[derive(Clone, Copy)]
struct Centre {
    value: f64,
    season_points: usize,
    /// Index of the oldest usable history point in the window.
    oldest: usize,
}

impl Detector for RobustSeasonalDetector {
    /// Two windows: a point's scale uses the residuals of the last window, and each
    /// residual is measured against that history point's own window.
    fn window(&self) -> Window {
        match (&self.window, self.exclude) {
            (Window::Points(n), _) => Window::Points(n.saturating_mul(2)),
            (Window::Span(d), None) => {
                Window::Span(HumanDuration::from_seconds(d.seconds().saturating_mul(2)))
            }
            // Exclusion adds a window for the flags and `level_shift_after` for runs.
            (Window::Span(d), Some(after)) => Window::Span(HumanDuration::from_seconds(
                d.seconds()
                    .saturating_mul(3)
                    .saturating_add(after.num_seconds()),
            )),
        }
    }

    fn detect(
        &self,
        series: &[DataPoint],
        first: usize,
        _ctx: &DetectionContext,
    ) -> Vec<Detection> {
        let len = series.len();
        let first = first.min(len);
        if first == len {
            return Vec::new();
        }
        let values: Vec<Option<f64>> = series.iter().map(DataPoint::present_value).collect();
        let mut starts = Starts {
            series,
            window: &self.window,
            lo: 0,
        };
        // First point whose centre a scored point can need.
        let j0 = if self.exclude.is_some() {
            0
        } else {
            starts.at(first)
        };
        let mut starts = Starts {
            series,
            window: &self.window,
            lo: 0,
        };
        // Season of every point from the first one whose centre a residual needs.
        let mut clock = LocalClock::new(self.timezone);
        let mut ids: HashMap<u64, usize> = HashMap::new();
        let mut season_of = vec![usize::MAX; len];
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut all = Vec::new();
        let from = starts_of(series, &self.window, j0);
        for j in from..len {
            let key = self.key(&mut clock, series[j].timestamp);
            let next = ids.len();
            let id = *ids.entry(key).or_insert(next);
            if id == members.len() {
                members.push(Vec::new());
            }
            season_of[j] = id;
            if values[j].is_some() {
                members[id].push(j);
                all.push(j);
            }
        }
        let vals =
            |m: &[usize]| -> Vec<f64> { m.iter().map(|&j| values[j].unwrap_or(0.0)).collect() };
        if self.season.is_empty() {
            members.clear();
        }
        let mut seasons: Vec<Slider> = members
            .into_iter()
            .map(|m| {
                let v = vals(&m);
                Slider::new(m, &v)
            })
            .collect();
        let all_vals = vals(&all);
        let mut global = Slider::new(all, &all_vals);
        // Pass one: the centre of every usable point from j0 on.
        let mut centres: Vec<Option<Centre>> = vec![None; len];
        for j in from..len {
            let lo = starts.at(j);
            if j < j0 || values[j].is_none() {
                continue;
            }
            global.slide(lo, j);
            let Some(oldest) = global.oldest() else {
                continue;
            };
            let (value, season_points) = if self.season.is_empty() {
                // One season: the whole window.
                (global.stats().quantile(0.5), global.len())
            } else {
                let season = &mut seasons[season_of[j]];
                season.slide(lo, j);
                let n = season.len();
                if n >= self.min_season_points {
                    (season.stats().quantile(0.5), n)
                } else {
                    (global.stats().quantile(0.5), n)
                }
            };
            centres[j] = value.map(|value| Centre {
                value,
                season_points,
                oldest,
            });
        }
        // Pass two: the residual of every point with a centre.
        let mut residual_members: Vec<usize> =
            (j0..len).filter(|&j| centres[j].is_some()).collect();
        let residual_of = |j: usize| match (values[j], centres[j]) {
            (Some(v), Some(c)) => {
                let r = (v - c.value).abs();
                if r.is_finite() { r } else { f64::MAX }
            }
            _ => 0.0,
        };
        if let Some(after) = self.exclude {
            residual_members = self.clean(series, &residual_members, &residual_of, after);
        }
        let residual_vals: Vec<f64> = residual_members.iter().map(|&j| residual_of(j)).collect();
        let mut residuals = Slider::new(residual_members, &residual_vals);
        let mut starts = Starts {
            series,
            window: &self.window,
            lo: 0,
        };
        let mut out = Vec::with_capacity(len - first);
        for i in first..len {
            let point = &series[i];
            let lo = starts.at(i);
            let Some(value) = values[i] else {
                out.push(unusable(point));
                continue;
            };
            let Some(c) = centres[i] else {
                out.push(Detection::skipped(
                    point.timestamp,
                    Some(value),
                    "too little history: no earlier point in the window",
                ));
                continue;
            };
            let span = point.timestamp - series[c.oldest].timestamp;
            if span < self.min_history {
                out.push(Detection::skipped(
                    point.timestamp,
                    Some(value),
                    format!(
                        "warming up: the history spans {} of the {} min_history",
                        HumanDuration::from_seconds(span.num_seconds()).as_str(),
                        HumanDuration::from_seconds(self.min_history.num_seconds()).as_str()
                    ),
                ));
                continue;
            }
            residuals.slide(lo, i);
            let n = residuals.len();
            if n < self.min_points {
                out.push(Detection::skipped(
                    point.timestamp,
                    Some(value),
                    format!(
                        "too little history: {n} of {} residuals needed",
                        self.min_points
                    ),
                ));
                continue;
            }
            let (scale, q) = self.scale(residuals.stats(), c.value);
            out.push(sigma_band(
                point.timestamp,
                value,
                c.value,
                scale,
                self.multiplier,
                || {
                    let mut stats = Map::new();
                    put(&mut stats, "center", c.value);
                    put(&mut stats, "scale", scale);
                    put(&mut stats, "residual_quantile", q);
                    stats.insert("season_points".into(), c.season_points.into());
                    stats.insert("n".into(), n.into());
                    stats
                },
            ));
        }
        out
    }
}

impl RobustSeasonalDetector {
    /// The scale of a residual window: the quantile, else the smallest non-zero
    /// residual, else `relative_floor × |centre|`.
    fn scale(&self, win: &OrderedWindow, centre: f64) -> (f64, f64) {
        let q = win.quantile(self.quantile).unwrap_or(0.0);
        let scale = if q > 0.0 {
            q
        } else {
            win.min_above(0.0)
                .unwrap_or(self.relative_floor * centre.abs())
        };
        (scale, q)
    }

    /// The residual members left after `exclude_anomalies`: a point is left out when
    /// it is flagged against the scale of all residuals before it (its own window),
    /// unless every usable point of the last `after` (at least two) is flagged too —
    /// a sustained level shift, accepted as the new normal.
    fn clean(
        &self,
        series: &[DataPoint],
        members: &[usize],
        residual_of: &dyn Fn(usize) -> f64,
        after: TimeDelta,
    ) -> Vec<usize> {
        let vals: Vec<f64> = members.iter().map(|&j| residual_of(j)).collect();
        let mut all = Slider::new(members.to_vec(), &vals);
        let mut starts = Starts {
            series,
            window: &self.window,
            lo: 0,
        };
        let mut flagged = vec![false; members.len()];
        for (k, &j) in members.iter().enumerate() {
            let lo = starts.at(j);
            all.slide(lo, j);
            if all.len() >= self.min_points {
                let (scale, _) = self.scale(all.stats(), 0.0);
                flagged[k] = vals[k] > self.multiplier * scale;
            }
        }
        // Level shifts: the newest unflagged member at or before each member.
        let mut kept = Vec::with_capacity(members.len());
        let mut last_normal: Option<usize> = None;
        let mut run_from = 0; // first member of the current window of `after`
        for (k, &j) in members.iter().enumerate() {
            if !flagged[k] {
                last_normal = Some(k);
                kept.push(j);
                continue;
            }
            let t = series[j].timestamp;
            let since = t
                .checked_sub_signed(after)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            while series[members[run_from]].timestamp < since {
                run_from += 1;
            }
            let all_flagged = last_normal.is_none_or(|n| n < run_from);
            // The run covers [t - after, t]: some flagged member at or before `since`
            // would need the points before the window, so ask for one at its start.
            let covers =
                k > run_from && series[members[run_from]].timestamp <= since + (t - since) / 8;
            if all_flagged && covers {
                kept.push(j);
            }
        }
        kept
    }
}

/// The first index inside the window of `series[j]` (`j` itself for an empty series tail).
fn starts_of(series: &[DataPoint], window: &Window, j: usize) -> usize {
    if j >= series.len() {
        return j;
    }
    let mut s = Starts {
        series,
        window,
        lo: 0,
    };
    s.at(j)
}

/// Reads the params and builds the detector; problems go into `params`.
fn read_detector(params: &mut Params<'_>) -> Option<Box<dyn Detector>> {
    RobustSeasonalDetector::from_params(params).map(|d| Box::new(d) as Box<dyn Detector>)
}

/// The factory registered as `robust_seasonal`.
pub(crate) fn factory() -> Arc<dyn DetectorFactory> {
    Arc::new(read_detector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn series(values: &[f64]) -> Vec<DataPoint> {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| DataPoint::new(t0 + TimeDelta::minutes(5 * i as i64), *v))
            .collect()
    }

    fn ctx() -> DetectionContext {
        DetectionContext {
            execution_time: Utc.with_ymd_and_hms(2024, 2, 1, 0, 0, 0).unwrap(),
            interval: TimeDelta::minutes(5),
        }
    }

    fn detector() -> RobustSeasonalDetector {
        RobustSeasonalDetector::default()
            .with_window(Window::Span(HumanDuration::from_seconds(86_400)))
            .with_season(vec![])
            .with_warm_up(TimeDelta::hours(2), 3, 3)
    }

    #[test]
    fn an_excluded_incident_does_not_hide_the_next() {
        let mut values: Vec<f64> = (0..600)
            .map(|i| 10.0 + ((i * 37) % 7) as f64 * 0.5)
            .collect();
        for v in &mut values[400..403] {
            *v += 100.0;
        }
        values[450] = 40.0;
        let s = series(&values);
        let kept = detector().detect(&s, 0, &ctx());
        assert!(kept[400].is_anomaly && kept[402].is_anomaly);
        assert!(!kept[450].is_anomaly, "the first incident sets the scale");
        let excluded = detector()
            .with_exclusion(Some(TimeDelta::hours(6)))
            .detect(&s, 0, &ctx());
        assert!(excluded[450].is_anomaly, "{:?}", excluded[450]);
    }

    #[test]
    fn zero_spread_falls_back_to_the_smallest_residual_then_the_floor() {
        // Mostly 5, one 6 early on: the quantile residual is 0, the smallest non-zero is 1.
        let mut values = vec![5.0; 100];
        values[10] = 6.0;
        values[99] = 8.0;
        let out =
            detector()
                .with_warm_up(TimeDelta::zero(), 1, 1)
                .detect(&series(&values), 0, &ctx());
        let d = &out[99];
        assert!(d.is_anomaly);
        assert_eq!(d.stats["scale"], 1.0);
        assert_eq!(d.score, Some(3.0));
        // All residuals zero: the floor is 1 % of the centre.
        let mut flat = vec![200.0; 50];
        flat[49] = 201.0;
        let out =
            detector()
                .with_warm_up(TimeDelta::zero(), 1, 1)
                .detect(&series(&flat), 0, &ctx());
        let d = &out[49];
        assert!(!d.is_anomaly, "within 1.1 × 1 % of 200: {d:?}");
        assert!((d.upper_bound.unwrap() - 202.2).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn warm_up_and_seasonal_centre() {
        // Hourly points with a daily shape: the centre of 12:00 is the 12:00 median.
        let values: Vec<f64> = (0..24 * 6).map(|i| (i % 24) as f64 * 10.0).collect();
        let mut s = series(&[]);
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        for (i, v) in values.iter().enumerate() {
            s.push(DataPoint::new(t0 + TimeDelta::hours(i as i64), *v));
        }
        let out = RobustSeasonalDetector::default().detect(&s, 0, &ctx());
        assert!(out[47].skipped.as_deref().unwrap().contains("warming up"));
        assert!(out[48].skipped.is_none());
        let d = &out[24 * 5 + 12];
        let centre = (d.lower_bound.unwrap() + d.upper_bound.unwrap()) / 2.0;
        assert!((centre - 120.0).abs() < 1e-9, "{d:?}");
        assert!(out.iter().all(|d| !d.is_anomaly));
    }
}
