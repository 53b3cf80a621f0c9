//! Event-level scoring (windows caught, false-alarm events) and the simulated alert policy.

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::{Detection, Direction};

/// What the harness keeps of one scored point.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// Timestamp of the point.
    pub ts: DateTime<Utc>,
    /// The detector's verdict.
    pub anomaly: bool,
    /// Side of the deviation of an anomaly.
    pub up: bool,
    /// `|percent_deviation|`; `None` when the centre is 0 (then no
    /// `min_deviation_percent` is met, as in the alert policy).
    pub deviation_pct: Option<f64>,
}

/// The scored points of a detector's output (skipped points are not scored).
pub fn verdicts(out: &[Detection]) -> Vec<Verdict> {
    out.iter()
        .filter(|d| d.skipped.is_none())
        .map(|d| Verdict {
            ts: d.timestamp,
            anomaly: d.is_anomaly,
            up: d.direction == Some(Direction::Up),
            deviation_pct: d.percent_deviation.map(f64::abs),
        })
        .collect()
}

/// A simulated alert policy (`alerter.conditions`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Minutes after a sent alert during which further alerts are suppressed.
    pub cooldown_minutes: i64,
    /// Anomalous points in a row (ending at the newest) needed to alert.
    pub consecutive: usize,
    /// `None` for both directions, `Some(true)` for up only, `Some(false)` for down only.
    pub up_only: Option<bool>,
    /// Minimum `|percent_deviation|` of an alerting point.
    pub min_deviation_percent: f64,
}

impl Policy {
    /// Every anomaly alerts.
    pub const NONE: Policy = Policy {
        cooldown_minutes: 0,
        consecutive: 1,
        up_only: None,
        min_deviation_percent: 0.0,
    };

    /// The `alerter.conditions` YAML of the policy.
    pub fn yaml(&self) -> String {
        let mut s = format!(
            "cooldown_minutes: {}\nconsecutive_anomalies: {}\n",
            self.cooldown_minutes, self.consecutive
        );
        s.push_str(match self.up_only {
            None => "direction: both\n",
            Some(true) => "direction: up\n",
            Some(false) => "direction: down\n",
        });
        if self.min_deviation_percent > 0.0 {
            s.push_str(&format!(
                "min_deviation_percent: {}\n",
                self.min_deviation_percent
            ));
        }
        s
    }

    /// Short label for tables.
    pub fn label(&self) -> String {
        let mut parts = vec![format!("cooldown {} min", self.cooldown_minutes)];
        if self.consecutive > 1 {
            parts.push(format!("consecutive {}", self.consecutive));
        }
        if let Some(up) = self.up_only {
            parts.push(if up { "up".into() } else { "down".into() });
        }
        if self.min_deviation_percent > 0.0 {
            parts.push(format!(
                "min_deviation_percent {}",
                self.min_deviation_percent
            ));
        }
        parts.join(", ")
    }

    /// Which points an alert is sent for: the point qualifies (anomalous, direction,
    /// deviation), the last `consecutive` scored points qualify, and no alert was sent
    /// for a point less than `cooldown_minutes` earlier.
    pub fn alerts(&self, v: &[Verdict]) -> Vec<bool> {
        let cooldown = TimeDelta::minutes(self.cooldown_minutes);
        let mut run = 0usize;
        let mut last: Option<DateTime<Utc>> = None;
        v.iter()
            .map(|p| {
                let ok = p.anomaly
                    && self.up_only.is_none_or(|up| up == p.up)
                    && (self.min_deviation_percent <= 0.0
                        || p.deviation_pct
                            .is_some_and(|d| d >= self.min_deviation_percent));
                run = if ok { run + 1 } else { 0 };
                let fire = ok
                    && run >= self.consecutive.max(1)
                    && last.is_none_or(|l| p.ts - l >= cooldown);
                if fire {
                    last = Some(p.ts);
                }
                fire
            })
            .collect()
    }
}

/// Event-level counts over a set of series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// Labelled windows.
    pub windows: usize,
    /// Windows with at least one flagged point inside.
    pub hits: usize,
    /// Runs of consecutive flagged points outside every window.
    pub false_events: usize,
    /// Scored points.
    pub points: usize,
}

impl Score {
    /// Scores one series: `flags[k]` says whether `v[k]` was flagged.
    pub fn of(v: &[Verdict], flags: &[bool], windows: &[(DateTime<Utc>, DateTime<Utc>)]) -> Self {
        let inside = |ts: DateTime<Utc>| windows.iter().any(|(a, b)| *a <= ts && ts <= *b);
        let hits = windows
            .iter()
            .filter(|(a, b)| {
                v.iter()
                    .zip(flags)
                    .any(|(p, f)| *f && *a <= p.ts && p.ts <= *b)
            })
            .count();
        let mut false_events = 0;
        let mut in_run = false;
        for (p, f) in v.iter().zip(flags) {
            let outside = *f && !inside(p.ts);
            if outside && !in_run {
                false_events += 1;
            }
            in_run = outside;
        }
        Self {
            windows: windows.len(),
            hits,
            false_events,
            points: v.len(),
        }
    }

    /// Adds another set's counts.
    pub fn add(&mut self, o: &Score) {
        self.windows += o.windows;
        self.hits += o.hits;
        self.false_events += o.false_events;
        self.points += o.points;
    }

    /// Recall: caught windows over all windows.
    pub fn recall(&self) -> f64 {
        self.hits as f64 / self.windows.max(1) as f64
    }

    /// Precision: caught windows over caught windows plus false-alarm events.
    pub fn precision(&self) -> f64 {
        let d = self.hits + self.false_events;
        if d == 0 {
            0.0
        } else {
            self.hits as f64 / d as f64
        }
    }

    /// F1 of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// False-alarm events per 1,000 scored points.
    pub fn fa_per_1000(&self) -> f64 {
        1000.0 * self.false_events as f64 / self.points.max(1) as f64
    }

    /// A Markdown table row: windows caught, false events, P, R, F1, FA/1000.
    pub fn cells(&self) -> String {
        format!(
            "{} / {} | {} | {:.3} | {:.3} | {:.3} | {:.2}",
            self.hits,
            self.windows,
            self.false_events,
            self.precision(),
            self.recall(),
            self.f1(),
            self.fa_per_1000()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn v(ts: &[i64], anomalies: &[bool]) -> Vec<Verdict> {
        ts.iter()
            .zip(anomalies)
            .map(|(t, a)| Verdict {
                ts: Utc.timestamp_opt(t * 60, 0).unwrap(),
                anomaly: *a,
                up: true,
                deviation_pct: Some(50.0),
            })
            .collect()
    }

    #[test]
    fn events_and_cooldown() {
        let t = |m: i64| Utc.timestamp_opt(m * 60, 0).unwrap();
        let pts = v(
            &[0, 10, 20, 30, 40, 50, 60],
            &[true, true, false, true, true, true, false],
        );
        let windows = [(t(30), t(35))];
        let s = Score::of(&pts, &Policy::NONE.alerts(&pts), &windows);
        assert_eq!((s.hits, s.false_events, s.points), (1, 2, 7));
        let cool = Policy {
            cooldown_minutes: 30,
            ..Policy::NONE
        };
        assert_eq!(
            cool.alerts(&pts),
            [true, false, false, true, false, false, false]
        );
        let two = Policy {
            consecutive: 2,
            ..Policy::NONE
        };
        assert_eq!(
            two.alerts(&pts),
            [false, true, false, false, true, true, false]
        );
    }
}
