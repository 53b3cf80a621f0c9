//! Scores detector settings and alert policies on the NAB corpus, at event level
//! (labelled windows caught, false-alarm events, precision, recall, F1), and writes
//! `docs/nab-baseline.md`.
//!
//! Run from the workspace root (the corpus is passed in, never assumed):
//!
//! ```sh
//! cargo run --release -p detectk-detectors --example nab -- NAB_DIR --out docs/nab-baseline.md
//! cargo run --release -p detectk-detectors --example nab -- NAB_DIR --grid   # the search
//! ```
//!
//! `NAB_DIR` may also come from the `NAB_DIR` environment variable. It holds `data/`
//! (`category/file.csv` with `timestamp,value`) and `labels/combined_windows.json`.

mod corpus;
mod score;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::DateTime;
use detectk_core::config::Params;
use detectk_core::{DetectionContext, Detector, Registry};
use serde_json::{Value, json};

use corpus::{Series, load, with_gaps};
use score::{Policy, Score, Verdict, verdicts};

/// A detector setting: its type, params and a label.
struct Setting {
    kind: &'static str,
    label: String,
    params: Value,
    gaps: bool,
}

impl Setting {
    fn new(kind: &'static str, label: &str, params: Value) -> Self {
        Self {
            kind,
            label: label.into(),
            params,
            gaps: false,
        }
    }
}

fn build(registry: &Registry, kind: &str, params: &Value) -> Box<dyn Detector> {
    let map = params.as_object().cloned().unwrap_or_default();
    let p = Params::new(&map, "detector.params");
    let factory = registry
        .detector(kind)
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    match factory.build(p) {
        Ok(built) => built.part,
        Err(e) => panic!("{kind} {params}: {:?}", e.issues),
    }
}

/// The scored points of every series under one setting.
fn run(registry: &Registry, s: &Setting, corpus: &[Series]) -> Vec<Vec<Verdict>> {
    let det = build(registry, s.kind, &s.params);
    corpus
        .iter()
        .map(|series| {
            let points = if s.gaps {
                with_gaps(&series.points, series.interval)
            } else {
                series.points.clone()
            };
            let ctx = DetectionContext {
                execution_time: points
                    .last()
                    .map_or(DateTime::<chrono::Utc>::MIN_UTC, |p| p.timestamp),
                interval: series.interval,
            };
            verdicts(&det.detect(&points, 0, &ctx))
        })
        .collect()
}

/// Scores per category and overall (key `all`).
fn score(corpus: &[Series], runs: &[Vec<Verdict>], policy: &Policy) -> BTreeMap<String, Score> {
    let mut by: BTreeMap<String, Score> = BTreeMap::new();
    for (series, v) in corpus.iter().zip(runs) {
        let flags = policy.alerts(v);
        let s = Score::of(v, &flags, &series.windows);
        by.entry(series.category().to_string()).or_default().add(&s);
        by.entry("all".into()).or_default().add(&s);
    }
    by
}

/// The recommended setting: detector params and alert policy.
fn recommended() -> (Setting, Policy) {
    (
        Setting::new(
            "robust_seasonal",
            "recommended",
            json!({
                "window_size": "28 days",
                "seasonal_features": ["hour_of_day"],
                "quantile": 0.99,
                "multiplier": 1.1,
                "min_history": "2 days"
            }),
        ),
        Policy {
            cooldown_minutes: 720,
            consecutive: 1,
            up_only: None,
            min_deviation_percent: 0.0,
        },
    )
}

