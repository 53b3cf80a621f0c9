//! The JSON body of `sendMessage`: the text (escaped for the parse mode, title in
//! bold), the chat, and the optional topic and silence flags.

use detectk_core::AlertMessage;
use serde_json::{Map, Value};

use crate::params::{ParseMode, TelegramParams};

/// Telegram's limit is 4096 characters after entity parsing; this leaves room.
const TEXT_LIMIT: usize = 4000;

/// Escapes text for `parse_mode: HTML` (`<`, `>`, `&`).
///
/// ```
/// assert_eq!(detectk_alerters_telegram::escape_html("a<b & c>"), "a&lt;b &amp; c&gt;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            other => out.push(other),
        }
    }
    out
}

/// Escapes text for `parse_mode: MarkdownV2`: every character Telegram reserves
/// (`_*[]()~` `` ` `` `>#+-=|{}.!` and `\`) gets a backslash.
///
/// ```
/// assert_eq!(detectk_alerters_telegram::escape_markdown_v2("a_b (1.5)!"), r"a\_b \(1\.5\)\!");
/// ```
pub fn escape_markdown_v2(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "_*[]()~`>#+-=|{}.!\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit - 3).collect();
    out.push_str("...");
    out
}

/// The message text for `mode`: plain, or the first line in bold and the rest escaped.
fn text(message: &AlertMessage, mode: ParseMode) -> String {
    let plain = truncate(&message.text, TEXT_LIMIT);
    let (first, rest) = plain.split_once('\n').unwrap_or((plain.as_str(), ""));
    match mode {
        ParseMode::Html => format!("<b>{}</b>\n{}", escape_html(first), escape_html(rest)),
        ParseMode::MarkdownV2 => format!(
            "*{}*\n{}",
            escape_markdown_v2(first),
            escape_markdown_v2(rest)
        ),
        _ => plain,
    }
    .trim_end()
    .to_string()
}

/// The `sendMessage` body for `message`.
pub fn payload(message: &AlertMessage, params: &TelegramParams) -> Value {
    let mut body = Map::new();
    body.insert("chat_id".into(), params.chat_id.clone());
    body.insert("text".into(), text(message, params.parse_mode).into());
    if let Some(mode) = params.parse_mode.api_value() {
        body.insert("parse_mode".into(), mode.into());
    }
    if let Some(thread) = params.message_thread_id {
        body.insert("message_thread_id".into(), thread.into());
    }
    if params.disable_notification {
        body.insert("disable_notification".into(), true.into());
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reserved_markdown_character_is_escaped() {
        let reserved = "_*[]()~`>#+-=|{}.!\\";
        let escaped = escape_markdown_v2(reserved);
        assert_eq!(escaped.len(), reserved.len() * 2);
        assert!(escaped.chars().step_by(2).all(|c| c == '\\'));
        assert_eq!(escape_markdown_v2("plain text 42"), "plain text 42");
    }

    #[test]
    fn long_text_is_cut_with_a_mark() {
        assert_eq!(truncate("abcdef", 5), "ab...");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
