//! Alert severity (`info`, `warning`, `critical`), derived from the score and the
//! deviation of the detections behind an alert with configurable cut-offs. Messages
//! carry it (templates, PagerDuty), and routing may require a minimum.

use serde::Serialize;

use crate::config::Params;
use crate::model::DetectionRecord;
use crate::traits::AlertKind;

/// How serious an alert is; ordered `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Recoveries, test messages and anomalies below the warning cut-offs.
    #[default]
    Info,
    /// An anomaly at or above a warning cut-off.
    Warning,
    /// An anomaly at or above a critical cut-off.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// Config and template form: `info`, `warning`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses `info`, `warning` or `critical`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Score and deviation cut-offs (`alerter.conditions.severity_cutoffs` or the
/// project defaults). An anomaly reaching either cut-off of a level gets that level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SeverityCutoffs {
    /// Score (e.g. sigmas for MAD/z-score) from which an anomaly is `warning`.
    pub warning_score: f64,
    /// Score from which an anomaly is `critical`.
    pub critical_score: f64,
    /// `|percent_deviation|` from which an anomaly is `warning` (unset: not used).
    pub warning_deviation_percent: Option<f64>,
    /// `|percent_deviation|` from which an anomaly is `critical` (unset: not used).
    pub critical_deviation_percent: Option<f64>,
}

impl Default for SeverityCutoffs {
    /// `warning` from score 3 (the detectors' default `n_sigma`), `critical` from 6.
    fn default() -> Self {
        Self {
            warning_score: 3.0,
            critical_score: 6.0,
            warning_deviation_percent: None,
            critical_deviation_percent: None,
        }
    }
}

impl SeverityCutoffs {
    /// The severity of an alert of `kind` about `detections` (those that fired):
    /// the highest level any of them reaches. Recoveries and tests are `info`.
    ///
    /// ```
    /// use detectk_core::alert::{Severity, SeverityCutoffs};
    /// let c = SeverityCutoffs::default();
    /// assert_eq!(c.level(Some(7.5), None), Severity::Critical);
    /// assert_eq!(c.level(Some(3.2), Some(-12.0)), Severity::Warning);
    /// assert_eq!(c.level(Some(1.0), None), Severity::Info);
    /// ```
    pub fn classify(&self, kind: AlertKind, detections: &[DetectionRecord]) -> Severity {
        if kind != AlertKind::Anomaly {
            return Severity::Info;
        }
        detections
            .iter()
            .filter(|r| r.detection.is_anomaly)
            .map(|r| self.level(r.detection.score, r.detection.percent_deviation))
            .max()
            .unwrap_or(Severity::Info)
    }

    /// The level of one anomalous detection with this score and deviation.
    pub fn level(&self, score: Option<f64>, percent_deviation: Option<f64>) -> Severity {
        let score = score.map(f64::abs).filter(|s| !s.is_nan());
        let deviation = percent_deviation.map(f64::abs).filter(|d| !d.is_nan());
        let reaches = |score_cut: f64, deviation_cut: Option<f64>| {
            score.is_some_and(|s| s >= score_cut)
                || deviation_cut.is_some_and(|cut| deviation.is_some_and(|d| d >= cut))
        };
        if reaches(self.critical_score, self.critical_deviation_percent) {
            Severity::Critical
        } else if reaches(self.warning_score, self.warning_deviation_percent) {
            Severity::Warning
        } else {
            Severity::Info
        }
    }

    /// Reads the cut-offs from a `severity_cutoffs` mapping (`warning_score`,
    /// `critical_score`, `warning_deviation_percent`, `critical_deviation_percent`),
    /// starting from `base`; problems are recorded in `params`.
    pub fn parse(params: &mut Params<'_>, base: SeverityCutoffs) -> Self {
        let mut cut = base;
        cut.warning_score = params.or("warning_score", base.warning_score);
        cut.critical_score = params.or("critical_score", base.critical_score);
        cut.warning_deviation_percent = params
            .optional("warning_deviation_percent")
            .or(base.warning_deviation_percent);
        cut.critical_deviation_percent = params
            .optional("critical_deviation_percent")
            .or(base.critical_deviation_percent);
        for (key, value) in [
            ("warning_score", Some(cut.warning_score)),
            ("critical_score", Some(cut.critical_score)),
            ("warning_deviation_percent", cut.warning_deviation_percent),
            ("critical_deviation_percent", cut.critical_deviation_percent),
        ] {
            if let Some(v) = value {
                params.check(v.is_finite() && v >= 0.0, key, || {
                    format!("must be a number at least 0, got {v}")
                });
            }
        }
        params.check(
            cut.critical_score >= cut.warning_score,
            "critical_score",
            || {
                format!(
                    "must be at least warning_score ({}), got {}",
                    cut.warning_score, cut.critical_score
                )
            },
        );
        if let (Some(w), Some(c)) = (
            cut.warning_deviation_percent,
            cut.critical_deviation_percent,
        ) {
            params.check(c >= w, "critical_deviation_percent", || {
                format!("must be at least warning_deviation_percent ({w}), got {c}")
            });
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn parse(v: Value) -> (SeverityCutoffs, Vec<String>) {
        let m: Map<String, Value> = v.as_object().cloned().unwrap();
        let mut p = Params::new(&m, "alerter.conditions.severity_cutoffs");
        let c = SeverityCutoffs::parse(&mut p, SeverityCutoffs::default());
        (c, p.finish().issues.iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn deviation_cutoffs_raise_the_level_when_set() {
        let (c, issues) = parse(json!({"critical_score": 8, "critical_deviation_percent": 50}));
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(c.level(Some(7.0), Some(10.0)), Severity::Warning);
        assert_eq!(c.level(Some(4.0), Some(-60.0)), Severity::Critical);
        assert_eq!(c.level(None, Some(-60.0)), Severity::Critical);
        assert_eq!(c.level(None, None), Severity::Info);
    }

    #[test]
    fn inconsistent_cutoffs_are_reported_together() {
        let (_, issues) = parse(json!({"warning_score": 5, "critical_score": 2,
            "warning_deviation_percent": -1, "cutoff": 1}));
        assert_eq!(
            issues,
            [
                "alerter.conditions.severity_cutoffs.warning_deviation_percent: must be a number at least 0, got -1",
                "alerter.conditions.severity_cutoffs.critical_score: must be at least warning_score (5), got 2",
                "alerter.conditions.severity_cutoffs.cutoff: unknown key",
            ]
        );
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(Severity::parse("high"), None);
    }
}