fn grid(registry: &Registry, corpus: &[Series]) {
    let list = |key: &str, default: &str| -> Vec<String> {
        std::env::var(key)
            .unwrap_or_else(|_| default.to_string())
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let mut policies = Vec::new();
    for cooldown in list("GRID_COOLDOWNS", "0,180,360,720,1440") {
        for consecutive in list("GRID_CONSECUTIVE", "1") {
            for dir in list("GRID_DIRECTIONS", "both,up") {
                for min_dev in list("GRID_MIN_DEVIATION", "0,10,25") {
                    policies.push(Policy {
                        cooldown_minutes: cooldown.parse().expect("GRID_COOLDOWNS"),
                        consecutive: consecutive.parse().expect("GRID_CONSECUTIVE"),
                        up_only: match dir.as_str() {
                            "up" => Some(true),
                            "down" => Some(false),
                            _ => None,
                        },
                        min_deviation_percent: min_dev.parse().expect("GRID_MIN_DEVIATION"),
                    });
                }
            }
        }
    }
    let mut rows: Vec<(f64, String)> = Vec::new();
    let windows = std::env::var("GRID_WINDOWS").unwrap_or("14 days".into());
    let seasons = std::env::var("GRID_SEASONS").unwrap_or("hour_of_day;hour_of_week;".into());
    let quantiles = std::env::var("GRID_QUANTILES").unwrap_or("0.95,0.98,0.99,0.995".into());
    let multipliers = std::env::var("GRID_MULTIPLIERS").unwrap_or("0.75,1,1.25,1.5".into());
    let histories = std::env::var("GRID_MIN_HISTORY").unwrap_or("1 day".into());
    for window in windows.split(',') {
        for season in seasons.split(';') {
            let feats: Vec<&str> = season.split('+').filter(|s| !s.is_empty()).collect();
            for q in quantiles.split(',') {
                for m in multipliers.split(',') {
                    for (h, ex) in histories.split(',').flat_map(|h| {
                        list("GRID_EXCLUDE", "false")
                            .into_iter()
                            .map(move |e| (h, e))
                    }) {
                        let mut params = json!({
                            "window_size": window,
                            "seasonal_features": feats,
                            "quantile": q.parse::<f64>().unwrap(),
                            "multiplier": m.parse::<f64>().unwrap(),
                            "min_history": h,
                        });
                        if ex != "false" {
                            params["exclude_anomalies"] = json!(true);
                            params["level_shift_after"] = json!(ex);
                        }
                        let s = Setting::new("robust_seasonal", "", params.clone());
                        let runs = run(registry, &s, corpus);
                        for p in &policies {
                            let by = score(corpus, &runs, p);
                            let all = by["all"];
                            let worst = by
                                .iter()
                                .filter(|(k, _)| *k != "all")
                                .map(|(_, s)| s.f1())
                                .fold(f64::INFINITY, f64::min);
                            rows.push((
                                all.f1(),
                                format!(
                                    "F1 {:.3} R {:.3} P {:.3} FA {:.2} worstcat {:.3} | {} | {}",
                                    all.f1(),
                                    all.recall(),
                                    all.precision(),
                                    all.fa_per_1000(),
                                    worst,
                                    params,
                                    p.label()
                                ),
                            ));
                            let _ = &rows;
                        }
                        eprint!(".");
                    }
                }
            }
        }
    }
    eprintln!();
    rows.retain(|(_, r)| {
        r.split(" R ")
            .nth(1)
            .and_then(|x| x.split(' ').next())
            .and_then(|x| x.parse::<f64>().ok())
            .is_some_and(|r| r >= 0.8)
    });
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: usize = std::env::var("GRID_TOP")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(60);
    for (_, r) in rows.iter().take(top) {
        println!("{r}");
    }
}

fn main() {
    let mut dir = std::env::var_os("NAB_DIR").map(PathBuf::from);
    let mut out_file = None;
    let mut grid_mode = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out_file = args.next().map(PathBuf::from),
            "--grid" => grid_mode = true,
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: nab NAB_DIR [--out FILE] [--grid]  (or set NAB_DIR)");
        std::process::exit(2);
    };
    let corpus = match load(&dir) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            eprintln!("no labelled series found under {}", dir.display());
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot read the NAB corpus: {e}");
            std::process::exit(1);
        }
    };
    let mut registry = Registry::new();
    detectk_detectors::register(&mut registry);
    if grid_mode {
        return grid(&registry, &corpus);
    }
    if std::env::var_os("NAB_DIAGNOSE").is_some() {
        return diagnose(&registry, &corpus);
    }
    print!("{}", report(&registry, &corpus, &dir, out_file.as_deref()));
}

