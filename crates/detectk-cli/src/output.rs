//! Small shared pieces of human output.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use detectk_core::DetectionRecord;
use detectk_core::alert::AlertReport;

/// `YYYY-MM-DD HH:MM:SS`.
pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A number in short form: integers without decimals, others with up to 4 significant decimals.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One anomaly on one line.
pub fn anomaly_line(r: &DetectionRecord) -> String {
    let d = &r.detection;
    let value = d.value.map(num).unwrap_or_else(|| "missing".into());
    let range = if r.detector_type == "threshold" {
        // A threshold's bounds mark its limit, not an expected range: show the rule.
        let params = &r.detector_params;
        let operator = params
            .get("operator")
            .and_then(|o| o.as_str())
            .unwrap_or("greater_than");
        let limit = |key: &str| params.get(key).map(|v| v.to_string()).unwrap_or_default();
        match params.get("upper_threshold") {
            Some(_) => format!(
                "  rule {operator} {}..{}",
                limit("threshold"),
                limit("upper_threshold")
            ),
            None => format!("  rule {operator} {}", limit("threshold")),
        }
    } else {
        match (d.lower_bound, d.upper_bound) {
            (Some(l), Some(u)) => format!("  expected {}..{}", num(l), num(u)),
            (Some(l), None) => format!("  expected >= {}", num(l)),
            (None, Some(u)) => format!("  expected <= {}", num(u)),
            (None, None) => String::new(),
        }
    };
    let score = d
        .score
        .map(|s| format!("  score {}", num(s)))
        .unwrap_or_default();
    let direction = d
        .direction
        .map(|x| format!("  {}", x.as_str()))
        .unwrap_or_default();
    let deviation = d
        .percent_deviation
        .map(|p| format!(" {:+.1}%", p))
        .unwrap_or_default();
    format!(
        "anomaly {}  value {value}{range}{score}{direction}{deviation}  [{} {}]",
        time(&d.timestamp),
        r.detector_type,
        r.detector_id
    )
}

/// What happened to a run's alert.
pub fn print_alert_report(report: &AlertReport) {
    for message in &report.sent {
        println!("  alert sent: {}", message.title);
    }
    for message in &report.would_send {
        println!("  alert that would be sent (dry run): {}", message.title);
        for line in message.text.lines() {
            println!("    | {line}");
        }
    }
    if report.sent.is_empty()
        && report.would_send.is_empty()
        && let Some(why) = &report.held_back
    {
        println!("  no alert: {why}");
    }
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// `-q`: print only errors (and alerts of the `console` alerter); reports and summaries are
/// left out. `--format json` output is never suppressed.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}
