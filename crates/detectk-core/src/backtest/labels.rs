//! Labelled incident windows per metric, read from YAML, CSV, or NAB's
//! `combined_windows.json`.
//!
//! Forms accepted (the format is chosen by the file's extension: `.csv` is CSV,
//! anything else is parsed as YAML, of which JSON is a subset):
//!
//! ```yaml
//! # a mapping of metric (or NAB key) to windows, each `[start, end]` or `{start, end}`
//! sessions_10min:
//!   - ["2024-03-01 10:00", "2024-03-01 12:00"]
//!   - {start: "2024-03-05", end: "2024-03-05 06:00"}
//! # or a list of objects
//! - {metric: sessions_10min, start: "2024-03-01 10:00", end: "2024-03-01 12:00"}
//! ```
//!
//! CSV: `metric,start,end` per line (a header line starting with `metric` and `#`
//! comment lines are skipped). Times are UTC unless they carry an offset.
//!
//! A metric finds its windows by, in order: `metadata.labels_key` (exact key), its
//! name (exact key), or a key whose file stem, with every character outside
//! `[A-Za-z0-9_-]` replaced by `_`, equals the name ([`metric_name_for_key`]:
//! `realKnownCause/nyc_taxi.csv` -> `nyc_taxi`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::parse_time;

/// One labelled incident: `start <= t <= end` (both inclusive, as NAB scores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IncidentWindow {
    /// First instant inside the window.
    pub start: DateTime<Utc>,
    /// Last instant inside the window.
    pub end: DateTime<Utc>,
}

impl IncidentWindow {
    /// Whether `t` lies inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t <= self.end
    }
}

/// Why a labels file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelsError {
    /// The file could not be read.
    #[error("{path}: cannot read the labels file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file's content is not a labels file; every problem is listed.
    #[error("{path}: invalid labels file:\n  {}", problems.join("\n  "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Each problem, with where it is (`key[2]`, `line 4`).
        problems: Vec<String>,
    },
    /// Two labelled series map to the same metric name.
    #[error(
        "{path}: labels keys {first:?} and {second:?} both map to metric `{metric}`; set `metadata.labels_key` in the metric's config"
    )]
    Ambiguous {
        /// The file.
        path: PathBuf,
        /// Metric name.
        metric: String,
        /// One key.
        first: String,
        /// The other key.
        second: String,
    },
}

/// Incident windows per labelled series.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Labels {
    series: BTreeMap<String, Vec<IncidentWindow>>,
}

/// The metric name a labels key maps to: the file stem of the key with every
/// character outside `[A-Za-z0-9_-]` replaced by `_`.
///
/// ```
/// use detectk_core::backtest::metric_name_for_key;
/// assert_eq!(metric_name_for_key("realTraffic/speed_7578.csv"), "speed_7578");
/// assert_eq!(metric_name_for_key("a/b c.d.csv"), "b_c_d");
/// assert_eq!(metric_name_for_key("plain"), "plain");
/// ```
pub fn metric_name_for_key(key: &str) -> String {
    let file = key.rsplit(['/', '\\']).next().unwrap_or(key);
    let stem = match file.rfind('.') {
        Some(i) if i > 0 => &file[..i],
        _ => file,
    };
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn time_of(value: &Value, at: &str, problems: &mut Vec<String>) -> Option<DateTime<Utc>> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => {
            problems.push(format!("{at}: expected a time string, got {other}"));
            return None;
        }
    };
    match parse_time(&text, chrono_tz::Tz::UTC) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(format!("{at}: {e}"));
            None
        }
    }
}

fn window_of(item: &Value, at: &str, problems: &mut Vec<String>) -> Option<IncidentWindow> {
    let (start, end) = match item {
        Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
        Value::Object(map) => match (map.get("start"), map.get("end")) {
            (Some(s), Some(e)) => (s, e),
            _ => {
                problems.push(format!("{at}: an object window needs `start` and `end`"));
                return None;
            }
        },
        other => {
            problems.push(format!(
                "{at}: expected `[start, end]` or `{{start, end}}`, got {other}"
            ));
            return None;
        }
    };
    let start = time_of(start, &format!("{at}.start"), problems);
    let end = time_of(end, &format!("{at}.end"), problems);
    let (start, end) = (start?, end?);
    if end < start {
        problems.push(format!("{at}: end is before start"));
        return None;
    }
    Some(IncidentWindow { start, end })
}

