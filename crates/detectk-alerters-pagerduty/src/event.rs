//! The Events API v2 event of an alert.

use chrono::{DateTime, SecondsFormat, Utc};
use detectk_core::AlertMessage;
use detectk_core::alert::{Severity, format_value};
use detectk_core::traits::AlertKind;
use serde_json::{Map, Value, json};

use crate::params::PagerDutyParams;

/// PagerDuty's limit on `summary`.
const SUMMARY_LIMIT: usize = 1024;
/// PagerDuty's limit on `dedup_key`.
const DEDUP_LIMIT: usize = 255;

/// The `dedup_key` of a metric's incident: `detectk/<metric>/<incident start>`, the
/// incident start being the point of its first anomaly alert (RFC 3339, UTC), so a
/// trigger, its repeats and its resolve share one key and the next incident gets a
/// new one. Without an incident start (`dtk test-alert`, digests of several alerts)
/// the key is `detectk/<metric>` (`detectk/test/<metric>` for a test). A long metric
/// name is shortened so the key stays within PagerDuty's 255 characters with the
/// incident start intact.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let start = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
/// assert_eq!(
///     detectk_alerters_pagerduty::dedup_key("sessions", Some(start), false),
///     "detectk/sessions/2024-03-01T02:00:00Z"
/// );
/// assert_eq!(detectk_alerters_pagerduty::dedup_key("sessions", None, false), "detectk/sessions");
/// ```
pub fn dedup_key(metric: &str, incident_start: Option<DateTime<Utc>>, test: bool) -> String {
    let prefix = if test { "detectk/test/" } else { "detectk/" };
    let suffix = match incident_start {
        Some(start) if !test => format!("/{}", start.to_rfc3339_opts(SecondsFormat::Secs, true)),
        _ => String::new(),
    };
    let room = DEDUP_LIMIT.saturating_sub(prefix.len() + suffix.chars().count());
    let metric: String = metric.chars().take(room).collect();
    format!("{prefix}{metric}{suffix}")
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        _ => "info",
    }
}

fn summary(message: &AlertMessage) -> String {
    let mut text = message.title.clone();
    if let Some(first) = message.detections.first() {
        let d = &first.detection;
        text.push_str(&format!(": value {}", format_value(d.value)));
        if let (Some(lo), Some(hi)) = (d.lower_bound, d.upper_bound) {
            text.push_str(&format!(
                ", expected {} .. {}",
                format_value(Some(lo)),
                format_value(Some(hi))
            ));
        }
        if let Some(score) = d.score {
            text.push_str(&format!(", score {score:.2}"));
        }
    }
    if text.chars().count() > SUMMARY_LIMIT {
        text = text.chars().take(SUMMARY_LIMIT - 3).collect::<String>() + "...";
    }
    text
}

/// The event for `message` (without the routing key, which the alerter adds).
pub fn event(message: &AlertMessage, params: &PagerDutyParams) -> Value {
    let key = dedup_key(
        &message.metric,
        message.incident_start,
        message.kind == AlertKind::Test,
    );
    if message.kind == AlertKind::Recovery {
        return json!({"event_action": "resolve", "dedup_key": key});
    }
    let mut details = Map::new();
    details.insert("metric".into(), message.metric.clone().into());
    details.insert("kind".into(), message.kind.as_str().into());
    details.insert("severity".into(), message.severity.as_str().into());
    if let Some(first) = message.detections.first() {
        let d = &first.detection;
        for (k, v) in [
            ("value", d.value),
            ("lower_bound", d.lower_bound),
            ("upper_bound", d.upper_bound),
            ("score", d.score),
            ("percent_deviation", d.percent_deviation),
        ] {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                details.insert(k.into(), v.into());
            }
        }
    }
    let detectors: Vec<Value> = message
        .detections
        .iter()
        .map(|r| json!({"id": r.detector_id, "type": r.detector_type}))
        .collect();
    details.insert("detectors".into(), detectors.into());
    details.insert("message".into(), message.text.clone().into());
    let mut payload = Map::new();
    payload.insert("summary".into(), summary(message).into());
    payload.insert("source".into(), params.source.clone().into());
    payload.insert("severity".into(), severity(message.severity).into());
    payload.insert(
        "timestamp".into(),
        message
            .timestamp
            .to_rfc3339_opts(SecondsFormat::Secs, true)
            .into(),
    );
    payload.insert("component".into(), message.metric.clone().into());
    if let Some(group) = &params.group {
        payload.insert("group".into(), group.clone().into());
    }
    payload.insert("class".into(), "anomaly".into());
    payload.insert("custom_details".into(), Value::Object(details));
    let mut event = Map::new();
    event.insert("event_action".into(), "trigger".into());
    event.insert("dedup_key".into(), key.into());
    event.insert("payload".into(), Value::Object(payload));
    event.insert("client".into(), "DetectK".into());
    if let Some(url) = &params.client_url {
        event.insert("client_url".into(), url.clone().into());
    }
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_long_metric_name_is_shortened_and_the_incident_start_kept() {
        let start = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        let long = "m".repeat(400);
        let key = dedup_key(&long, Some(start), false);
        assert_eq!(key.chars().count(), DEDUP_LIMIT);
        assert!(key.starts_with("detectk/mmm"), "{key}");
        assert!(key.ends_with("/2024-03-01T02:00:00Z"), "{key}");
        assert_eq!(dedup_key(&long, None, true).chars().count(), DEDUP_LIMIT);
    }

    #[test]
    fn incidents_with_different_starts_get_different_keys() {
        let first = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        let next = Utc.with_ymd_and_hms(2024, 3, 1, 5, 0, 0).unwrap();
        assert_ne!(
            dedup_key("orders", Some(first), false),
            dedup_key("orders", Some(next), false)
        );
        assert_eq!(
            dedup_key("orders", Some(first), true),
            "detectk/test/orders"
        );
    }
}
