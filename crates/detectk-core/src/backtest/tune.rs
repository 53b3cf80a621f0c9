//! `dtk tune`: search detector settings and alert policies over labelled history.
//!
//! A grid names detector candidates (a type and params) and alert conditions. In
//! both, a list value is a set of alternatives and every combination is tried; a
//! scalar is fixed. A param whose value is itself a list is written as a list of
//! lists (`seasonal_features: [[hour_of_day]]`). Each distinct detector setting
//! detects every series once; every policy variant is then replayed over those
//! detections, with the production alert policy (`alert::decide`). Detector settings run
//! in parallel on all cores.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::alert::AlertSettings;
use crate::backtest::labels::IncidentWindow;
use crate::backtest::replay::{detect_range, replay_policy};
use crate::backtest::score::{Scores, Tally, score_series};
use crate::config::Params;
use crate::model::{Context, DataPoint, DetectionRecord};
use crate::registry::Registry;
use crate::traits::{AlertKind, DetectionContext, Detector};

/// The built-in grid (YAML): unweighted z-score and MAD at three widths and two
/// windows, IQR at two multipliers, times consecutive 1/2, cooldown 0/60/360 minutes
/// and min_deviation_percent none/10 (168 candidates).
pub const DEFAULT_GRID: &str = r#"detectors:
  - type: zscore
    params: {use_weighted: false, n_sigma: [3.0, 4.0, 5.0], window_size: ["7 days", "30 days"]}
  - type: mad
    params: {use_weighted: false, n_sigma: [3.0, 4.0, 5.0], window_size: ["7 days", "30 days"]}
  - type: iqr
    params: {multiplier: [1.5, 3.0]}
conditions:
  consecutive_anomalies: [1, 2]
  cooldown_minutes: [0, 60, 360]
  min_deviation_percent: [null, 10]
"#;

/// A detector setting to try.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DetectorCandidate {
    /// Detector type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Params.
    pub params: Map<String, Value>,
}

/// A policy variant to try: the conditions as written and as parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PolicyCandidate {
    /// `alerter.conditions` as they would be written.
    pub conditions: Map<String, Value>,
    /// The parsed policy.
    #[serde(skip)]
    pub settings: AlertSettings,
}

/// An expanded grid.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Grid {
    /// Detector settings.
    pub detectors: Vec<DetectorCandidate>,
    /// Policy variants.
    pub policies: Vec<PolicyCandidate>,
}

impl Grid {
    /// Number of (detector, policy) combinations.
    pub fn size(&self) -> usize {
        self.detectors.len() * self.policies.len()
    }
}

/// Every combination of the alternatives in `map` (list values are alternatives).
fn expand(map: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let mut out = vec![Map::new()];
    for (key, value) in map {
        let choices: Vec<Value> = match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let mut next = Vec::with_capacity(out.len() * choices.len().max(1));
        for partial in &out {
            for choice in &choices {
                let mut m = partial.clone();
                if !choice.is_null() {
                    m.insert(key.clone(), choice.clone());
                }
                next.push(m);
            }
        }
        out = next;
    }
    out
}

/// Parses and expands a grid (YAML text); checks every detector setting against the
/// registry and every condition against the alert policy, reporting all problems.
pub fn parse_grid(text: &str, registry: &Registry) -> Result<Grid, Vec<String>> {
    let value = crate::yaml::parse(text).map_err(|e| vec![e.to_string()])?;
    let Some(root) = value.as_object() else {
        return Err(vec![
            "expected a mapping with `detectors` and/or `conditions`".into(),
        ]);
    };
    let mut problems = Vec::new();
    for key in root.keys() {
        if key != "detectors" && key != "conditions" {
            problems.push(format!(
                "{key}: unknown key (expected `detectors` and `conditions`)"
            ));
        }
    }
    let default: Value = crate::yaml::parse(DEFAULT_GRID).unwrap_or(Value::Null);
    let detectors_spec = root.get("detectors").unwrap_or(&default["detectors"]);
    let conditions_spec = root.get("conditions").unwrap_or(&default["conditions"]);

    let mut detectors = Vec::new();
    match detectors_spec {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("detectors[{i}]");
                let Some(kind) = item.get("type").and_then(Value::as_str) else {
                    problems.push(format!("{at}.type: is required"));
                    continue;
                };
                let params = match item.get("params") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(_) => {
                        problems.push(format!("{at}.params: expected a mapping"));
                        continue;
                    }
                };
                let factory = match registry.detector(kind) {
                    Ok(f) => f,
                    Err(e) => {
                        problems.push(format!("{at}.type: {e}"));
                        continue;
                    }
                };
                for params in expand(&params) {
                    let reader = Params::new(&params, format!("{at}.params"));
                    match factory.build(reader) {
                        Ok(_) => detectors.push(DetectorCandidate {
                            kind: kind.to_string(),
                            params,
                        }),
                        Err(e) => problems.extend(e.issues.iter().map(|i| i.to_string())),
                    }
                }
            }
        }
        _ => problems.push("detectors: expected a list of {type, params}".into()),
    }
    let mut policies = Vec::new();
    match conditions_spec {
        Value::Object(map) => {
            for conditions in expand(map) {
                let mut reader = Params::new(&conditions, "conditions");
                let mut no_params = Params::empty("alerter.params");
                let settings = AlertSettings::parse(true, &mut no_params, &mut reader);
                let report = reader.finish();
                if report.issues.is_empty() {
                    policies.push(PolicyCandidate {
                        conditions,
                        settings,
                    });
                } else {
                    problems.extend(report.issues.iter().map(|i| i.to_string()));
                }
            }
        }
        _ => problems.push("conditions: expected a mapping".into()),
    }
    problems.dedup();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Grid {
        detectors,
        policies,
    })
}

