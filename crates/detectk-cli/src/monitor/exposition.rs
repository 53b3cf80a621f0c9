//! The metrics of `dtk run` in the Prometheus text exposition format (what the
//! node_exporter textfile collector and the Pushgateway read), written atomically.
//!
//! Per metric (label `metric`): gauges of the last run, and counters carried over
//! from the previous file so they grow across runs. Per run: totals and failures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::MetricOutcome;

/// Totals of one `dtk run`.
#[derive(Debug, Clone, Copy)]
pub struct RunTotals {
    /// When the run started (wall clock).
    pub started: DateTime<Utc>,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// Metrics that succeeded.
    pub ok: usize,
    /// Metrics that failed.
    pub failed: usize,
    /// Configs that were invalid (not run).
    pub invalid: usize,
}

/// Values of the previous file that carry over: counters, and the last success time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    values: BTreeMap<String, f64>,
}

impl Previous {
    /// Reads the samples of a file this module wrote (other lines are ignored).
    pub fn parse(text: &str) -> Self {
        let values = text
            .lines()
            .filter(|l| l.starts_with("dtk_"))
            .filter_map(|l| {
                let (key, value) = l.rsplit_once(' ')?;
                Some((key.to_string(), value.parse::<f64>().ok()?))
            })
            .filter(|(_, v)| v.is_finite())
            .collect();
        Self { values }
    }

    fn get(&self, key: &str) -> f64 {
        self.values.get(key).copied().unwrap_or(0.0)
    }
}

/// A label value escaped for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// A per-metric gauge's value (none: no sample for the metric).
type Gauge<'a> = &'a dyn Fn(&MetricOutcome) -> Option<f64>;

/// What one run adds to a per-metric counter.
type Counter<'a> = &'a dyn Fn(&MetricOutcome) -> f64;

