//! Runs each detector's default setting over the NAB corpus and prints a Markdown
//! table: labelled anomaly windows detected, and false alarms per 1,000 points.
//!
//! Run from the workspace root:
//! `cargo run --release -p detectk-detectors --example nab -- NAB_DIR [--out docs/nab-baseline.md]`
//! where `NAB_DIR` is a checkout of the NAB corpus (its `data/` and `labels/`); without the
//! argument the `NAB_DIR` environment variable is used. Nothing outside the repo is read by
//! default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use detectk_core::config::Params;
use detectk_core::{DataPoint, DetectionContext, Detector, Registry};
use serde_json::{Map, Value, json};

/// One labelled series.
struct Series {
    name: String,
    points: Vec<DataPoint>,
    windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    interval: TimeDelta,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

fn read_csv(path: &Path) -> Result<Vec<DataPoint>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (ts, value) = line
                .split_once(',')
                .ok_or_else(|| format!("{}: bad line {line:?}", path.display()))?;
            let value: f64 = value
                .trim()
                .parse()
                .map_err(|e| format!("{}: bad value {value:?}: {e}", path.display()))?;
            Ok(DataPoint::new(parse_time(ts)?, value))
        })
        .collect()
}

/// The most common spacing between consecutive points.
fn typical_interval(points: &[DataPoint]) -> TimeDelta {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for w in points.windows(2) {
        *counts
            .entry((w[1].timestamp - w[0].timestamp).num_seconds())
            .or_default() += 1;
    }
    let secs = counts
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .map_or(300, |(s, _)| s);
    TimeDelta::seconds(secs.max(1))
}

/// The series with a missing point for every skipped interval (as the pipeline stores it).
fn with_gaps(points: &[DataPoint], interval: TimeDelta) -> Vec<DataPoint> {
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        if let Some(last) = out.last().map(|l: &DataPoint| l.timestamp) {
            let mut t = last + interval;
            while t + interval <= p.timestamp {
                out.push(DataPoint::missing(t));
                t += interval;
            }
        }
        out.push(p.clone());
    }
    out
}