/// One metric's history as the search sees it.
#[derive(Debug, Clone)]
pub struct TuneSeries {
    /// Metric name.
    pub metric: String,
    /// Points, history before `from` included.
    pub series: Vec<DataPoint>,
    /// First scored point.
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// The metric's interval.
    pub interval: TimeDelta,
    /// Labelled incident windows.
    pub windows: Vec<IncidentWindow>,
}

/// A scored (detector, policy) combination.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Ranked {
    /// The detector setting.
    pub detector: DetectorCandidate,
    /// The policy.
    pub policy: PolicyCandidate,
    /// Counts over every series (positives are anomaly alerts).
    pub tally: Tally,
    /// Ratios.
    pub scores: Scores,
}

/// How to rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// Highest event F1 first.
    F1,
    /// Highest recall among settings with at most this many alerts per metric-week
    /// (ties: higher F1); settings over the budget come last.
    RecallWithin(f64),
}

fn rank(results: &mut [Ranked], objective: Objective) {
    let key = |r: &Ranked| -> (bool, f64, f64) {
        match objective {
            Objective::F1 => (true, r.scores.f1, -(r.tally.false_events as f64)),
            Objective::RecallWithin(budget) => {
                (r.scores.per_week <= budget, r.scores.recall, r.scores.f1)
            }
        }
    };
    results.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        kb.0.cmp(&ka.0)
            .then(kb.1.total_cmp(&ka.1))
            .then(kb.2.total_cmp(&ka.2))
    });
}

/// Scores every combination of `grid` over `inputs`, ranked by `objective`.
/// Uses up to `threads` threads (0: all cores).
pub fn search(
    registry: &Registry,
    grid: &Grid,
    inputs: &[TuneSeries],
    objective: Objective,
    threads: usize,
) -> Result<Vec<Ranked>, String> {
    let mut built: Vec<Box<dyn Detector>> = Vec::with_capacity(grid.detectors.len());
    for (i, c) in grid.detectors.iter().enumerate() {
        let factory = registry.detector(&c.kind).map_err(|e| e.to_string())?;
        let reader = Params::new(&c.params, format!("detectors[{i}].params"));
        match factory.build(reader) {
            Ok(d) => built.push(d.part),
            Err(e) => {
                let problems: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
                return Err(problems.join("; "));
            }
        }
    }
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(built.len().max(1));
    let next = AtomicUsize::new(0);
    // Per detector setting (by its index in the grid), its policies' results.
    let mut per_detector: Vec<(usize, Vec<Ranked>)> = Vec::with_capacity(built.len());
    let outcome: Result<(), String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<Vec<(usize, Vec<Ranked>)>, String> {
                    let mut mine = Vec::new();
                    loop {
                        let d = next.fetch_add(1, Ordering::Relaxed);
                        if d >= built.len() {
                            return Ok(mine);
                        }
                        let scored = score_detector(
                            built[d].as_ref(),
                            &grid.detectors[d],
                            &grid.policies,
                            inputs,
                        )?;
                        mine.push((d, scored));
                    }
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(Ok(part)) => per_detector.extend(part),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("a search thread panicked".into()),
            }
        }
        Ok(())
    });
    outcome?;
    // Grid order before the (stable) ranking, so ties rank the same on any number of threads.
    per_detector.sort_by_key(|(d, _)| *d);
    let mut results: Vec<Ranked> = per_detector.into_iter().flat_map(|(_, r)| r).collect();
    rank(&mut results, objective);
    Ok(results)
}

