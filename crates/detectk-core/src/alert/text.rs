//! The default alert text (plain, no emojis, no markup) and what it is made of:
//! the message's input, its title, and how times and values are written for people.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::model::{Detection, DetectionRecord, Direction};
use crate::traits::AlertKind;

/// What a message is about; the input of both the default text and templates.
#[derive(Debug, Clone, Copy)]
pub struct MessageInput<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Why the message is sent.
    pub kind: AlertKind,
    /// Timestamp of the point the message is about.
    pub timestamp: DateTime<Utc>,
    /// Anomaly: the detections that fired. Recovery: the newest point's detections.
    pub detections: &'a [DetectionRecord],
    /// How many newest points in a row were anomalous (1 when not counted).
    pub consecutive: u32,
    /// Recovery: the timestamp of the anomaly alert the metric recovered from.
    pub recovered_from: Option<DateTime<Utc>>,
    /// How serious the alert is (see [`crate::alert::SeverityCutoffs::classify`]).
    pub severity: crate::alert::Severity,
}

/// One-line summary: `Anomaly in sessions_10min`.
pub fn title(kind: AlertKind, metric: &str) -> String {
    match kind {
        AlertKind::Anomaly => format!("Anomaly in {metric}"),
        AlertKind::Recovery => format!("Recovered: {metric}"),
        AlertKind::Test => format!("Test alert for {metric}"),
    }
}

