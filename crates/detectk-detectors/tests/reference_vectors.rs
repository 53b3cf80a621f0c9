//! Compares every detector with vectors written by the Python reference
//! (`tests/reference/generate.py`, detectk-detectors 0.2.0 `detect()` with a history
//! of the points strictly before each scored one).
//!
//! `DETECTK_REFERENCE_VECTORS=/path/to/vectors-full.jsonl` runs the same check on a
//! larger file generated with `generate.py full`.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::config::Params;
use detectk_core::{DataPoint, Detection, DetectionContext, Registry};
use serde_json::{Map, Value};

const SMALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/vectors.jsonl");

fn parse_series(points: &[Value]) -> Vec<DataPoint> {
    points
        .iter()
        .map(|p| {
            let ts: DateTime<Utc> = p[0].as_str().unwrap().parse().unwrap();
            let mut ctx = Map::new();
            ctx.insert("hour_of_day".into(), p[2].clone());
            ctx.insert("day_of_week".into(), p[3].clone());
            ctx.insert("parity".into(), p[4].clone());
            match p[1].as_f64() {
                Some(v) => DataPoint::new(ts, v),
                None => DataPoint::missing(ts),
            }
            .with_context(ctx)
        })
        .collect()
}

fn close(ours: Option<f64>, theirs: &Value) -> bool {
    match (ours, num(theirs)) {
        (None, None) => true,
        (Some(a), Some(b)) if a.is_infinite() || b.is_infinite() => a == b,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-3),
        _ => false,
    }
}

/// A number of the file; Python's infinities are written as `1e999` and read as text.
fn num(v: &Value) -> Option<f64> {
    match v.as_str() {
        Some("inf") => Some(f64::INFINITY),
        Some("-inf") => Some(f64::NEG_INFINITY),
        _ => v.as_f64(),
    }
}

/// Scores within 1e-9 relative, or within what rounding of the centre by 1e-13 of the
/// value can move a score near 0 (`|value - centre| / sigma` is ill-conditioned there).
fn close_score(ours: &Detection, theirs: &Value, case: &Value) -> bool {
    if close(ours.score, theirs) {
        return true;
    }
    let n_sigma = case["params"]["n_sigma"].as_f64().unwrap_or(f64::NAN);
    let (Some(a), Some(b), Some(lo), Some(hi), Some(v)) = (
        ours.score,
        num(theirs),
        ours.lower_bound,
        ours.upper_bound,
        ours.value,
    ) else {
        return false;
    };
    let sigma = (hi - lo) / (2.0 * n_sigma);
    sigma > 0.0 && (a - b).abs() <= 1e-13 * v.abs() / sigma
}

/// Returns (points compared, points skipped as a tolerated 0.5 tie).
fn check_case(registry: &Registry, series: &[DataPoint], case: &Value) -> (usize, usize) {
    let kind = case["type"].as_str().unwrap();
    let params = case["params"].as_object().unwrap().clone();
    let p = Params::new(&params, "detector.params");
    let detector = registry
        .detector(kind)
        .unwrap()
        .build(p)
        .unwrap_or_else(|e| panic!("{kind} {params:?}: {e}"))
        .part;
    let ctx = DetectionContext {
        execution_time: series.last().unwrap().timestamp,
        interval: TimeDelta::minutes(10),
    };
    let out: Vec<Detection> = detector.detect(series, 0, &ctx);
    let expected = case["expected"].as_array().unwrap();
    assert_eq!(out.len(), expected.len());
    let (mut compared, mut ties) = (0, 0);
    for (i, (ours, theirs)) in out.iter().zip(expected).enumerate() {
        let what = format!(
            "{kind} {} {params:?} point {i}: ours {ours:?}, theirs {theirs}",
            case["series"]
        );
        if theirs.is_null() {
            assert!(ours.skipped.is_some(), "{what}");
            continue;
        }
        if kind != "missing_data" {
            assert!(ours.skipped.is_none(), "{what}");
        }
        if theirs[4].as_bool() == Some(true) {
            ties += 1;
            continue;
        }
        compared += 1;
        assert_eq!(ours.is_anomaly, theirs[0].as_bool().unwrap(), "{what}");
        assert!(close_score(ours, &theirs[1], case), "score: {what}");
        if kind != "missing_data" {
            assert!(close(ours.lower_bound, &theirs[2]), "lower: {what}");
            assert!(close(ours.upper_bound, &theirs[3]), "upper: {what}");
        }
        if kind == "threshold" {
            assert!(close(ours.percent_deviation, &theirs[5]), "percent: {what}");
        }
    }
    (compared, ties)
}

fn check_file(text: &str) -> HashMap<String, (usize, usize)> {
    let mut registry = Registry::new();
    detectk_detectors::register(&mut registry);
    let mut series: HashMap<String, Vec<DataPoint>> = HashMap::new();
    let mut totals: HashMap<String, (usize, usize)> = HashMap::new();
    for line in text.lines() {
        let line = line
            .replace("-1e999", "\"-inf\"")
            .replace("1e999", "\"inf\"");
        let v: Value = serde_json::from_str(&line).unwrap();
        if let Some(name) = v.get("points").and(v["series"].as_str()) {
            series.insert(
                name.to_string(),
                parse_series(v["points"].as_array().unwrap()),
            );
            continue;
        }
        let s = &series[v["series"].as_str().unwrap()];
        let (c, t) = check_case(&registry, s, &v);
        let e = totals
            .entry(v["type"].as_str().unwrap().to_string())
            .or_default();
        e.0 += c;
        e.1 += t;
    }
    totals
}

#[test]
fn agrees_with_the_python_reference() {
    let totals = check_file(&std::fs::read_to_string(SMALL).unwrap());
    eprintln!("compared (points, tolerated ties): {totals:?}");
    for kind in ["mad", "zscore", "threshold", "missing_data"] {
        let (compared, ties) = totals[kind];
        assert!(compared > 100, "{kind}: only {compared} points compared");
        // Small integer counts in even-sized windows put the cumulative weight at
        // exactly 0.5 often; those points are the tolerated difference, not compared.
        assert!(ties * 4 < compared, "{kind}: {ties} ties of {compared}");
    }
}

#[test]
fn agrees_with_a_larger_reference_file_when_given() {
    if let Ok(path) = std::env::var("DETECTK_REFERENCE_VECTORS") {
        let totals = check_file(&std::fs::read_to_string(path).unwrap());
        eprintln!("compared (points, tolerated ties): {totals:?}");
    }
}
