//! The params every incoming-webhook channel shares: `webhook_url`, `username`,
//! `icon_url`, `icon_emoji`, `channel`, `timeout` and `max_retries`.

use std::time::Duration;

use crate::alert::delivery::RetryPolicy;
use crate::config::Params;
use crate::secret::Secret;

/// Default request timeout (Python detectk's alerters: 10 seconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most retries a config may ask for.
pub const MAX_RETRIES_LIMIT: u32 = 10;

/// Per-channel defaults for [`WebhookParams::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookDefaults {
    /// Bot name shown with the message.
    pub username: Option<&'static str>,
    /// Icon emoji used when neither `icon_url` nor `icon_emoji` is set.
    pub icon_emoji: Option<&'static str>,
}

/// Parsed webhook params.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookParams {
    /// The incoming-webhook URL (a secret: its path is the credential).
    pub url: Secret,
    /// Bot name override.
    pub username: Option<String>,
    /// Bot icon URL override.
    pub icon_url: Option<String>,
    /// Bot icon emoji override (`:bell:`); ignored by the channel when `icon_url` is set.
    pub icon_emoji: Option<String>,
    /// Channel override (`town-square`, `#alerts`, `@someone`).
    pub channel: Option<String>,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
}

impl WebhookParams {
    /// Parameters with `url` and every default (used by embedders and tests).
    pub fn new(url: Secret) -> Self {
        Self {
            url,
            username: None,
            icon_url: None,
            icon_emoji: None,
            channel: None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Reads the shared webhook keys; problems are recorded in `params`.
    /// Returns `None` when `webhook_url` is missing or invalid.
    pub fn parse(params: &mut Params<'_>, defaults: WebhookDefaults) -> Option<Self> {
        let url: Option<Secret> = params.required("webhook_url");
        let username: Option<String> = params
            .optional("username")
            .or(defaults.username.map(str::to_owned));
        let icon_url: Option<String> = params.optional("icon_url");
        let icon_emoji = match params.optional::<String>("icon_emoji") {
            Some(emoji) => Some(emoji),
            None if icon_url.is_none() => defaults.icon_emoji.map(str::to_owned),
            None => None,
        };
        let channel: Option<String> = params.optional("channel");
        let (timeout, retry) = delivery_params(params);
        let url = url?;
        if let Err(problem) = check_http_url(url.expose()) {
            params.error("webhook_url", problem);
            return None;
        }
        Some(Self {
            url,
            username,
            icon_url,
            icon_emoji,
            channel,
            timeout,
            retry,
        })
    }

    /// The host of the URL, for messages (`hooks.slack.com`): never the secret path.
    pub fn host(&self) -> String {
        url_host(self.url.expose())
    }
}

/// Reads `timeout` (seconds, default 10) and `max_retries` (default 3, at most
/// [`MAX_RETRIES_LIMIT`]), the delivery keys every channel shares; problems are
/// recorded in `params` and the defaults used instead.
pub fn delivery_params(params: &mut Params<'_>) -> (Duration, RetryPolicy) {
    let timeout_secs: f64 = params.or("timeout", DEFAULT_TIMEOUT.as_secs_f64());
    let timeout_ok = timeout_secs.is_finite() && timeout_secs > 0.0 && timeout_secs <= 600.0;
    params.check(timeout_ok, "timeout", || {
        format!("must be a number of seconds in (0, 600], got {timeout_secs}")
    });
    let max_retries: u32 = params.or("max_retries", RetryPolicy::default().max_retries);
    params.check(max_retries <= MAX_RETRIES_LIMIT, "max_retries", || {
        format!("must be at most {MAX_RETRIES_LIMIT}, got {max_retries}")
    });
    let timeout = if timeout_ok {
        Duration::from_secs_f64(timeout_secs)
    } else {
        DEFAULT_TIMEOUT
    };
    let retry = RetryPolicy {
        max_retries: max_retries.min(MAX_RETRIES_LIMIT),
        ..RetryPolicy::default()
    };
    (timeout, retry)
}

/// The host of a URL, for messages (`hooks.slack.com`): never its path or credentials.
///
/// ```
/// assert_eq!(detectk_core::alert::url_host("https://u:p@api.example.com:8443/bot1/x"), "api.example.com:8443");
/// ```
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default().to_string()
}

/// Checks an `http(s)://host/...` URL; the problem never repeats the URL.
///
/// ```
/// use detectk_core::alert::check_http_url;
/// assert!(check_http_url("https://h.example/x").is_ok());
/// assert_eq!(check_http_url("ftp://h/x").unwrap_err(), "must start with https:// or http://");
/// ```
pub fn check_http_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("is empty".into());
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("has no valid host".into());
    }
    if url.contains(char::is_whitespace) {
        return Err("contains whitespace".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    const SLACK: WebhookDefaults = WebhookDefaults {
        username: Some("DetectK"),
        icon_emoji: Some(":warning:"),
    };

    fn parse(v: Value) -> (Option<WebhookParams>, Vec<String>) {
        let m: Map<String, Value> = v.as_object().cloned().unwrap();
        let mut p = Params::new(&m, "alerter.params");
        let w = WebhookParams::parse(&mut p, SLACK);
        (w, p.finish().issues.iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn reads_overrides_and_defaults() {
        let (w, issues) = parse(json!({"webhook_url": "https://h.example/hooks/abc",
            "channel": "#ops", "timeout": 2.5, "max_retries": 1, "icon_url": "https://i.example/x.png"}));
        assert!(issues.is_empty(), "{issues:?}");
        let w = w.unwrap();
        assert_eq!(w.username.as_deref(), Some("DetectK"));
        assert_eq!(w.icon_emoji, None, "icon_url replaces the default emoji");
        assert_eq!(w.channel.as_deref(), Some("#ops"));
        assert_eq!(w.timeout, Duration::from_millis(2500));
        assert_eq!(w.retry.max_retries, 1);
        assert_eq!(w.host(), "h.example");
        let (w, _) = parse(json!({"webhook_url": "https://h.example/x"}));
        assert_eq!(w.unwrap().icon_emoji.as_deref(), Some(":warning:"));
    }

    #[test]
    fn problems_never_repeat_the_url() {
        let (w, issues) = parse(
            json!({"webhook_url": "ftp://h.example/hooks/s3cret", "timeout": 0,
            "max_retries": 99}),
        );
        assert!(w.is_none());
        assert_eq!(
            issues,
            [
                "alerter.params.timeout: must be a number of seconds in (0, 600], got 0",
                "alerter.params.max_retries: must be at most 10, got 99",
                "alerter.params.webhook_url: must start with https:// or http://",
            ]
        );
        let (_, issues) = parse(json!({}));
        assert_eq!(issues, ["alerter.params.webhook_url: is required"]);
    }
}