fn report(
    registry: &Registry,
    corpus: &[Series],
    dir: &std::path::Path,
    out_file: Option<&std::path::Path>,
) -> String {
    let total_points: usize = corpus.iter().map(|s| s.points.len()).sum();
    let total_windows: usize = corpus.iter().map(|s| s.windows.len()).sum();
    let mut categories: Vec<&str> = corpus.iter().map(Series::category).collect();
    categories.dedup();
    let mut md = format!(
        "NAB corpus at `{}`: {} labelled series in {} categories, {} points, {} labelled windows.\n\n",
        dir.file_name()
            .map_or("nab".into(), |n| n.to_string_lossy()),
        corpus.len(),
        categories.len(),
        total_points,
        total_windows,
    );
    md.push_str("## Detector verdicts and alerts\n\n");
    md.push_str("| detector | setting | alert policy | windows caught | false-alarm events | P | R | F1 | false events / 1,000 points |\n");
    md.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    let mut missing = Setting::new(
        "missing_data",
        "defaults, gaps as missing points",
        json!({}),
    );
    missing.gaps = true;
    let cool360 = Policy {
        cooldown_minutes: 360,
        ..Policy::NONE
    };
    let rows: Vec<(Setting, Policy)> = vec![
        (
            Setting::new("mad", "defaults (weighted 0.1)", json!({})),
            Policy::NONE,
        ),
        (
            Setting::new("zscore", "defaults (weighted 0.1)", json!({})),
            Policy::NONE,
        ),
        (Setting::new("iqr", "defaults", json!({})), Policy::NONE),
        (missing, Policy::NONE),
        (
            Setting::new("mad", "use_weighted: false", json!({"use_weighted": false})),
            Policy::NONE,
        ),
        (
            Setting::new(
                "zscore",
                "use_weighted: false",
                json!({"use_weighted": false}),
            ),
            Policy::NONE,
        ),
        (
            Setting::new(
                "zscore",
                "use_weighted: false, n_sigma 4",
                json!({"use_weighted": false, "n_sigma": 4.0}),
            ),
            cool360,
        ),
        (
            Setting::new("robust_seasonal", "defaults", json!({})),
            Policy::NONE,
        ),
        (
            Setting::new("robust_seasonal", "defaults", json!({})),
            cool360,
        ),
        (
            Setting::new("robust_seasonal", "defaults", json!({})),
            recommended().1,
        ),
    ];
    for (setting, policy) in &rows {
        let runs = run(registry, setting, corpus);
        let all = score(corpus, &runs, policy)["all"];
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            setting.kind,
            setting.label,
            if *policy == Policy::NONE {
                "every anomaly".to_string()
            } else {
                policy.label()
            },
            all.cells()
        ));
    }
    let (best, policy) = recommended();
    let runs = run(registry, &best, corpus);
    let by = score(corpus, &runs, &policy);
    md.push_str("\n## The recommended setting\n\n```yaml\ndetectors:\n  - type: robust_seasonal\n    params:\n");
    for (k, v) in best.params.as_object().into_iter().flatten() {
        md.push_str(&format!("      {k}: {v}\n"));
    }
    md.push_str("alerter:\n  conditions:\n");
    for line in policy.yaml().lines() {
        md.push_str(&format!("    {line}\n"));
    }
    md.push_str("```\n\nPer category:\n\n| category | windows caught | false-alarm events | P | R | F1 | false events / 1,000 points |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (cat, s) in &by {
        md.push_str(&format!("| {cat} | {} |\n", s.cells()));
    }
    md.push_str("\nRobustness: the recommended setting with one parameter changed at a time.\n\n| change | windows caught | false-alarm events | P | R | F1 | false events / 1,000 points |\n|---|---:|---:|---:|---:|---:|---:|\n");
    let tweaks: Vec<(&str, Value)> = vec![
        ("quantile 0.98", json!({"quantile": 0.98})),
        ("quantile 0.995", json!({"quantile": 0.995})),
        ("multiplier 1.0", json!({"multiplier": 1.0})),
        ("multiplier 1.25", json!({"multiplier": 1.25})),
        ("window_size 21 days", json!({"window_size": "21 days"})),
        ("window_size 42 days", json!({"window_size": "42 days"})),
        ("min_history 1 day", json!({"min_history": "1 day"})),
        ("min_history 3 days", json!({"min_history": "3 days"})),
        (
            "seasonal_features [hour_of_day, is_weekend]",
            json!({"seasonal_features": ["hour_of_day", "is_weekend"]}),
        ),
        (
            "seasonal_features [hour_of_week]",
            json!({"seasonal_features": ["hour_of_week"]}),
        ),
        (
            "exclude_anomalies (level_shift_after 6 hours)",
            json!({"exclude_anomalies": true}),
        ),
        (
            "seasonal_features [] (no season)",
            json!({"seasonal_features": []}),
        ),
    ];
    for (label, change) in tweaks {
        let mut params = best.params.clone();
        for (k, v) in change.as_object().into_iter().flatten() {
            params[k] = v.clone();
        }
        let s = Setting::new("robust_seasonal", label, params);
        let all = score(corpus, &run(registry, &s, corpus), &policy)["all"];
        md.push_str(&format!("| {label} | {} |\n", all.cells()));
    }
    for (label, p) in [
        (
            "cooldown_minutes 480",
            Policy {
                cooldown_minutes: 480,
                ..policy
            },
        ),
        (
            "cooldown_minutes 1080",
            Policy {
                cooldown_minutes: 1080,
                ..policy
            },
        ),
        (
            "min_deviation_percent 10",
            Policy {
                min_deviation_percent: 10.0,
                ..policy
            },
        ),
        (
            "consecutive_anomalies 2",
            Policy {
                consecutive: 2,
                ..policy
            },
        ),
        (
            "direction: up",
            Policy {
                up_only: Some(true),
                ..policy
            },
        ),
    ] {
        let all = score(corpus, &runs, &p)["all"];
        md.push_str(&format!("| {label} | {} |\n", all.cells()));
    }
    md.push_str("\nThe recommended detector's verdicts without an alert policy:\n\n| category | windows caught | false-alarm events | P | R | F1 | false events / 1,000 points |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (cat, s) in &score(corpus, &runs, &Policy::NONE) {
        md.push_str(&format!("| {cat} | {} |\n", s.cells()));
    }
    if let Some(path) = out_file {
        let doc = format!(
            "# Detection quality on NAB\n\n\
             Regenerate from the workspace root with\n\n\
             ```sh\ncargo run --release -p detectk-detectors --example nab -- NAB_DIR --out docs/nab-baseline.md\n```\n\n\
             Scored per labelled incident window: a window is caught when at least one flagged\n\
             point (or, with an alert policy, one point alerted on) lies inside it; a run of\n\
             consecutive flagged points outside every window is one false-alarm event.\n\
             P = caught / (caught + false events), R = caught / windows. Points a detector\n\
             skips (warm-up, too little history) are not scored. Every series is replayed from\n\
             its first point, each point against the history strictly before it; the alert\n\
             policy fires on a point that qualifies when no alert was sent for a point less\n\
             than `cooldown_minutes` earlier (and, with `min_deviation_percent`, deviates from\n\
             the centre by at least that many percent).\n\n\
             How the recommended setting was chosen: `--grid` (parameters from `GRID_*`\n\
             environment variables, see `examples/nab/main.rs`) scored several thousand\n\
             combinations of `robust_seasonal` settings and alert policies on these series.\n\
             Among those with recall >= 0.8 (the best reached F1 0.38 at recall 0.81), the one\n\
             below keeps a recall margin (57 of 69 windows, not the bare 56), every category at\n\
             F1 >= 0.28, few parameters (the detector's defaults, one season, one policy key)\n\
             and its F1 when one parameter moves (table below). No per-series tuning.\n\n{md}"
        );
        if let Err(e) = std::fs::write(path, doc) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
    md
}

