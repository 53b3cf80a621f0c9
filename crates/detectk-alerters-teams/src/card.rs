//! The body of a Teams workflow webhook post: a `message` whose one attachment is an
//! Adaptive Card (schema 1.4: title, text, facts).

use detectk_core::AlertMessage;
use detectk_core::alert::{WebhookFormat, WebhookParams, format_time, format_value};
use detectk_core::traits::AlertKind;
use serde_json::{Value, json};

/// Longest text block sent (Teams refuses posts over about 28 KB).
const TEXT_LIMIT: usize = 10_000;

/// Teams' payload shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeamsFormat;

impl WebhookFormat for TeamsFormat {
    const CHANNEL: &'static str = "teams";

    fn payload(message: &AlertMessage, _params: &WebhookParams) -> Value {
        payload(message)
    }
}

/// The webhook body: `{"type": "message", "attachments": [{"contentType":
/// "application/vnd.microsoft.card.adaptive", "content": <card>}]}`.
pub fn payload(message: &AlertMessage) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card(message),
        }],
    })
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit - 3).collect();
    out.push_str("...");
    out
}

/// The Adaptive Card of `message`.
pub fn card(message: &AlertMessage) -> Value {
    let color = match message.kind {
        AlertKind::Anomaly => "Attention",
        AlertKind::Recovery => "Good",
        AlertKind::Test => "Accent",
    };
    let mut facts = vec![
        json!({"title": "Metric", "value": message.metric}),
        json!({"title": "Time", "value": format_time(message.timestamp)}),
    ];
    if let Some(first) = message.detections.first() {
        let d = &first.detection;
        facts.push(json!({"title": "Value", "value": format_value(d.value)}));
        if let (Some(lo), Some(hi)) = (d.lower_bound, d.upper_bound) {
            facts.push(json!({"title": "Expected", "value":
                format!("{} .. {}", format_value(Some(lo)), format_value(Some(hi)))}));
        }
        if let Some(score) = d.score {
            facts.push(json!({"title": "Score", "value": format!("{score:.2}")}));
        }
    }
    facts.push(json!({"title": "Severity", "value": message.severity.as_str()}));
    let detectors: Vec<String> = message
        .detections
        .iter()
        .map(|r| format!("{} {}", r.detector_type, r.detector_id))
        .collect();
    if !detectors.is_empty() {
        facts.push(json!({"title": "Detectors", "value": detectors.join(", ")}));
    }
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {"type": "TextBlock", "text": message.title, "weight": "Bolder",
             "size": "Medium", "color": color, "wrap": true},
            {"type": "TextBlock", "text": truncate(&message.text, TEXT_LIMIT), "wrap": true},
            {"type": "FactSet", "facts": facts},
        ],
    })
}
