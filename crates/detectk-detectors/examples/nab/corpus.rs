//! Reads the NAB corpus: series CSVs and the labelled windows.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use detectk_core::DataPoint;
use serde_json::{Map, Value};

/// One labelled series.
pub struct Series {
    /// `category/file.csv`.
    pub name: String,
    /// The points, sorted by timestamp (stable).
    pub points: Vec<DataPoint>,
    /// Labelled incident windows `[start, end]`.
    pub windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The most common spacing of the points.
    pub interval: TimeDelta,
}

impl Series {
    /// The category: the part of the name before `/`.
    pub fn category(&self) -> &str {
        self.name.split('/').next().unwrap_or("")
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

fn read_csv(path: &Path) -> Result<Vec<DataPoint>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut points = text
        .lines()
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
        .collect::<Result<Vec<_>, String>>()?;
    points.sort_by_key(|p| p.timestamp);
    Ok(points)
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
pub fn with_gaps(points: &[DataPoint], interval: TimeDelta) -> Vec<DataPoint> {
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

/// Every labelled series under `dir` (`data/` and `labels/combined_windows.json`)
/// whose CSV exists, sorted by name.
pub fn load(dir: &Path) -> Result<Vec<Series>, String> {
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
