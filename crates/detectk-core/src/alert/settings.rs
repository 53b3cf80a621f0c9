//! The alert policy as configured: `alerter.enabled`, `alerter.conditions` and the
//! policy keys of `alerter.params` (`cooldown_minutes`, `message_template`).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::alert::severity::{Severity, SeverityCutoffs};
use crate::alert::template;
use crate::config::Params;
use crate::error::ConfigIssue;

/// Default cooldown when neither `alerter.params` nor `alerter.conditions` sets one
/// (the default of Python detectk's alerters).
pub const DEFAULT_COOLDOWN_MINUTES: u64 = 60;

/// Which anomaly directions may trigger an alert (`conditions.direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DirectionFilter {
    /// Only values above the expected range.
    Up,
    /// Only values below the expected range.
    Down,
    /// Either side.
    Both,
    /// Either side, but every point of a consecutive run on the same side
    /// (Python detectk's `one`).
    One,
}

impl DirectionFilter {
    /// The config spellings, in the order the docs list them.
    pub const CHOICES: &'static [&'static str] = &["both", "up", "down", "one"];

    fn parse(s: &str) -> Self {
        match s {
            "up" => Self::Up,
            "down" => Self::Down,
            "one" => Self::One,
            _ => Self::Both,
        }
    }
}

/// How many of a metric's detectors must flag a point (`conditions.agreement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Agreement {
    /// At least one detector.
    Any,
    /// Every configured detector.
    All,
    /// More than half of the configured detectors.
    Majority,
}

impl Agreement {
    /// The config spellings.
    pub const CHOICES: &'static [&'static str] = &["any", "all", "majority"];

    fn parse(s: &str) -> Self {
        match s {
            "all" => Self::All,
            "majority" => Self::Majority,
            _ => Self::Any,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::All => "all",
            Self::Majority => "majority",
        }
    }

    /// Whether `agreeing` detectors out of `total` are enough.
    ///
    /// ```
    /// use detectk_core::alert::Agreement;
    /// assert!(Agreement::Majority.is_met(2, 3));
    /// assert!(!Agreement::Majority.is_met(1, 2));
    /// assert!(!Agreement::All.is_met(2, 3));
    /// ```
    pub fn is_met(self, agreeing: usize, total: usize) -> bool {
        match self {
            Self::Any => agreeing >= 1,
            Self::All => total > 0 && agreeing == total,
            Self::Majority => agreeing * 2 > total,
        }
    }
}

/// `conditions.min_anomaly_share`: alert only when at least `k` of the newest `n`
/// points (the newest included) are anomalous as the conditions require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct AnomalyShare {
    /// Anomalous points needed (1 ..= n).
    pub k: u32,
    /// Points looked at, ending at the newest (1 ..= [`AnomalyShare::MAX_N`]).
    pub n: u32,
}

impl AnomalyShare {
    /// Largest accepted `n` (a day of 5-minute points).
    pub const MAX_N: u32 = 288;
}

/// What `alerter` says beyond the channel: whether to send, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSettings {
    /// `alerter.enabled`: false means detect and store, never send.
    pub enabled: bool,
    /// Minutes between two anomaly alerts of the metric, measured between the
    /// timestamps of the points alerted on (0 disables the cooldown).
    pub cooldown_minutes: u64,
    /// How many newest points in a row must be anomalous before alerting (at least 1).
    pub consecutive_anomalies: u32,
    /// Which anomaly directions may trigger an alert.
    pub direction: DirectionFilter,
    /// Smallest `|percent_deviation|` that may trigger an alert.
    pub min_deviation_percent: Option<f64>,
    /// At least `k` of the newest `n` points must be anomalous (unset: no such rule).
    pub min_anomaly_share: Option<AnomalyShare>,
    /// Never alert about a point whose value is below this (tiny counts never page).
    pub min_value: Option<f64>,
    /// Never alert when `|value - expected|` is below this (in the metric's unit).
    pub min_abs_deviation: Option<f64>,
    /// Send a recovery message when the metric is back to normal after an alert.
    pub notify_recovery: bool,
    /// How many of the metric's detectors must agree.
    pub agreement: Agreement,
    /// A minijinja template replacing the default message text.
    pub message_template: Option<String>,
    /// `report_url`: a link pattern to a report or chart (see
    /// [`crate::alert::expand_report_url`]), added to every message.
    pub report_url: Option<String>,
    /// Never alert about a detection whose `|score|` is below this (routing: page
    /// only on big deviations).
    pub min_score: Option<f64>,
    /// Never alert below this severity (`conditions.severity`).
    pub min_severity: Option<Severity>,
    /// Cut-offs giving an alert its severity (`conditions.severity_cutoffs`).
    pub severity_cutoffs: SeverityCutoffs,
}

