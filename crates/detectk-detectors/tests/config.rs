//! Building detectors from config params: defaults, Python detectk names, and every
//! problem reported at once with its field path.

use detectk_core::config::Params;
use detectk_core::{Component, Registry, Window};
use serde_json::{Value, json};

fn registry() -> Registry {
    let mut r = Registry::new();
    detectk_detectors::register(&mut r);
    r
}

/// Builds `kind` from `params`; returns whether it was built and the issue texts.
fn build(kind: &str, params: Value) -> (Option<Window>, Vec<String>) {
    let map = params.as_object().unwrap().clone();
    let p = Params::new(&map, "detector.params");
    let (built, issues) = match registry().detector(kind).unwrap().build(p) {
        Ok(b) => (Some(b.part), Vec::new()),
        Err(e) => (None, e.issues),
    };
    let issues = issues
        .iter()
        .map(|i| {
            let hint = i
                .hint
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            format!("{i}{hint}")
        })
        .collect();
    (built.map(|d| d.window()), issues)
}

#[test]
fn registers_all_six_with_descriptions() {
    let r = registry();
    assert_eq!(
        r.names(Component::Detector),
        [
            "iqr",
            "mad",
            "missing_data",
            "robust_seasonal",
            "threshold",
            "zscore"
        ]
    );
    for name in r.names(Component::Detector) {
        assert!(
            r.description(Component::Detector, &name)
                .is_some_and(|d| d.len() > 20)
        );
    }
    assert!(r.compiled_out(Component::Detector).is_empty());
}

#[test]
fn defaults_and_python_configs_build() {
    for kind in ["mad", "zscore", "iqr", "missing_data"] {
        let (w, issues) = build(kind, json!({}));
        assert!(issues.is_empty(), "{kind}: {issues:?}");
        assert!(w.is_some());
    }
    let (w, issues) = build(
        "mad",
        json!({"window_size": 4320, "n_sigma": 3, "use_weighted": true, "exp_decay_factor": 0.1,
               "seasonal_features": ["hour_of_day", "day_of_week"], "use_combined_seasonality": false}),
    );
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(w, Some(Window::Points(4320)));
    let (w, _) = build("zscore", json!({"window_size": "7 days"}));
    assert!(matches!(w, Some(Window::Span(d)) if d.seconds() == 7 * 86_400));
    let (_, issues) = build(
        "missing_data",
        json!({"consecutive_missing": 3, "max_staleness_minutes": 15, "treat_zero_as_missing": true}),
    );
    assert!(issues.is_empty(), "{issues:?}");
}

