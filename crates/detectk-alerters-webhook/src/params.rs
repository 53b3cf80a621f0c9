//! The params of the `webhook` alerter.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use detectk_core::Secret;
use detectk_core::alert::{
    AlertSettings, RetryPolicy, check_http_url, delivery_params, sample_message,
};
use detectk_core::config::Params;
use serde_json::{Map, Value};

use crate::body::{check_template, render_body};

/// Parsed `webhook` params.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GenericWebhookParams {
    /// The endpoint (a secret: it may carry a token).
    pub url: Secret,
    /// `POST`, `PUT` or `PATCH`.
    pub method: String,
    /// Extra headers; values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// A minijinja body template; `None` sends the default JSON body.
    pub body_template: Option<String>,
    /// Content type of a templated body.
    pub content_type: String,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
}

impl GenericWebhookParams {
    /// Params for `url` with every default (POST, the default JSON body).
    pub fn new(url: Secret) -> Self {
        Self {
            url,
            method: "POST".into(),
            headers: Vec::new(),
            body_template: None,
            content_type: "application/json".into(),
            timeout: detectk_core::alert::DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Whether a templated body must be JSON.
    pub fn is_json(&self) -> bool {
        self.content_type.to_ascii_lowercase().contains("json")
    }

    /// Reads the params; problems are recorded in `params` (all of them).
    pub fn parse(params: &mut Params<'_>) -> Option<Self> {
        let url: Option<Secret> = params.required("url");
        let method = params.choice("method", &["POST", "PUT", "PATCH"], "POST");
        let headers = read_headers(params);
        let content_type: String = params.or("content_type", "application/json".to_string());
        let body_template: Option<String> = params.optional("body_template");
        let (timeout, retry) = delivery_params(params);
        let mut out = Self::new(url.clone().unwrap_or_default());
        out.method = method;
        out.headers = headers;
        out.content_type = content_type;
        out.timeout = timeout;
        out.retry = retry;
        if let Some(template) = body_template {
            match check_template(&template).and_then(|()| trial_render(&template, out.is_json())) {
                Ok(()) => out.body_template = Some(template),
                Err(problem) => params.error("body_template", problem),
            }
        }
        if let Some(url) = &url
            && let Err(problem) = check_http_url(url.expose())
        {
            params.error("url", problem);
        }
        if url.is_none() || params.has_issues() {
            return None;
        }
        Some(out)
    }
}

/// Renders `template` for a sample anomaly.
fn trial_render(template: &str, json: bool) -> Result<(), String> {
    let at = Utc
        .with_ymd_and_hms(2024, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default();
    let sample = sample_message("sample_metric", &AlertSettings::default(), &[], at);
    render_body(template, &sample, json).map(|_| ())
}

/// `headers`: a mapping of header names to (secret) string values.
fn read_headers(params: &mut Params<'_>) -> Vec<(String, Secret)> {
    let Some(map) = params.optional::<Map<String, Value>>("headers") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in map {
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            params.error("headers", format!("{name:?} is not a valid header name"));
            continue;
        }
        if name.eq_ignore_ascii_case("content-type") {
            params.error(
                "headers",
                "set the body's type with `content_type`, not a Content-Type header",
            );
            continue;
        }
        match value {
            Value::String(s) if !s.contains(['\r', '\n']) => out.push((name, Secret::new(s))),
            Value::Number(n) => out.push((name, Secret::new(n.to_string()))),
            _ => params.error(
                "headers",
                format!("the value of {name} must be a one-line string"),
            ),
        }
    }
    out
}