/// Prints, per labelled window, the scored points inside and the largest score there
/// under the recommended detector (for research: which incidents are hard).
fn diagnose(registry: &Registry, corpus: &[Series]) {
    let (best, _) = recommended();
    let det = build(registry, best.kind, &best.params);
    for s in corpus {
        let ctx = DetectionContext {
            execution_time: s
                .points
                .last()
                .map_or(DateTime::<chrono::Utc>::MIN_UTC, |p| p.timestamp),
            interval: s.interval,
        };
        let out = det.detect(&s.points, 0, &ctx);
        let outside_max = out
            .iter()
            .filter(|d| {
                !s.windows
                    .iter()
                    .any(|(a, b)| *a <= d.timestamp && d.timestamp <= *b)
            })
            .filter_map(|d| d.score)
            .filter(|x| x.is_finite())
            .fold(0.0f64, f64::max);
        for (a, b) in &s.windows {
            let inside: Vec<_> = out
                .iter()
                .filter(|d| *a <= d.timestamp && d.timestamp <= *b)
                .collect();
            let scored = inside.iter().filter(|d| d.skipped.is_none()).count();
            let max = inside.iter().filter_map(|d| d.score).fold(0.0f64, f64::max);
            let first = s
                .points
                .first()
                .map(|p| (*a - p.timestamp).num_hours())
                .unwrap_or(0);
            println!(
                "{:<60} win@{:>5}h pts {:>4} scored {:>4} max {:>7.2} outside-max {:>7.2}",
                s.name,
                first,
                inside.len(),
                scored,
                max,
                outside_max
            );
        }
    }
}