impl Labels {
    /// Reads a labels file (format by extension, see the module docs).
    pub fn load(path: &Path) -> Result<Self, LabelsError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabelsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let parsed = if csv {
            Self::parse_csv(&text)
        } else {
            Self::parse_yaml(&text)
        };
        parsed.map_err(|problems| LabelsError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// Parses the YAML / JSON forms; returns every problem found.
    pub fn parse_yaml(text: &str) -> Result<Self, Vec<String>> {
        let value = crate::yaml::parse(text).map_err(|e| vec![e.to_string()])?;
        let mut labels = Labels::default();
        let mut problems = Vec::new();
        match value {
            Value::Object(map) => {
                for (key, windows) in map {
                    let entry = labels.series.entry(key.clone()).or_default();
                    match windows {
                        Value::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                if let Some(w) = window_of(item, &format!("{key}[{i}]"), &mut problems)
                                {
                                    entry.push(w);
                                }
                            }
                        }
                        Value::Null => {}
                        other => problems.push(format!("{key}: expected a list of windows, got {other}")),
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("[{i}]");
                    let Some(metric) = item.get("metric").and_then(Value::as_str) else {
                        problems.push(format!("{at}: needs `metric`, `start` and `end`"));
                        continue;
                    };
                    if let Some(w) = window_of(item, &at, &mut problems) {
                        labels.series.entry(metric.to_string()).or_default().push(w);
                    }
                }
            }
            Value::Null => {}
            other => problems.push(format!(
                "expected a mapping of metric to windows or a list of {{metric, start, end}}, got {other}"
            )),
        }
        labels.finish(problems)
    }

