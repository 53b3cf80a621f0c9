//! Event-level scoring over labelled incident windows.
//!
//! - A window is **caught** when at least one positive point (an anomaly verdict, or
//!   an alert sent) lies inside it.
//! - A **false-alarm event** is a run of consecutive positive points (consecutive in
//!   the list of scored points) lying outside every window.
//! - recall = hits / windows; precision = hits / (hits + false-alarm events);
//!   F1 = 2PR / (P + R); false-alarm events per 1,000 scored points; positives per week.
//!
//! Sets of series are scored by summing the counts ([`Tally::add`]) and computing the
//! ratios once, never by averaging ratios.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backtest::labels::IncidentWindow;

/// Counts behind the scores of one series or a set of series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Tally {
    /// Labelled incident windows.
    pub windows: usize,
    /// Windows caught.
    pub hits: usize,
    /// False-alarm events.
    pub false_events: usize,
    /// Scored points.
    pub points: usize,
    /// Positive points (anomaly verdicts or alerts sent).
    pub positives: usize,
    /// Weeks replayed.
    pub weeks: f64,
}

/// The ratios of a [`Tally`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Scores {
    /// hits / (hits + false events); 0 when there are neither.
    pub precision: f64,
    /// hits / windows; 0 when there are no windows.
    pub recall: f64,
    /// 2PR / (P + R); 0 when P + R is 0.
    pub f1: f64,
    /// False-alarm events per 1,000 scored points.
    pub false_events_per_1000: f64,
    /// Positive points per week.
    pub per_week: f64,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

impl Tally {
    /// Adds another series' counts.
    pub fn add(&mut self, other: &Tally) {
        self.windows += other.windows;
        self.hits += other.hits;
        self.false_events += other.false_events;
        self.points += other.points;
        self.positives += other.positives;
        self.weeks += other.weeks;
    }

    /// The ratios.
    ///
    /// ```
    /// use detectk_core::backtest::Tally;
    /// let mut t = Tally::default();
    /// (t.windows, t.hits, t.false_events, t.points, t.positives, t.weeks) = (4, 2, 2, 1000, 5, 2.0);
    /// let s = t.scores();
    /// assert_eq!((s.precision, s.recall, s.f1), (0.5, 0.5, 0.5));
    /// assert_eq!((s.false_events_per_1000, s.per_week), (2.0, 2.5));
    /// ```
    pub fn scores(&self) -> Scores {
        let precision = ratio(self.hits as f64, (self.hits + self.false_events) as f64);
        let recall = ratio(self.hits as f64, self.windows as f64);
        Scores {
            precision,
            recall,
            f1: ratio(2.0 * precision * recall, precision + recall),
            false_events_per_1000: ratio(1000.0 * self.false_events as f64, self.points as f64),
            per_week: ratio(self.positives as f64, self.weeks),
        }
    }
}

/// Scores one series: `points` are the scored points in time order, each with its
/// verdict (true = positive); `weeks` is the replayed time span.
pub fn score_series(
    points: &[(DateTime<Utc>, bool)],
    windows: &[IncidentWindow],
    weeks: f64,
) -> Tally {
    let mut caught = vec![false; windows.len()];
    let mut false_events = 0;
    let mut positives = 0;
    let mut in_false_run = false;
    for &(t, positive) in points {
        let mut inside = false;
        for (i, w) in windows.iter().enumerate() {
            if w.contains(t) {
                inside = true;
                if positive {
                    caught[i] = true;
                }
            }
        }
        if positive {
            positives += 1;
        }
        let false_positive = positive && !inside;
        if false_positive && !in_false_run {
            false_events += 1;
        }
        in_false_run = false_positive;
    }
    Tally {
        windows: windows.len(),
        hits: caught.iter().filter(|c| **c).count(),
        false_events,
        points: points.len(),
        positives,
        weeks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn t(i: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(10 * i)
    }

    fn series(flags: &str) -> Vec<(DateTime<Utc>, bool)> {
        flags
            .chars()
            .enumerate()
            .map(|(i, c)| (t(i as i64), c == '1'))
            .collect()
    }

    fn w(a: i64, b: i64) -> IncidentWindow {
        IncidentWindow {
            start: t(a),
            end: t(b),
        }
    }

    #[test]
    fn runs_outside_windows_are_single_events() {
        // points 0..12; window [5, 7]; positives: 1,2,3 (one run), 6 (hit), 9 and 11 (two runs)
        let tally = score_series(&series("011100100101"), &[w(5, 7)], 1.0);
        assert_eq!(tally.hits, 1);
        assert_eq!(tally.false_events, 3);
        assert_eq!(tally.points, 12);
        assert_eq!(tally.positives, 6);
        let s = tally.scores();
        assert_eq!(s.precision, 0.25);
        assert_eq!(s.recall, 1.0);
        assert_eq!(s.f1, 0.4);
        assert_eq!(s.false_events_per_1000, 250.0);
        assert_eq!(s.per_week, 6.0);
    }

    #[test]
    fn a_point_inside_a_window_splits_a_false_run_and_edges_are_inclusive() {
        // window [2, 2]: positives 1,2,3 are a false event, a hit, a false event.
        let tally = score_series(&series("0111"), &[w(2, 2)], 1.0);
        assert_eq!((tally.hits, tally.false_events), (1, 2));
        // windows at the very first and last points are caught.
        let tally = score_series(&series("1001"), &[w(0, 0), w(3, 5), w(7, 9)], 1.0);
        assert_eq!((tally.hits, tally.windows, tally.false_events), (2, 3, 0));
    }

    #[test]
    fn nothing_positive_scores_zero_not_nan() {
        let s = score_series(&series("0000"), &[w(1, 2)], 0.0).scores();
        assert_eq!(
            (s.precision, s.recall, s.f1, s.per_week),
            (0.0, 0.0, 0.0, 0.0)
        );
        let s = score_series(&[], &[], 0.0).scores();
        assert_eq!(s.false_events_per_1000, 0.0);
    }

    #[test]
    fn totals_sum_counts_before_dividing() {
        let a = score_series(&series("1100"), &[w(0, 0)], 1.0); // 1 hit, 1 false event
        let b = score_series(&series("0000"), &[w(1, 1), w(2, 2)], 1.0); // 2 missed
        let mut total = Tally::default();
        total.add(&a);
        total.add(&b);
        assert_eq!(
            (total.hits, total.windows, total.false_events, total.points),
            (1, 3, 1, 8)
        );
        let s = total.scores();
        assert_eq!(s.precision, 0.5);
        assert!((s.recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.f1 - 0.4).abs() < 1e-12);
    }
}