/// Detects every series once with `detector`, then replays every policy.
fn score_detector(
    detector: &dyn Detector,
    candidate: &DetectorCandidate,
    policies: &[PolicyCandidate],
    inputs: &[TuneSeries],
) -> Result<Vec<Ranked>, String> {
    let id = "candidate".to_string();
    let params = Value::Object(candidate.params.clone());
    let mut tallies = vec![Tally::default(); policies.len()];
    for input in inputs {
        let ctx = DetectionContext {
            execution_time: input.to,
            interval: input.interval,
        };
        let detections = detect_range(detector, &input.series, input.from, input.to, &ctx)
            .map_err(|e| format!("metric `{}`: {} {e}", input.metric, candidate.kind))?;
        let records: Vec<DetectionRecord> = detections
            .into_iter()
            .map(|detection| DetectionRecord {
                metric: input.metric.clone(),
                detector_id: id.clone(),
                detector_type: candidate.kind.clone(),
                detector_params: params.clone(),
                detection,
                alert_sent: false,
                context: Context::new(),
            })
            .collect();
        let weeks = (input.to - input.from).num_seconds() as f64 / (7.0 * 86_400.0);
        let ids = [id.clone()];
        for (p, policy) in policies.iter().enumerate() {
            let alerts =
                replay_policy(&policy.settings, &ids, &records, input.interval, None, None);
            let mut sent = alerts
                .iter()
                .filter(|a| a.kind == AlertKind::Anomaly)
                .map(|a| a.timestamp)
                .peekable();
            let scored: Vec<(DateTime<Utc>, bool)> = records
                .iter()
                .filter(|r| r.detection.skipped.is_none())
                .map(|r| {
                    let t = r.detection.timestamp;
                    while sent.peek().is_some_and(|s| *s < t) {
                        sent.next();
                    }
                    (t, sent.peek() == Some(&t))
                })
                .collect();
            tallies[p].add(&score_series(&scored, &input.windows, weeks));
        }
    }
    Ok(policies
        .iter()
        .zip(tallies)
        .map(|(policy, tally)| Ranked {
            detector: candidate.clone(),
            policy: policy.clone(),
            tally,
            scores: tally.scores(),
        })
        .collect())
}

/// The YAML block to paste into a metric config for a ranked setting.
pub fn yaml_block(best: &Ranked) -> String {
    let mut detector = Map::new();
    detector.insert("type".into(), Value::String(best.detector.kind.clone()));
    detector.insert("params".into(), Value::Object(best.detector.params.clone()));
    let mut alerter = Map::new();
    alerter.insert(
        "conditions".into(),
        Value::Object(best.policy.conditions.clone()),
    );
    let mut doc = Map::new();
    doc.insert(
        "detectors".into(),
        Value::Array(vec![Value::Object(detector)]),
    );
    doc.insert("alerter".into(), Value::Object(alerter));
    crate::yaml::to_string(&Value::Object(doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_are_alternatives_and_null_means_unset() {
        let map = json!({"a": [1, 2], "b": "x", "c": [null, 5]});
        let out = expand(map.as_object().unwrap());
        assert_eq!(out.len(), 4);
        assert_eq!(Value::Object(out[0].clone()), json!({"a": 1, "b": "x"}));
        assert_eq!(
            Value::Object(out[3].clone()),
            json!({"a": 2, "b": "x", "c": 5})
        );
        let nested = json!({"f": [["hour_of_day"]]});
        let out = expand(nested.as_object().unwrap());
        assert_eq!(Value::Object(out[0].clone()), json!({"f": ["hour_of_day"]}));
    }

    #[test]
    fn ranking_by_f1_and_by_recall_within_budget() {
        let make = |hits: usize, events: usize, positives: usize| {
            let tally = Tally {
                windows: 10,
                hits,
                false_events: events,
                points: 1000,
                positives,
                weeks: 1.0,
            };
            Ranked {
                detector: DetectorCandidate {
                    kind: format!("{hits}-{events}"),
                    params: Map::new(),
                },
                policy: PolicyCandidate {
                    conditions: Map::new(),
                    settings: AlertSettings::default(),
                },
                tally,
                scores: tally.scores(),
            }
        };
        let mut results = vec![make(9, 30, 40), make(6, 2, 8), make(8, 10, 18)];
        rank(&mut results, Objective::F1);
        let order: Vec<&str> = results.iter().map(|r| r.detector.kind.as_str()).collect();
        assert_eq!(order, ["6-2", "8-10", "9-30"]);
        rank(&mut results, Objective::RecallWithin(20.0));
        let order: Vec<&str> = results.iter().map(|r| r.detector.kind.as_str()).collect();
        assert_eq!(order, ["8-10", "6-2", "9-30"]);
    }
}