fn load(dir: &Path) -> Result<Vec<Series>, String> {
    let labels_path = dir.join("labels/combined_windows.json");
    let labels: Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(&labels_path)
            .map_err(|e| format!("{}: {e}", labels_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", labels_path.display()))?;
    let mut all = Vec::new();
    for (name, windows) in &labels {
        let path = dir.join("data").join(name);
        if !path.exists() {
            continue;
        }
        let points = read_csv(&path)?;
        let windows = windows
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| {
                Ok((
                    parse_time(w[0].as_str().unwrap_or(""))?,
                    parse_time(w[1].as_str().unwrap_or(""))?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let interval = typical_interval(&points);
        all.push(Series {
            name: name.clone(),
            points,
            windows,
            interval,
        });
    }
    Ok(all)
}

#[derive(Default)]
struct Tally {
    windows: usize,
    detected: usize,
    points: usize,
    false_alarms: usize,
    skipped: usize,
}

fn evaluate(detector: &dyn Detector, corpus: &[Series], gaps: bool) -> Tally {
    let mut t = Tally::default();
    for s in corpus {
        let series = if gaps {
            with_gaps(&s.points, s.interval)
        } else {
            s.points.clone()
        };
        let ctx = DetectionContext {
            execution_time: series
                .last()
                .map_or(DateTime::<Utc>::MIN_UTC, |p| p.timestamp),
            interval: s.interval,
        };
        let out = detector.detect(&series, 0, &ctx);
        let inside = |ts: DateTime<Utc>| s.windows.iter().any(|(a, b)| *a <= ts && ts <= *b);
        t.windows += s.windows.len();
        t.detected += s
            .windows
            .iter()
            .filter(|(a, b)| {
                out.iter()
                    .any(|d| d.is_anomaly && *a <= d.timestamp && d.timestamp <= *b)
            })
            .count();
        t.points += s.points.len();
        t.false_alarms += out
            .iter()
            .filter(|d| d.is_anomaly && !inside(d.timestamp))
            .count();
        t.skipped += out.iter().filter(|d| d.skipped.is_some()).count();
    }
    t
}

fn build(registry: &Registry, kind: &str, params: Value) -> Box<dyn Detector> {
    let map = params.as_object().cloned().unwrap_or_default();
    let mut p = Params::new(&map, "detector.params");
    let built = registry.detector(kind).ok().and_then(|f| f.build(&mut p));
    let report = p.finish();
    match built {
        Some(d) if report.issues.is_empty() => d,
        _ => panic!("{kind} {params}: {:?}", report.issues),
    }
}

fn main() {
    let mut dir = std::env::var_os("NAB_DIR").map(PathBuf::from);
    let mut out_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--out" {
            out_file = args.next().map(PathBuf::from);
        } else {
            dir = Some(PathBuf::from(a));
        }
    }
    let Some(dir) = dir else {
        eprintln!(
            "usage: nab NAB_DIR [--out FILE] (or set NAB_DIR): the directory of the NAB corpus"
        );
        std::process::exit(2);
    };
    let corpus = match load(&dir) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => return eprintln!("no labelled series found under {}", dir.display()),
        Err(e) => return eprintln!("cannot read the NAB corpus: {e}"),
    };
    let mut registry = Registry::new();
    detectk_detectors::register(&mut registry);
    let rows: Vec<(&str, &str, Value, bool)> = vec![
        (
            "mad",
            "defaults (30 days, n_sigma 3, weighted 0.1)",
            json!({}),
            false,
        ),
        (
            "zscore",
            "defaults (30 days, n_sigma 3, weighted 0.1)",
            json!({}),
            false,
        ),
        (
            "iqr",
            "defaults (30 days, multiplier 1.5)",
            json!({}),
            false,
        ),
        (
            "missing_data",
            "defaults (consecutive_missing 1), gaps as missing points",
            json!({}),
            true,
        ),
        (
            "mad",
            "use_weighted: false",
            json!({"use_weighted": false}),
            false,
        ),
        (
            "zscore",
            "use_weighted: false",
            json!({"use_weighted": false}),
            false,
        ),
        ("iqr", "multiplier: 3", json!({"multiplier": 3.0}), false),
    ];
    let total_points: usize = corpus.iter().map(|s| s.points.len()).sum();
    let mut table = format!(
        "NAB corpus at `{}`: {} labelled series, {} points, {} anomaly windows.\n\n",
        dir.file_name()
            .map_or("nab".into(), |n| n.to_string_lossy()),
        corpus.len(),
        total_points,
        corpus.iter().map(|s| s.windows.len()).sum::<usize>()
    );
    table.push_str("| detector | setting | windows detected | false alarms / 1,000 points | skipped points |\n");
    table.push_str("|---|---|---:|---:|---:|\n");
    for (kind, label, params, gaps) in rows {
        let det = build(&registry, kind, params);
        let t = evaluate(det.as_ref(), &corpus, gaps);
        table.push_str(&format!(
            "| {kind} | {label} | {} / {} ({:.0} %) | {:.2} | {} |\n",
            t.detected,
            t.windows,
            100.0 * t.detected as f64 / t.windows.max(1) as f64,
            1000.0 * t.false_alarms as f64 / t.points.max(1) as f64,
            t.skipped
        ));
    }
    table.push_str(
        "\n`threshold` has no default (its limit is specific to each metric), so it has no row.\n\
         `missing_data` sees each series with a missing point for every skipped interval (at the\n\
         series' most common spacing); its \"false alarms\" are those gaps, not value anomalies.\n",
    );
    print!("{table}");
    let names: Vec<&str> = corpus.iter().map(|s| s.name.as_str()).collect();
    eprintln!("series: {}", names.join(", "));
    if let Some(path) = out_file {
        let doc = format!(
            "# NAB baseline of the built-in detectors\n\n\
             The baseline later detectors must beat. Regenerate from the workspace root with\n\n\
             ```sh\ncargo run --release -p detectk-detectors --example nab -- --out docs/nab-baseline.md\n```\n\n\
             A labelled window counts as detected when at least one point inside it is flagged;\n\
             every flagged point outside all windows is a false alarm. Each series is scored\n\
             from its first point, every point against the history strictly before it.\n\n{table}"
        );
        if let Err(e) = std::fs::write(&path, doc) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
}