    /// Parses `metric,start,end` lines; returns every problem found.
    pub fn parse_csv(text: &str) -> Result<Self, Vec<String>> {
        let mut labels = Labels::default();
        let mut problems = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line
                .split(',')
                .map(|f| f.trim().trim_matches('"'))
                .collect();
            if n == 0
                && fields
                    .first()
                    .is_some_and(|f| f.eq_ignore_ascii_case("metric"))
            {
                continue;
            }
            let at = format!("line {}", n + 1);
            if fields.len() != 3 || fields[0].is_empty() {
                problems.push(format!("{at}: expected `metric,start,end`"));
                continue;
            }
            let item = serde_json::json!([fields[1], fields[2]]);
            if let Some(w) = window_of(&item, &at, &mut problems) {
                labels
                    .series
                    .entry(fields[0].to_string())
                    .or_default()
                    .push(w);
            }
        }
        labels.finish(problems)
    }

    fn finish(mut self, problems: Vec<String>) -> Result<Self, Vec<String>> {
        if !problems.is_empty() {
            return Err(problems);
        }
        for windows in self.series.values_mut() {
            windows.sort_by_key(|w| w.start);
        }
        Ok(self)
    }

    /// Labels from a map of key to windows (for embedders and tests).
    pub fn from_map(series: BTreeMap<String, Vec<IncidentWindow>>) -> Self {
        Self { series }
    }

    /// Every labelled series key.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    /// The key and windows of `metric`: by `labels_key`, the exact name, or the
    /// name rule of [`metric_name_for_key`]. `Ok(None)` when the metric is not labelled;
    /// an error (naming both keys) when two keys map to the name.
    pub fn find(
        &self,
        metric: &str,
        labels_key: Option<&str>,
        path: &Path,
    ) -> Result<Option<(&str, &[IncidentWindow])>, LabelsError> {
        let pick = |k: &str| {
            self.series
                .get_key_value(k)
                .map(|(k, w)| (k.as_str(), w.as_slice()))
        };
        if let Some(key) = labels_key {
            return Ok(pick(key));
        }
        if let Some(found) = pick(metric) {
            return Ok(Some(found));
        }
        let mut matching = self
            .series
            .iter()
            .filter(|(k, _)| metric_name_for_key(k) == metric);
        let first = matching.next();
        if let (Some((a, _)), Some((b, _))) = (first, matching.next()) {
            return Err(LabelsError::Ambiguous {
                path: path.to_path_buf(),
                metric: metric.to_string(),
                first: a.clone(),
                second: b.clone(),
            });
        }
        Ok(first.map(|(k, w)| (k.as_str(), w.as_slice())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2014, 2, 19, h, m, 0).unwrap()
    }

    #[test]
    fn reads_nab_combined_windows() {
        let text = r#"{"realKnownCause/nyc_taxi.csv": [["2014-02-19 10:50:00.000000", "2014-02-19 12:00:00.000000"]],
                       "artificialNoAnomaly/flat.csv": []}"#;
        let labels = Labels::parse_yaml(text).unwrap();
        let (key, windows) = labels
            .find("nyc_taxi", None, Path::new("l.json"))
            .unwrap()
            .unwrap();
        assert_eq!(key, "realKnownCause/nyc_taxi.csv");
        assert_eq!(
            windows,
            [IncidentWindow {
                start: t(10, 50),
                end: t(12, 0)
            }]
        );
        let (_, none) = labels
            .find("flat", None, Path::new("l.json"))
            .unwrap()
            .unwrap();
        assert!(none.is_empty());
        assert!(
            labels
                .find("other", None, Path::new("l.json"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn reads_yaml_pairs_objects_and_lists() {
        let text = "m1:\n  - ['2014-02-19 11:00', '2014-02-19 11:10']\n  - {start: '2014-02-19 10:00', end: '2014-02-19 10:05'}\n";
        let labels = Labels::parse_yaml(text).unwrap();
        let (_, w) = labels
            .find("m1", None, Path::new("l.yaml"))
            .unwrap()
            .unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].start, t(10, 0), "sorted by start");
        let list = "- {metric: m2, start: '2014-02-19 10:00', end: '2014-02-19 10:30'}\n";
        let labels = Labels::parse_yaml(list).unwrap();
        let (_, w) = labels
            .find("m2", None, Path::new("l.yaml"))
            .unwrap()
            .unwrap();
        assert_eq!(
            w,
            [IncidentWindow {
                start: t(10, 0),
                end: t(10, 30)
            }]
        );
    }

    #[test]
    fn reads_csv_with_header_and_comments() {
        let text = "metric,start,end\n# comment\nm1,2014-02-19 10:00,2014-02-19 10:30\n";
        let labels = Labels::parse_csv(text).unwrap();
        assert_eq!(labels.keys().collect::<Vec<_>>(), ["m1"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = "m1:\n  - ['2014-02-19 11:00', 'soon']\n  - ['2014-02-19 11:00', '2014-02-19 10:00']\n  - 5\nm2: x\n";
        let problems = Labels::parse_yaml(text).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with("m1[0].end: invalid time \"soon\""),
            "{problems:?}"
        );
        assert_eq!(problems[1], "m1[1]: end is before start");
        assert!(problems[2].starts_with("m1[2]: expected `[start, end]`"));
        assert!(problems[3].starts_with("m2: expected a list of windows"));
        let csv = Labels::parse_csv("m1,2014-02-19\n").unwrap_err();
        assert_eq!(csv, ["line 1: expected `metric,start,end`"]);
    }

    #[test]
    fn labels_key_wins_and_ambiguity_is_an_error() {
        let text = "a/x.csv: []\nb/x.csv: [['2014-02-19 10:00', '2014-02-19 10:30']]\n";
        let labels = Labels::parse_yaml(text).unwrap();
        let err = labels.find("x", None, Path::new("l.yaml")).unwrap_err();
        assert!(
            err.to_string().contains("set `metadata.labels_key`"),
            "{err}"
        );
        let (key, w) = labels
            .find("x", Some("b/x.csv"), Path::new("l.yaml"))
            .unwrap()
            .unwrap();
        assert_eq!((key, w.len()), ("b/x.csv", 1));
    }
}
