//! Alert messages: the default text or the `message_template` override, and the
//! sample message of `dtk test-alert`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::alert::settings::AlertSettings;
use crate::alert::template;
use crate::alert::text::{MessageInput, default_text, sample_detection, title};
use crate::model::{Context, DetectionRecord};
use crate::traits::{AlertKind, AlertMessage};

/// A configured detector as alerts describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorInfo {
    /// Detector ID.
    pub id: String,
    /// Detector type.
    pub kind: String,
    /// Params as configured.
    pub params: Value,
}

/// Builds the message: the template's text when one is set and renders, else the default.
///
/// Templates are validated when the config is loaded; if one still fails here (a
/// value of an unexpected shape), the default text is sent rather than nothing.
pub fn build_message(input: &MessageInput<'_>, template_source: Option<&str>) -> AlertMessage {
    build_message_with_link(input, template_source, None)
}

/// [`build_message`] with a link to a report or chart (`alerter.params.report_url`,
/// expanded): the default text ends with `Report: <link>`, and templates see it as
/// `report_url`.
pub fn build_message_with_link(
    input: &MessageInput<'_>,
    template_source: Option<&str>,
    link: Option<&str>,
) -> AlertMessage {
    let mut default = default_text(input);
    if let Some(link) = link {
        default.push_str(&format!("\nReport: {link}"));
    }
    let text = match template_source {
        None => default,
        Some(source) => match template::render(source, input, &default, link) {
            Ok(text) => text,
            Err(problem) => {
                tracing::warn!(
                    metric = input.metric,
                    "message_template failed ({problem}); sending the default message"
                );
                default
            }
        },
    };
    AlertMessage {
        metric: input.metric.to_string(),
        kind: input.kind,
        timestamp: input.timestamp,
        title: title(input.kind, input.metric),
        text,
        detections: input.detections.to_vec(),
        severity: input.severity,
        incident_start: None,
    }
}

/// A sample alert for `dtk test-alert`: made-up values shaped like a real anomaly
/// of each configured detector (a `mad` detector when none is given), rendered with
/// the configured `message_template` if there is one.
pub fn sample_message(
    metric: &str,
    settings: &AlertSettings,
    detectors: &[DetectorInfo],
    now: DateTime<Utc>,
) -> AlertMessage {
    let fallback = [DetectorInfo {
        id: "sample".into(),
        kind: "mad".into(),
        params: serde_json::json!({"window_size": "30 days", "n_sigma": 3.0}),
    }];
    let detectors = if detectors.is_empty() {
        &fallback[..]
    } else {
        detectors
    };
    let records: Vec<DetectionRecord> = detectors
        .iter()
        .map(|d| DetectionRecord {
            metric: metric.to_string(),
            detector_id: d.id.clone(),
            detector_type: d.kind.clone(),
            detector_params: d.params.clone(),
            detection: sample_detection(now),
            alert_sent: false,
            context: Context::new(),
        })
        .collect();
    let input = MessageInput {
        metric,
        kind: AlertKind::Test,
        timestamp: now,
        detections: &records,
        consecutive: 1,
        recovered_from: None,
        severity: settings
            .severity_cutoffs
            .classify(AlertKind::Test, &records),
    };
    let link = settings
        .report_url
        .as_deref()
        .map(|p| crate::alert::expand_report_url(p, metric, now));
    build_message_with_link(
        &input,
        settings.message_template.as_deref(),
        link.as_deref(),
    )
}

#[cfg(test)]
mod tests;