/// The default plain-text message.
pub fn default_text(input: &MessageInput<'_>) -> String {
    let mut out = String::new();
    let header = match input.kind {
        AlertKind::Anomaly => "ANOMALY",
        AlertKind::Recovery => "RECOVERED",
        AlertKind::Test => "TEST ALERT",
    };
    out.push_str(&format!("{header}: {}\n", input.metric));
    if input.kind == AlertKind::Test {
        out.push_str("Sample data from `dtk test-alert`: no anomaly happened.\n");
    }
    out.push_str(&format!("Time: {}\n", format_time(input.timestamp)));
    out.push_str(&format!(
        "Value: {}\n",
        format_value(point_value(input.detections))
    ));
    match input.kind {
        AlertKind::Recovery => {
            if let Some(since) = input.recovered_from {
                out.push_str(&format!(
                    "Back to normal after the anomaly alert for {}.\n",
                    format_time(since)
                ));
            }
        }
        _ if input.consecutive > 1 => {
            out.push_str(&format!(
                "Anomalous points in a row: {}\n",
                input.consecutive
            ));
        }
        _ => {}
    }
    for record in input.detections {
        out.push('\n');
        out.push_str(&detector_line(record));
        out.push('\n');
        if record.detector_type == "threshold" {
            threshold_line(&mut out, &record.detector_params);
        } else {
            expected_lines(&mut out, &record.detection);
        }
        detection_lines(&mut out, &record.detection, input.kind);
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

fn detector_line(record: &DetectionRecord) -> String {
    let params = format_params(&record.detector_params);
    if params.is_empty() {
        format!(
            "Detector: {} (id {})",
            record.detector_type, record.detector_id
        )
    } else {
        format!(
            "Detector: {} (id {}; {params})",
            record.detector_type, record.detector_id
        )
    }
}

/// The expected range from the detection's bounds.
fn expected_lines(out: &mut String, d: &Detection) {
    match (d.lower_bound, d.upper_bound) {
        (Some(lo), Some(hi)) => {
            out.push_str(&format!("Expected range: {}\n", format_range(lo, hi)))
        }
        (Some(lo), None) => {
            out.push_str(&format!("Expected: at least {}\n", format_value(Some(lo))))
        }
        (None, Some(hi)) => {
            out.push_str(&format!("Expected: at most {}\n", format_value(Some(hi))))
        }
        (None, None) => {}
    }
}

/// A threshold detector's rule, from its params: its bounds (as in Python detectk)
/// mark the threshold, not an expected range.
pub(super) fn threshold_line(out: &mut String, params: &Value) {
    let number = |key: &str| params.get(key).and_then(Value::as_f64);
    let Some(threshold) = number("threshold") else {
        return;
    };
    let operator = params
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("greater_than");
    let mut rule = format!("Threshold: {operator} {}", format_value(Some(threshold)));
    if let Some(upper) = number("upper_threshold") {
        rule.push_str(&format!(" and {}", format_value(Some(upper))));
    }
    if params.get("percent").and_then(Value::as_bool) == Some(true) {
        rule.push_str(" (% change");
        if let Some(baseline) = number("baseline") {
            rule.push_str(&format!(" from {}", format_value(Some(baseline))));
        }
        rule.push(')');
    }
    out.push_str(&rule);
    out.push('\n');
}

fn detection_lines(out: &mut String, d: &Detection, kind: AlertKind) {
    if kind == AlertKind::Recovery {
        return;
    }
    if let Some(score) = d.score {
        out.push_str(&format!("Score: {}\n", format_score(score)));
    }
    if let Some(direction) = d.direction {
        out.push_str(&format!("Direction: {}\n", direction.as_str()));
    }
    if let Some(p) = d.percent_deviation {
        out.push_str(&format!("Deviation: {}\n", format_percent(p)));
    }
    if let Some(reason) = &d.skipped {
        out.push_str(&format!("Note: {reason}\n"));
    }
}

/// The point's value, taken from the first detection that has one.
pub(crate) fn point_value(detections: &[DetectionRecord]) -> Option<f64> {
    detections.iter().find_map(|r| r.detection.value)
}

/// `2024-11-02 14:30:00 UTC`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A value for people: whole numbers without decimals, others with two decimals,
/// small fractions with four significant digits; `missing` when there is none.
///
/// ```
/// use detectk_core::alert::format_value;
/// assert_eq!(format_value(Some(1100.0)), "1100");
/// assert_eq!(format_value(Some(1234.5)), "1234.50");
/// assert_eq!(format_value(Some(0.001234)), "0.001234");
/// assert_eq!(format_value(None), "missing");
/// ```
pub fn format_value(v: Option<f64>) -> String {
    let Some(x) = v else {
        return "missing".into();
    };
    if !x.is_finite() {
        return x.to_string();
    }
    if x == x.trunc() {
        return format!("{x:.0}");
    }
    if x.abs() >= 1.0 {
        return format!("{x:.2}");
    }
    let decimals = (3 - x.abs().log10().floor() as i32).clamp(1, 12) as usize;
    let s = format!("{x:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `900 to 1100`, `2.00 to 31.50`, `-6 to 15`: both ends in the same style.
pub(super) fn format_range(lo: f64, hi: f64) -> String {
    let whole = |x: f64| x == x.trunc();
    let big = |x: f64| x.abs() >= 1.0 || x == 0.0;
    if !(whole(lo) && whole(hi)) && big(lo) && big(hi) && lo.is_finite() && hi.is_finite() {
        return format!("{lo:.2} to {hi:.2}");
    }
    format!("{} to {}", format_value(Some(lo)), format_value(Some(hi)))
}

fn format_score(score: f64) -> String {
    if score.is_infinite() {
        "infinite (zero spread in the history)".into()
    } else {
        format!("{score:.2}")
    }
}

fn format_percent(p: f64) -> String {
    if p.is_finite() {
        format!("{p:+.1}%")
    } else {
        "infinite (the expected value is 0)".into()
    }
}

/// `n_sigma=3.0, window_size=30 days` from a params object, in config order.
fn format_params(params: &Value) -> String {
    let Some(map) = params.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The made-up anomalous detection used by samples and template validation.
pub(crate) fn sample_detection(timestamp: DateTime<Utc>) -> Detection {
    let mut stats = Map::new();
    stats.insert("median".into(), Value::from(1000.0));
    stats.insert("mad".into(), Value::from(50.0));
    Detection {
        timestamp,
        value: Some(1234.5),
        is_anomaly: true,
        score: Some(4.2),
        lower_bound: Some(900.0),
        upper_bound: Some(1100.0),
        direction: Some(Direction::Up),
        percent_deviation: Some(23.45),
        skipped: None,
        stats,
    }
}