/// Largest `cooldown_minutes`: 365 days.
pub const MAX_COOLDOWN_MINUTES: u64 = 365 * 24 * 60;

/// Largest `consecutive_anomalies`.
pub const MAX_CONSECUTIVE_ANOMALIES: u32 = 10_000;

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            cooldown_minutes: DEFAULT_COOLDOWN_MINUTES,
            consecutive_anomalies: 1,
            direction: DirectionFilter::Both,
            min_deviation_percent: None,
            min_anomaly_share: None,
            min_value: None,
            min_abs_deviation: None,
            notify_recovery: false,
            agreement: Agreement::Any,
            message_template: None,
            report_url: None,
            min_score: None,
            min_severity: None,
            severity_cutoffs: SeverityCutoffs::default(),
        }
    }
}

impl AlertSettings {
    /// Reads the policy from `alerter.params` (keys the core handles for every channel:
    /// `cooldown_minutes`, `message_template`, `report_url`) and `alerter.conditions`.
    ///
    /// Problems are recorded in the readers; the caller calls `finish()` on both
    /// after the channel factory has read its own keys from `params`.
    pub fn parse(enabled: bool, params: &mut Params<'_>, conditions: &mut Params<'_>) -> Self {
        let defaults = Self::default();
        let in_params: Option<u64> = params.optional("cooldown_minutes");
        let in_conditions: Option<u64> = conditions.optional("cooldown_minutes");
        if let (Some(a), Some(b)) = (in_params, in_conditions)
            && a != b
        {
            conditions.error(
                "cooldown_minutes",
                format!("is {b} but alerter.params.cooldown_minutes is {a}; set it in one place"),
            );
        }
        let too_long = |minutes: u64| {
            format!("is {minutes}; at most {MAX_COOLDOWN_MINUTES} minutes (365 days) are allowed")
        };
        if let Some(m) = in_params {
            params.check(m <= MAX_COOLDOWN_MINUTES, "cooldown_minutes", || {
                too_long(m)
            });
        }
        if let Some(m) = in_conditions {
            conditions.check(m <= MAX_COOLDOWN_MINUTES, "cooldown_minutes", || {
                too_long(m)
            });
        }
        let alias: Option<u32> = conditions.optional("min_consecutive");
        let explicit: Option<u32> = conditions.optional("consecutive_anomalies");
        if let (Some(a), Some(b)) = (alias, explicit)
            && a != b
        {
            conditions.error(
                "min_consecutive",
                format!("is {a} but consecutive_anomalies is {b}; set one of them"),
            );
        }
        let consecutive_anomalies: u32 = explicit.or(alias).unwrap_or(1);
        conditions.check(consecutive_anomalies >= 1, "consecutive_anomalies", || {
            "must be at least 1".into()
        });
        conditions.check(
            consecutive_anomalies <= MAX_CONSECUTIVE_ANOMALIES,
            "consecutive_anomalies",
            || {
                format!(
                    "is {consecutive_anomalies}; at most {MAX_CONSECUTIVE_ANOMALIES} are allowed"
                )
            },
        );
        let direction = DirectionFilter::parse(&conditions.choice(
            "direction",
            DirectionFilter::CHOICES,
            "both",
        ));
        let min_deviation_percent: Option<f64> = conditions.optional("min_deviation_percent");
        if let Some(m) = min_deviation_percent {
            conditions.check(m.is_finite() && m >= 0.0, "min_deviation_percent", || {
                format!("must be a number >= 0, got {m}")
            });
        }
        let min_anomaly_share = parse_share(conditions);
        let min_value: Option<f64> = conditions.optional("min_value");
        if let Some(m) = min_value {
            conditions.check(m.is_finite(), "min_value", || {
                format!("must be a finite number, got {m}")
            });
        }
        let min_abs_deviation: Option<f64> = conditions.optional("min_abs_deviation");
        if let Some(m) = min_abs_deviation {
            conditions.check(m.is_finite() && m >= 0.0, "min_abs_deviation", || {
                format!("must be a number >= 0, got {m}")
            });
        }
        let notify_recovery = conditions.or("notify_recovery", false);
        let agreement =
            Agreement::parse(&conditions.choice("agreement", Agreement::CHOICES, "any"));
        let min_score: Option<f64> = conditions.optional("min_score");
        if let Some(m) = min_score {
            conditions.check(m.is_finite() && m >= 0.0, "min_score", || {
                format!("must be a number >= 0, got {m}")
            });
        }
        let min_severity = conditions.optional::<String>("severity").and_then(|text| {
            match Severity::parse(&text) {
                Some(s) => Some(s),
                None => {
                    conditions.error(
                        "severity",
                        format!(
                            "unknown severity {text:?}; expected one of: info, warning, critical"
                        ),
                    );
                    None
                }
            }
        });
        let severity_cutoffs = match conditions.optional::<Map<String, Value>>("severity_cutoffs") {
            Some(map) => {
                let mut reader = Params::new(&map, conditions.path_of("severity_cutoffs"));
                let cutoffs = SeverityCutoffs::parse(&mut reader, SeverityCutoffs::default());
                let report = reader.finish();
                for issue in report.issues {
                    conditions.push_issue(issue);
                }
                cutoffs
            }
            None => SeverityCutoffs::default(),
        };
        let message_template: Option<String> = params.optional("message_template");
        if let Some(source) = &message_template
            && let Err(problem) = template::validate_template(source)
        {
            params.error("message_template", problem);
        }
        let report_url: Option<String> = params.optional("report_url");
        if let Some(pattern) = &report_url
            && let Err(problem) = crate::alert::check_report_url(pattern)
        {
            params.error_with_hint(
                "report_url",
                problem,
                "e.g. https://reports.example.com/{metric}.html#{timestamp}",
            );
        }
        Self {
            enabled,
            cooldown_minutes: in_conditions
                .or(in_params)
                .unwrap_or(defaults.cooldown_minutes),
            consecutive_anomalies: consecutive_anomalies.max(1),
            direction,
            min_deviation_percent,
            min_anomaly_share,
            min_value,
            min_abs_deviation,
            notify_recovery,
            agreement,
            message_template,
            report_url,
            min_score,
            min_severity,
            severity_cutoffs,
        }
    }
}

