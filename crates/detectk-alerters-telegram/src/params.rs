//! The params of the `telegram` alerter.

use std::time::Duration;

use detectk_core::Secret;
use detectk_core::alert::{RetryPolicy, check_http_url, delivery_params};
use detectk_core::config::Params;
use serde_json::Value;

/// The public Bot API server.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// How Telegram formats the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseMode {
    /// Plain text: shown exactly as sent.
    None,
    /// Telegram's HTML subset; `<`, `>` and `&` are escaped.
    Html,
    /// MarkdownV2; every reserved character is escaped.
    MarkdownV2,
}

impl ParseMode {
    /// The `parse_mode` value of the API, if any.
    pub fn api_value(self) -> Option<&'static str> {
        match self {
            ParseMode::None => None,
            ParseMode::Html => Some("HTML"),
            ParseMode::MarkdownV2 => Some("MarkdownV2"),
        }
    }
}

/// Parsed `telegram` params.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TelegramParams {
    /// The bot token (`123456:ABC...`): a secret.
    pub bot_token: Secret,
    /// The chat: a number or `@channelname`.
    pub chat_id: Value,
    /// How the text is formatted.
    pub parse_mode: ParseMode,
    /// A topic of a forum supergroup.
    pub message_thread_id: Option<i64>,
    /// Send silently.
    pub disable_notification: bool,
    /// The Bot API server, without a trailing slash.
    pub api_url: String,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
}

impl TelegramParams {
    /// Params for `bot_token` and `chat_id` with every default.
    pub fn new(bot_token: Secret, chat_id: impl Into<Value>) -> Self {
        Self {
            bot_token,
            chat_id: chat_id.into(),
            parse_mode: ParseMode::None,
            message_thread_id: None,
            disable_notification: false,
            api_url: DEFAULT_API_URL.to_string(),
            timeout: detectk_core::alert::DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Reads the params; problems are recorded in `params`. `None` when a required
    /// key is missing or invalid.
    pub fn parse(params: &mut Params<'_>) -> Option<Self> {
        let bot_token: Option<Secret> = params.required("bot_token");
        let chat_id: Option<Value> = params.required("chat_id");
        let chat_id = match chat_id {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(Value::String(s)),
            Some(Value::Number(n)) if n.is_i64() => Some(Value::Number(n)),
            Some(_) => {
                params.error(
                    "chat_id",
                    "must be a chat number (e.g. -1001234567890) or @channelname",
                );
                None
            }
            None => None,
        };
        let mode = params.choice("parse_mode", &["none", "HTML", "MarkdownV2"], "none");
        let parse_mode = match mode.as_str() {
            "HTML" => ParseMode::Html,
            "MarkdownV2" => ParseMode::MarkdownV2,
            _ => ParseMode::None,
        };
        let message_thread_id: Option<i64> = params.optional("message_thread_id");
        let disable_notification: bool = params.or("disable_notification", false);
        let api_url: String = params.or("api_url", DEFAULT_API_URL.to_string());
        if let Err(problem) = check_http_url(&api_url) {
            params.error("api_url", problem);
        }
        let (timeout, retry) = delivery_params(params);
        let bot_token = bot_token?;
        let token_ok = !bot_token.is_empty()
            && !bot_token
                .expose()
                .contains(|c: char| c.is_whitespace() || c == '/' || c == '?' || c == '#');
        if !token_ok {
            params.error(
                "bot_token",
                "must be the token BotFather gave (no spaces, `/`, `?` or `#`)",
            );
            return None;
        }
        if params.has_issues() {
            return None;
        }
        Some(Self {
            bot_token,
            chat_id: chat_id?,
            parse_mode,
            message_thread_id,
            disable_notification,
            api_url: api_url.trim_end_matches('/').to_string(),
            timeout,
            retry,
        })
    }

    /// The URL of a Bot API method: `{api_url}/bot{token}/{method}` (a secret).
    pub fn method_url(&self, method: &str) -> Secret {
        Secret::new(format!(
            "{}/bot{}/{method}",
            self.api_url,
            self.bot_token.expose()
        ))
    }
}
