//! The subject and the HTML part of an alert email (the text part is the message text).

use detectk_core::AlertMessage;
use detectk_core::traits::AlertKind;

/// The subject: the prefix and the title, on one line.
///
/// ```
/// # use detectk_core::alert::{AlertSettings, sample_message};
/// let m = sample_message("orders", &AlertSettings::default(), &[], chrono::Utc::now());
/// assert_eq!(detectk_alerters_email::subject("[DetectK] ", &m), format!("[DetectK] {}", m.title));
/// ```
pub fn subject(prefix: &str, message: &AlertMessage) -> String {
    format!("{prefix}{}", message.title).replace(['\r', '\n'], " ")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

/// The HTML part: the title as a heading coloured by kind and severity, and the
/// message text, escaped, in a preformatted block.
pub fn html_body(message: &AlertMessage) -> String {
    let color = match message.kind {
        AlertKind::Anomaly => "#c62828",
        AlertKind::Recovery => "#2e7d32",
        _ => "#1565c0",
    };
    format!(
        "<!DOCTYPE html>\n<html><body>\n<h2 style=\"color: {color}\">{}</h2>\n<p>Severity: {}</p>\n<pre style=\"font-family: monospace\">{}</pre>\n</body></html>\n",
        escape(&message.title),
        message.severity,
        escape(&message.text)
    )
}