/// Checks a `conditions` mapping at `path` (every problem, unknown keys included):
/// what `detectk_project.yaml` defaults are checked with.
pub fn check_conditions(conditions: &Map<String, Value>, path: &str) -> Vec<ConfigIssue> {
    let empty = Map::new();
    let mut params = Params::new(&empty, "");
    let mut reader = Params::new(conditions, path);
    let _ = AlertSettings::parse(true, &mut params, &mut reader);
    reader.finish().issues
}

/// Reads `min_anomaly_share`: `{k: 2, n: 3}` or `{share: 0.5, n: 6}` (k = ceil(share * n)).
fn parse_share(conditions: &mut Params<'_>) -> Option<AnomalyShare> {
    const KEY: &str = "min_anomaly_share";
    const FORMS: &str = "write `{k: 2, n: 3}` (2 of the last 3 points) or `{share: 0.5, n: 6}`";
    let raw = conditions.raw(KEY)?;
    let Some(map) = raw.as_object() else {
        conditions.error_with_hint(KEY, "expected a mapping", FORMS);
        return None;
    };
    let mut ok = true;
    for key in map.keys() {
        if !["k", "n", "share"].contains(&key.as_str()) {
            conditions.error_with_hint(&format!("{KEY}.{key}"), "unknown key", FORMS);
            ok = false;
        }
    }
    let mut reader = Params::new(map, conditions.path_of(KEY));
    let n: Option<u64> = reader.required("n");
    let k: Option<u64> = reader.optional("k");
    let share: Option<f64> = reader.optional("share");
    for issue in reader.finish_known_only().issues {
        let key = issue
            .path
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        conditions.error(&format!("{KEY}.{key}"), issue.message);
        ok = false;
    }
    let max = u64::from(AnomalyShare::MAX_N);
    if let Some(n) = n
        && !(1..=max).contains(&n)
    {
        conditions.error(&format!("{KEY}.n"), format!("must be 1 ..= {max}, got {n}"));
        ok = false;
    }
    let k = match (k, share) {
        (Some(_), Some(_)) => {
            conditions.error_with_hint(KEY, "set `k` or `share`, not both", FORMS);
            return None;
        }
        (None, None) => {
            conditions.error_with_hint(KEY, "needs `k` or `share`", FORMS);
            return None;
        }
        (Some(k), None) => k,
        (None, Some(share)) => {
            if !(share > 0.0 && share <= 1.0) {
                conditions.error(
                    &format!("{KEY}.share"),
                    format!("must be in (0, 1], got {share}"),
                );
                return None;
            }
            (share * n? as f64 - 1e-9).ceil().max(1.0) as u64
        }
    };
    let n = n?;
    if k < 1 || k > n {
        conditions.error(
            &format!("{KEY}.k"),
            format!("must be 1 ..= n ({n}), got {k}"),
        );
        ok = false;
    }
    ok.then_some(AnomalyShare {
        k: k as u32,
        n: n as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn parse(params: Value, conditions: Value) -> (AlertSettings, Vec<String>) {
        let p: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
        let c: Map<String, Value> = conditions.as_object().cloned().unwrap_or_default();
        let mut pr = Params::new(&p, "alerter.params");
        let mut cr = Params::new(&c, "alerter.conditions");
        let s = AlertSettings::parse(true, &mut pr, &mut cr);
        let mut issues: Vec<String> = pr.finish().issues.iter().map(|i| i.to_string()).collect();
        issues.extend(cr.finish().issues.iter().map(|i| i.to_string()));
        (s, issues)
    }

    #[test]
    fn defaults_match_python_alerters() {
        let (s, issues) = parse(json!({}), json!({}));
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(s, AlertSettings::default());
        assert_eq!(s.cooldown_minutes, 60);
    }

    #[test]
    fn report_url_is_read_and_a_bad_placeholder_is_named() {
        let (s, issues) = parse(
            json!({"report_url": "https://r.example/{metric}#{epoch_ms}"}),
            json!({}),
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            s.report_url.as_deref(),
            Some("https://r.example/{metric}#{epoch_ms}")
        );
        let (_, issues) = parse(json!({"report_url": "https://r.example/{name}"}), json!({}));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(
            issues[0].contains("alerter.params.report_url") && issues[0].contains("{name}"),
            "{issues:?}"
        );
    }

    #[test]
    fn reads_every_condition() {
        let (s, issues) = parse(
            json!({"cooldown_minutes": 30, "message_template": "{{ metric_name }}"}),
            json!({"consecutive_anomalies": 3, "direction": "down", "min_deviation_percent": 12.5,
                   "notify_recovery": true, "agreement": "majority", "cooldown_minutes": 30}),
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(s.cooldown_minutes, 30);
        assert_eq!(s.consecutive_anomalies, 3);
        assert_eq!(s.direction, DirectionFilter::Down);
        assert_eq!(s.min_deviation_percent, Some(12.5));
        assert!(s.notify_recovery);
        assert_eq!(s.agreement, Agreement::Majority);
        assert_eq!(s.message_template.as_deref(), Some("{{ metric_name }}"));
    }

    #[test]
    fn reads_the_floor_and_share_conditions() {
        let (s, issues) = parse(
            json!({}),
            json!({"min_anomaly_share": {"k": 2, "n": 3}, "min_value": 5, "min_abs_deviation": 2.5}),
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(s.min_anomaly_share, Some(AnomalyShare { k: 2, n: 3 }));
        assert_eq!(s.min_value, Some(5.0));
        assert_eq!(s.min_abs_deviation, Some(2.5));
        let (s, issues) = parse(
            json!({}),
            json!({"min_anomaly_share": {"share": 0.5, "n": 6}}),
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(s.min_anomaly_share, Some(AnomalyShare { k: 3, n: 6 }));
        let (s, _) = parse(
            json!({}),
            json!({"min_anomaly_share": {"share": 0.3, "n": 6}}),
        );
        assert_eq!(s.min_anomaly_share, Some(AnomalyShare { k: 2, n: 6 }));
    }

    #[test]
    fn bad_share_and_floors_are_all_reported() {
        let (s, issues) = parse(
            json!({}),
            json!({"min_anomaly_share": {"k": 4, "n": 3, "m": 1}, "min_abs_deviation": -1,
                   "min_value": "x"}),
        );
        let joined = issues.join("\n");
        assert!(s.min_anomaly_share.is_none());
        assert!(
            joined.contains("alerter.conditions.min_anomaly_share.m: unknown key"),
            "{joined}"
        );
        assert!(
            joined.contains("alerter.conditions.min_anomaly_share.k: must be 1 ..= n (3), got 4"),
            "{joined}"
        );
        assert!(
            joined.contains("alerter.conditions.min_abs_deviation: must be a number >= 0"),
            "{joined}"
        );
        assert!(
            joined.contains("alerter.conditions.min_value: expected a number"),
            "{joined}"
        );
        assert_eq!(issues.len(), 4, "{joined}");
        for (conditions, expected) in [
            (
                json!({"min_anomaly_share": 2}),
                "min_anomaly_share: expected a mapping",
            ),
            (
                json!({"min_anomaly_share": {"k": 1}}),
                "min_anomaly_share.n: is required",
            ),
            (
                json!({"min_anomaly_share": {"n": 3}}),
                "min_anomaly_share: needs `k` or `share`",
            ),
            (
                json!({"min_anomaly_share": {"n": 3, "k": 1, "share": 0.5}}),
                "not both",
            ),
            (
                json!({"min_anomaly_share": {"n": 3, "share": 1.5}}),
                "share: must be in (0, 1]",
            ),
            (
                json!({"min_anomaly_share": {"n": 0, "k": 1}}),
                "min_anomaly_share.n: must be 1 ..= 288",
            ),
        ] {
            let (_, issues) = parse(json!({}), conditions.clone());
            assert!(
                issues.iter().any(|i| i.contains(expected)),
                "{conditions}: {issues:?}"
            );
        }
    }

    #[test]
    fn cooldown_in_both_places_must_agree() {
        let (_, issues) = parse(
            json!({"cooldown_minutes": 60}),
            json!({"cooldown_minutes": 30}),
        );
        assert_eq!(
            issues,
            vec![
                "alerter.conditions.cooldown_minutes: is 30 but alerter.params.cooldown_minutes is 60; set it in one place"
            ]
        );
    }

    #[test]
    fn bad_values_are_reported_with_paths() {
        let (_, issues) = parse(
            json!({"message_template": "{{ value | nosuchfilter }}"}),
            json!({"consecutive_anomalies": 0, "direction": "sideways", "min_deviation_percent": -1,
                   "agreement": "most", "consecutiv_anomalies": 2}),
        );
        let joined = issues.join("\n");
        assert!(
            joined.contains("alerter.params.message_template: "),
            "{joined}"
        );
        assert!(joined.contains("nosuchfilter"), "{joined}");
        assert!(joined.contains("alerter.conditions.consecutive_anomalies: must be at least 1"));
        assert!(joined.contains("alerter.conditions.direction: unknown value \"sideways\""));
        assert!(joined.contains("alerter.conditions.min_deviation_percent: must be a number >= 0"));
        assert!(joined.contains("alerter.conditions.agreement: unknown value \"most\""));
        assert!(joined.contains("alerter.conditions.consecutiv_anomalies: unknown key"));
        assert_eq!(issues.len(), 6, "{joined}");
    }

    #[test]
    fn routing_conditions_parse_and_min_consecutive_is_an_alias() {
        let (s, issues) = parse(
            json!({}),
            json!({"min_score": 6, "severity": "warning", "min_consecutive": 3,
                   "severity_cutoffs": {"critical_score": 9}}),
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(s.min_score, Some(6.0));
        assert_eq!(s.min_severity, Some(crate::alert::Severity::Warning));
        assert_eq!(s.consecutive_anomalies, 3);
        assert_eq!(s.severity_cutoffs.critical_score, 9.0);
        let (_, issues) = parse(
            json!({}),
            json!({"min_consecutive": 2, "consecutive_anomalies": 3}),
        );
        assert_eq!(
            issues,
            [
                "alerter.conditions.min_consecutive: is 2 but consecutive_anomalies is 3; set one of them"
            ]
        );
    }
}
