//! One HTTP client for every HTTP channel (feature `webhook`): a request with any
//! method, headers and body, sent with the retries, backoff and scrubbing of
//! [`deliver_scrubbing`]. Channel crates describe the request; they never hold a
//! client or a retry loop of their own.
//!
//! Every sender of the process shares one reqwest client, built on the first request
//! (a metric whose alerter never sends builds nothing). It keeps no idle connections:
//! a pooled connection belongs to the async runtime that opened it, and one client
//! may serve several runtimes (an embedder's, a test's); alerts are rare enough that a
//! fresh connection per request costs nothing that matters.

use std::sync::OnceLock;
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

/// A channel's timeout and retry policy over the process's shared HTTP client.
#[derive(Debug, Clone)]
pub struct HttpSender {
    channel: &'static str,
    timeout: Duration,
    retry: RetryPolicy,
}

/// The process's HTTP client, built on first use; the error text when it cannot be.
fn shared_client() -> &'static Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent(concat!("detectk/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| describe(e).1)
    })
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
    /// A sender for `channel`, each request limited to `timeout`. Builds nothing and
    /// sends nothing: the shared client is built on the first request.
    pub fn new(channel: &'static str, timeout: Duration, retry: RetryPolicy) -> Self {
        Self {
            channel,
            timeout,
            retry,
        }
    }

    /// The shared client, or why it could not be built, as this channel's error.
    fn client(&self) -> Result<&'static reqwest::Client, AlertError> {
        shared_client().as_ref().map_err(|text| {
            AlertError::new(
                AlertErrorKind::Other,
                self.channel,
                format!("could not create the HTTP client: {text}"),
            )
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
        let client = self.client()?;
        let mut all: Vec<&Secret> = vec![request.url];
        all.extend(request.headers.iter().map(|(_, v)| v));
        all.extend_from_slice(secrets);
        let last = std::sync::Mutex::new(None);
        deliver_scrubbing(self.channel, &self.retry, &all, || async {
            let reply = self.attempt(client, request).await;
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

    async fn attempt(
        &self,
        client: &reqwest::Client,
        request: &HttpRequest<'_>,
    ) -> Result<HttpReply, AttemptFailure> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| AttemptFailure::Request(format!("invalid method {}", request.method)))?;
        let mut builder = client
            .request(method, request.url.expose())
            .timeout(self.timeout);
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
        let client = self.client()?;
        match client.head(url.expose()).timeout(self.timeout).send().await {
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