#[test]
fn every_statistical_problem_is_reported_at_once() {
    let (built, issues) = build(
        "mad",
        json!({"n_sigma": -1, "exp_decay_factor": -0.5, "min_points": 0,
               "window_size": "3 fortnights", "seasonal_features": ["h", "h"], "n_sigm": 2}),
    );
    assert!(built.is_none());
    let text = issues.join("\n");
    for needle in [
        "detector.params.n_sigma: must be a finite number > 0, got -1",
        "detector.params.exp_decay_factor: must be a finite number >= 0, got -0.5",
        "detector.params.min_points: must be >= 1, got 0",
        "detector.params.window_size: invalid duration `3 fortnights`",
        "detector.params.seasonal_features: feature names must be non-empty and distinct",
        "detector.params.n_sigm: unknown key (did you mean `n_sigma`?)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let (built, issues) = build("iqr", json!({"multiplier": 0}));
    assert!(built.is_none());
    assert_eq!(
        issues,
        ["detector.params.multiplier: must be a finite number > 0, got 0"]
    );
}

#[test]
fn threshold_rules() {
    let cases = [
        (json!({}), "detector.params.threshold: is required"),
        (
            json!({"threshold": 1, "operator": "between"}),
            "detector.params.upper_threshold: is required with operator `between`",
        ),
        (
            json!({"threshold": 5, "upper_threshold": 1, "operator": "outside"}),
            "detector.params.upper_threshold: must be a finite number >= threshold (5)",
        ),
        (
            json!({"threshold": 5, "percent": true}),
            "detector.params.baseline: is required when `percent` is true",
        ),
        (
            json!({"threshold": 5, "percent": true, "baseline": 0}),
            "detector.params.baseline: must be a finite non-zero number, got 0",
        ),
        (
            json!({"threshold": 5, "operator": "greater_thn"}),
            "did you mean `greater_than`?",
        ),
        (
            json!({"threshold": 5, "tolerance": -1}),
            "detector.params.tolerance: must be a finite number >= 0",
        ),
    ];
    for (params, needle) in cases {
        let (built, issues) = build("threshold", params.clone());
        assert!(built.is_none(), "{params}");
        assert!(
            issues.iter().any(|i| i.contains(needle)),
            "{params}: {issues:?}"
        );
    }
    let (built, issues) = build(
        "threshold",
        json!({"threshold": 10, "operator": "greater_than", "percent": true, "baseline": 1000, "tolerance": 0.001}),
    );
    assert!(built.is_some() && issues.is_empty(), "{issues:?}");
}

#[test]
fn missing_data_rules() {
    let (built, issues) = build("missing_data", json!({"consecutive_missing": 0}));
    assert!(built.is_none());
    assert_eq!(
        issues,
        ["detector.params.consecutive_missing: must be >= 1, got 0"]
    );
    let (built, issues) = build(
        "missing_data",
        json!({"max_age": "15 minutes", "max_staleness_minutes": 20}),
    );
    assert!(built.is_none());
    assert!(issues[0].starts_with("detector.params.max_age: disagrees with max_staleness_minutes"));
    let (built, issues) = build(
        "missing_data",
        json!({"max_age": "15 minutes", "max_staleness_minutes": 15}),
    );
    assert!(built.is_some() && issues.is_empty(), "{issues:?}");
    let (_, issues) = build("missing_data", json!({"max_staleness_minutes": -3}));
    assert_eq!(
        issues,
        ["detector.params.max_staleness_minutes: must be a number > 0, got -3"]
    );
}

#[test]
fn calendar_features_in_python_object_form_and_a_timezone() {
    let (w, issues) = build(
        "mad",
        json!({"seasonal_features": [{"name": "hour_of_day", "expression": "toHour(timestamp)"}, "day_of_week"],
               "timezone": "Europe/Berlin"}),
    );
    assert!(issues.is_empty(), "{issues:?}");
    assert!(w.is_some());
    let (w, issues) = build(
        "zscore",
        json!({"seasonal_features": [{"expression": "x"}, 3], "timezone": "Mars/Olympus"}),
    );
    assert!(w.is_none());
    assert_eq!(issues.len(), 3, "{issues:?}");
    assert!(
        issues[0].contains("detector.params.seasonal_features[0]") && issues[0].contains("name")
    );
    assert!(issues[1].contains("seasonal_features[1]"));
    assert!(issues[2].contains("detector.params.timezone") && issues[2].contains("Mars/Olympus"));
}

#[test]
fn robust_seasonal_defaults_and_every_problem_at_once() {
    let (w, issues) = build("robust_seasonal", json!({}));
    assert!(issues.is_empty(), "{issues:?}");
    // Two windows of history: the scale's residuals each use their own window.
    let secs = |w: Option<Window>| match w {
        Some(Window::Span(d)) => d.seconds(),
        other => panic!("expected a duration window, got {other:?}"),
    };
    assert_eq!(secs(w), 56 * 86_400);
    let (w, issues) = build(
        "robust_seasonal",
        json!({"seasonal_features": [{"name": "hour_of_day"}, "is_weekend"], "timezone": "America/New_York",
               "exclude_anomalies": true, "level_shift_after": "12 hours", "window_size": "7 days"}),
    );
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(secs(w), 21 * 86_400 + 12 * 3_600);
    let (w, issues) = build(
        "robust_seasonal",
        json!({"seasonal_features": ["hour"], "quantile": 1.5, "multiplier": 0, "min_history": "30 days",
               "window_size": "7 days", "timezone": "Nowhere", "min_season_points": 0}),
    );
    assert!(w.is_none());
    let all = issues.join("\n");
    for field in [
        "seasonal_features",
        "quantile",
        "multiplier",
        "min_history",
        "timezone",
        "min_season_points",
    ] {
        assert!(
            all.contains(&format!("detector.params.{field}")),
            "{field} missing in {all}"
        );
    }
    assert!(
        all.contains("hour_of_week"),
        "the hint lists the calendar names: {all}"
    );
    let (_, issues) = build(
        "robust_seasonal",
        json!({"exclude_anomalies": true, "window_size": 100}),
    );
    assert!(
        issues.iter().any(|i| i.contains("exclude_anomalies")),
        "{issues:?}"
    );
}
