//! One HTTP client for every HTTP channel (feature `webhook`): a request with any
//! method, headers and body, sent with the retries, backoff and scrubbing of
//! [`deliver_scrubbing`]. Channel crates describe the request; they never hold a
//! client or a retry loop of their own.

use std::time::Duration;

use serde_json::Value;

use crate::alert::delivery::{AttemptFailure, HttpReply, RetryPolicy, deliver_scrubbing};
use crate::error::{AlertError, AlertErrorKind};
use crate::secret::Secret;

/// The body of a request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HttpBody {
    /// No body.
    Empty,
    /// A JSON document (`content-type: application/json`).
    Json(Value),
    /// Text with its content type.
    Text {
        /// The `content-type` header value.
        content_type: String,
        /// The body.
        text: String,
    },
}

/// One request a channel sends: everything secret is a [`Secret`].
#[derive(Debug, Clone)]
pub struct HttpRequest<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The URL (a secret: webhook paths and bot tokens are credentials).
    pub url: &'a Secret,
    /// Extra headers; their values are secrets (an `Authorization` header, an API key).
    pub headers: &'a [(String, Secret)],
    /// The body.
    pub body: &'a HttpBody,
}

/// A reqwest client with the channel's timeout and retry policy.
#[derive(Debug, Clone)]
pub struct HttpSender {
    channel: &'static str,
    client: reqwest::Client,
    retry: RetryPolicy,
}

/// Error text of a reqwest error and its causes, without the URL.
fn describe(e: reqwest::Error) -> (reqwest::Error, String) {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    (e, text)
}

/// Telegram answers 429 with `{"parameters": {"retry_after": 5}}` and no header.
fn retry_after_in_body(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let seconds = value.get("parameters")?.get("retry_after")?.as_u64()?;
    Some(seconds.to_string())
}

impl HttpSender {
    /// A sender for `channel` (builds the client; sends nothing).
    pub fn new(
        channel: &'static str,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, AlertError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("detectk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                AlertError::new(
                    AlertErrorKind::Other,
                    channel,
                    format!("could not create the HTTP client: {}", describe(e).1),
                )
            })?;
        Ok(Self {
            channel,
            client,
            retry,
        })
    }

    /// The channel type this sender reports errors for.
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    /// Sends `request`, retrying as [`deliver_scrubbing`] does; errors never contain
    /// the URL, a header value or any of `secrets`. Returns the successful reply.
    pub async fn send(
        &self,
        request: &HttpRequest<'_>,
        secrets: &[&Secret],
    ) -> Result<HttpReply, AlertError> {
        let mut all: Vec<&Secret> = vec![request.url];
        all.extend(request.headers.iter().map(|(_, v)| v));
        all.extend_from_slice(secrets);
        let last = std::sync::Mutex::new(None);
        deliver_scrubbing(self.channel, &self.retry, &all, || async {
            let reply = self.attempt(request).await;
            if let Ok(r) = &reply {
                *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
            }
            reply
        })
        .await?;
        let reply = last.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(reply.unwrap_or(HttpReply {
            status: 200,
            retry_after: None,
            body: String::new(),
        }))
    }

    async fn attempt(&self, request: &HttpRequest<'_>) -> Result<HttpReply, AttemptFailure> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| AttemptFailure::Request(format!("invalid method {}", request.method)))?;
        let mut builder = self.client.request(method, request.url.expose());
        for (name, value) in request.headers {
            builder = builder.header(name.as_str(), value.expose());
        }
        builder = match request.body {
            HttpBody::Empty => builder,
            HttpBody::Json(value) => builder.json(value),
            HttpBody::Text { content_type, text } => builder
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(text.clone()),
        };
        let response = builder.send().await.map_err(|e| {
            let (e, text) = describe(e);
            if e.is_timeout() {
                AttemptFailure::Timeout
            } else if e.is_builder() {
                AttemptFailure::Request(text)
            } else {
                AttemptFailure::Connect(text)
            }
        })?;
        let status = response.status().as_u16();
        let header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.text().await {
            Ok(text) => text,
            Err(e) if e.is_timeout() => return Err(AttemptFailure::Timeout),
            Err(_) => String::new(),
        };
        let retry_after = match header {
            Some(h) => Some(h),
            None if status == 429 => retry_after_in_body(&body),
            None => None,
        };
        Ok(HttpReply {
            status,
            retry_after,
            body,
        })
    }

    /// A `HEAD` request to `url`: resolves the host, connects (TLS included) and gets
    /// an HTTP status, posting nothing. Any status counts as reachable; `host` names
    /// the endpoint in the answer (never the URL).
    pub async fn check(&self, url: &Secret, host: &str) -> Result<Option<String>, AlertError> {
        match self.client.head(url.expose()).send().await {
            Ok(response) => Ok(Some(format!(
                "{host} reachable (HEAD answered HTTP {})",
                response.status().as_u16()
            ))),
            Err(e) => {
                let (e, text) = describe(e);
                let kind = if e.is_timeout() {
                    AlertErrorKind::Timeout
                } else {
                    AlertErrorKind::Unavailable
                };
                Err(AlertError::new(
                    kind,
                    self.channel,
                    crate::alert::delivery::scrub(&format!("{host} is not reachable: {text}"), url),
                ))
            }
        }
    }
}