/// Renders the file for this run's `outcomes` (sorted by metric), carrying over
/// counters and last success times from `previous`.
pub fn render(outcomes: &[MetricOutcome], totals: &RunTotals, previous: &Previous) -> String {
    let mut sorted: Vec<&MetricOutcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| a.metric.cmp(&b.metric));
    let now = seconds(totals.started);
    let mut out = String::new();
    let gauges: [(&str, &str, Gauge); 7] = [
        (
            "dtk_metric_last_run_success",
            "1 when the metric's last run succeeded, else 0.",
            &|o| Some(if o.ok { 1.0 } else { 0.0 }),
        ),
        (
            "dtk_metric_last_run_duration_seconds",
            "Wall time of the metric's last run.",
            &|o| Some(o.duration.as_secs_f64()),
        ),
        (
            "dtk_metric_last_run_points",
            "Points the metric's last run stored (missing ones included).",
            &|o| Some(o.points as f64),
        ),
        (
            "dtk_metric_last_run_anomalies",
            "Anomalous detections of the metric's last run.",
            &|o| Some(o.anomalies as f64),
        ),
        (
            "dtk_metric_last_run_alerts_sent",
            "Alerts the metric's last run delivered.",
            &|o| Some(o.alerts_sent as f64),
        ),
        (
            "dtk_metric_last_run_alerts_failed",
            "Alert deliveries of the metric's last run that failed.",
            &|o| Some(o.alerts_failed as f64),
        ),
        (
            "dtk_metric_lag_seconds",
            "Time from the end of the newest stored interval to the last successful run.",
            &|o| o.lag_seconds,
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, "gauge", help);
        for o in &sorted {
            if let Some(v) = value(o) {
                let _ = writeln!(out, "{name}{{metric=\"{}\"}} {v}", label(&o.metric));
            }
        }
    }
    let name = "dtk_metric_last_success_timestamp_seconds";
    family(
        &mut out,
        name,
        "gauge",
        "Unix time of the metric's last successful run (0: none yet).",
    );
    for o in &sorted {
        let key = format!("{name}{{metric=\"{}\"}}", label(&o.metric));
        let v = if o.ok { now } else { previous.get(&key) };
        let _ = writeln!(out, "{key} {v}");
    }
    let counters: [(&str, &str, Counter); 4] = [
        (
            "dtk_metric_points_total",
            "Points stored by the metric's runs.",
            &|o| o.points as f64,
        ),
        (
            "dtk_metric_anomalies_total",
            "Anomalous detections of the metric's runs.",
            &|o| o.anomalies as f64,
        ),
        (
            "dtk_metric_alerts_sent_total",
            "Alerts delivered for the metric.",
            &|o| o.alerts_sent as f64,
        ),
        (
            "dtk_metric_alerts_failed_total",
            "Alert deliveries for the metric that failed.",
            &|o| o.alerts_failed as f64,
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        for o in &sorted {
            let key = format!("{name}{{metric=\"{}\"}}", label(&o.metric));
            let _ = writeln!(out, "{key} {}", previous.get(&key) + value(o));
        }
    }
    let name = "dtk_metric_runs_total";
    family(&mut out, name, "counter", "Runs of the metric, by result.");
    for o in &sorted {
        for result in ["ok", "failed"] {
            let key = format!(
                "{name}{{metric=\"{}\",result=\"{result}\"}}",
                label(&o.metric)
            );
            let this = f64::from(u8::from((result == "ok") == o.ok));
            let _ = writeln!(out, "{key} {}", previous.get(&key) + this);
        }
    }
    family(
        &mut out,
        "dtk_run_timestamp_seconds",
        "gauge",
        "Unix time the last dtk run started.",
    );
    let _ = writeln!(out, "dtk_run_timestamp_seconds {now}");
    family(
        &mut out,
        "dtk_run_duration_seconds",
        "gauge",
        "Wall time of the last dtk run.",
    );
    let _ = writeln!(
        out,
        "dtk_run_duration_seconds {}",
        totals.duration.as_secs_f64()
    );
    family(
        &mut out,
        "dtk_run_metrics",
        "gauge",
        "Metrics of the last dtk run, by status.",
    );
    for (status, n) in [
        ("ok", totals.ok),
        ("failed", totals.failed),
        ("invalid", totals.invalid),
    ] {
        let _ = writeln!(out, "dtk_run_metrics{{status=\"{status}\"}} {n}");
    }
    let name = "dtk_runs_total";
    family(
        &mut out,
        name,
        "counter",
        "dtk runs, by result (failed: some metric failed or was invalid).",
    );
    let run_ok = totals.failed == 0 && totals.invalid == 0;
    for result in ["ok", "failed"] {
        let key = format!("{name}{{result=\"{result}\"}}");
        let this = f64::from(u8::from((result == "ok") == run_ok));
        let _ = writeln!(out, "{key} {}", previous.get(&key) + this);
    }
    out
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over `path`, so a reader (the textfile collector) never sees half a file.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn outcome(metric: &str, ok: bool) -> MetricOutcome {
        MetricOutcome {
            metric: metric.into(),
            ok,
            duration: Duration::from_millis(250),
            points: 3,
            anomalies: 1,
            alerts_sent: usize::from(ok),
            alerts_failed: usize::from(!ok),
            lag_seconds: ok.then_some(600.0),
            heartbeat_url: None,
        }
    }

    fn totals(at: i64) -> RunTotals {
        RunTotals {
            started: Utc.timestamp_opt(at, 0).unwrap(),
            duration: Duration::from_secs(2),
            ok: 1,
            failed: 1,
            invalid: 0,
        }
    }

    #[test]
    fn counters_grow_across_runs_and_a_failure_keeps_the_last_success_time() {
        let first = render(
            &[outcome("a", true), outcome("b\"x", false)],
            &totals(1_000),
            &Previous::default(),
        );
        assert!(first.contains("dtk_metric_last_success_timestamp_seconds{metric=\"a\"} 1000\n"));
        assert!(first.contains("dtk_metric_last_success_timestamp_seconds{metric=\"b\\\"x\"} 0\n"));
        assert!(first.contains("dtk_metric_alerts_sent_total{metric=\"a\"} 1\n"));
        let second = render(
            &[outcome("a", false), outcome("b\"x", false)],
            &totals(2_000),
            &Previous::parse(&first),
        );
        assert!(second.contains("dtk_metric_last_success_timestamp_seconds{metric=\"a\"} 1000\n"));
        assert!(second.contains("dtk_metric_runs_total{metric=\"a\",result=\"ok\"} 1\n"));
        assert!(second.contains("dtk_metric_runs_total{metric=\"a\",result=\"failed\"} 1\n"));
        assert!(second.contains("dtk_metric_points_total{metric=\"a\"} 6\n"));
        assert!(second.contains("dtk_runs_total{result=\"failed\"} 2\n"));
        assert!(!second.contains("dtk_metric_lag_seconds{metric=\"a\"}"));
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dtk.prom");
        write_atomically(&path, "one\n").unwrap();
        write_atomically(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
        assert!(write_atomically(&dir.path().join("no/such/dir.prom"), "x").is_err());
    }
}
