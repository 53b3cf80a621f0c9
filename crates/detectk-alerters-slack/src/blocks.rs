//! The JSON body of a Slack incoming-webhook post: Block Kit blocks (a header, the
//! message text as mrkdwn sections, a context line) and `text` as the plain-text
//! fallback that notifications and old clients show.

use detectk_core::AlertMessage;
use detectk_core::alert::{WebhookParams, format_time};
use detectk_core::traits::AlertKind;
use serde_json::{Map, Value, json};

/// Longest header text Slack accepts.
const HEADER_LIMIT: usize = 150;
/// Longest text of one section block.
const SECTION_LIMIT: usize = 3000;
/// Most section blocks per message (Slack allows 50 blocks in all).
const MAX_SECTIONS: usize = 45;
/// Longest top-level `text` Slack accepts.
const TEXT_LIMIT: usize = 40_000;

/// The webhook body for `message`, with the username, icon and channel overrides
/// that are set (`icon_url` wins over `icon_emoji`).
pub fn payload(message: &AlertMessage, params: &WebhookParams) -> Value {
    let mut body = Map::new();
    body.insert(
        "text".into(),
        truncate(&escape(&message.text), TEXT_LIMIT).into(),
    );
    body.insert("blocks".into(), Value::Array(blocks(message)));
    let overrides = [
        ("username", &params.username),
        ("icon_url", &params.icon_url),
        ("channel", &params.channel),
    ];
    for (key, value) in overrides {
        if let Some(v) = value {
            body.insert(key.into(), v.clone().into());
        }
    }
    if params.icon_url.is_none()
        && let Some(emoji) = &params.icon_emoji
    {
        body.insert("icon_emoji".into(), emoji.clone().into());
    }
    Value::Object(body)
}

fn blocks(message: &AlertMessage) -> Vec<Value> {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&message.title, HEADER_LIMIT), "emoji": false},
    })];
    let text = escape(body_text(message));
    blocks.extend(
        text.split("\n\n")
            .flat_map(|paragraph| sections(paragraph, SECTION_LIMIT))
            .take(MAX_SECTIONS)
            .map(|chunk| json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})),
    );
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": context_line(message)}],
    }));
    blocks
}

/// The text without its first line when that line only repeats the header.
fn body_text(message: &AlertMessage) -> &str {
    let header = match message.kind {
        AlertKind::Anomaly => "ANOMALY: ",
        AlertKind::Recovery => "RECOVERED: ",
        AlertKind::Test => "TEST ALERT: ",
    };
    match message.text.split_once('\n') {
        Some((first, rest)) if first == format!("{header}{}", message.metric) => rest.trim_start(),
        _ => &message.text,
    }
}

/// `DetectK | sessions_10min | 2024-11-02 14:30:00 UTC | mad a1b2c3d4`.
fn context_line(message: &AlertMessage) -> String {
    let mut parts = vec![
        "DetectK".to_string(),
        escape(&message.metric),
        format_time(message.timestamp),
    ];
    let detectors: Vec<String> = message
        .detections
        .iter()
        .map(|r| escape(&format!("{} {}", r.detector_type, r.detector_id)))
        .collect();
    if !detectors.is_empty() {
        parts.push(detectors.join(", "));
    }
    truncate(&parts.join(" | "), SECTION_LIMIT)
}

/// Escapes the three characters Slack's mrkdwn reserves for its own markup
/// (`&` -> `&amp;`, `<` -> `&lt;`, `>` -> `&gt;`), so metric names, values and
/// template output show as written and cannot form links or mentions.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    out
}

/// The first `limit` characters of escaped `text`, backing off so no `&...;` entity is cut.
fn head(text: &str, limit: usize) -> &str {
    let end = text
        .char_indices()
        .nth(limit)
        .map_or(text.len(), |(i, _)| i);
    let cut = &text[..end];
    match cut.rfind('&') {
        Some(amp) if end < text.len() && !cut[amp..].contains(';') && amp > 0 => &text[..amp],
        _ => cut,
    }
}

/// Splits `text` into chunks of at most `limit` characters, at line breaks when possible.
fn sections(text: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        let mut line = line.to_string();
        while line.chars().count() > limit {
            let first = head(&line, limit).to_string();
            line = line[first.len()..].to_string();
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(first);
        }
        let needed =
            current.chars().count() + line.chars().count() + usize::from(!current.is_empty());
        if needed > limit {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out.retain(|s| !s.trim().is_empty());
    out
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut s = head(text, limit - 3).to_string();
    s.push_str("...");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_at_lines_and_respect_the_limit() {
        assert_eq!(sections("ab\ncd\nef", 5), ["ab\ncd", "ef"]);
        assert_eq!(sections("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(sections("\n\n", 3), Vec::<String>::new());
        let long = "x".repeat(7000);
        assert!(
            sections(&long, SECTION_LIMIT)
                .iter()
                .all(|s| s.chars().count() <= SECTION_LIMIT)
        );
    }

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(
            escape("a < b && c > d <!channel>"),
            "a &lt; b &amp;&amp; c &gt; d &lt;!channel&gt;"
        );
        assert_eq!(escape("plain *bold* text"), "plain *bold* text");
    }

    #[test]
    fn splitting_never_cuts_an_entity() {
        let text = escape("aaaa<bbbb");
        assert_eq!(text, "aaaa&lt;bbbb");
        assert_eq!(sections(&text, 6), ["aaaa", "&lt;bb", "bb"]);
        assert_eq!(truncate(&text, 8), "aaaa...");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 5), "ab...");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
