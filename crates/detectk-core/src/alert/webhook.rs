//! A webhook alerter over reqwest (feature `webhook`): one POST per attempt, with
//! retries, backoff and URL scrubbing from [`deliver`]. A channel crate supplies only
//! its payload shape ([`WebhookFormat`]).

use std::marker::PhantomData;

use async_trait::async_trait;
use serde_json::Value;

use crate::alert::{AttemptFailure, HttpReply, WebhookParams, deliver};
use crate::error::{AlertError, AlertErrorKind};
use crate::traits::{AlertMessage, Alerter};

/// How one channel shapes its webhook body.
pub trait WebhookFormat: Send + Sync + 'static {
    /// Channel type, e.g. `mattermost`.
    const CHANNEL: &'static str;

    /// The JSON body posted for `message`.
    fn payload(message: &AlertMessage, params: &WebhookParams) -> Value;
}

/// Posts alerts as JSON to an incoming webhook, shaped by `F`.
///
/// `Debug` and [`Alerter::describe`] never show the webhook URL.
pub struct WebhookAlerter<F> {
    params: WebhookParams,
    client: reqwest::Client,
    format: PhantomData<fn() -> F>,
}

impl<F: WebhookFormat> std::fmt::Debug for WebhookAlerter<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAlerter")
            .field("channel", &F::CHANNEL)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl<F: WebhookFormat> WebhookAlerter<F> {
    /// An alerter for these webhook params (builds the HTTP client; sends nothing).
    pub fn new(params: WebhookParams) -> Result<Self, AlertError> {
        let client = reqwest::Client::builder()
            .timeout(params.timeout)
            .user_agent(concat!("detectk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                AlertError::new(
                    AlertErrorKind::Other,
                    F::CHANNEL,
                    format!("could not create the HTTP client: {}", e.without_url()),
                )
            })?;
        Ok(Self {
            params,
            client,
            format: PhantomData,
        })
    }

    async fn attempt(&self, body: &Value) -> Result<HttpReply, AttemptFailure> {
        let response = self
            .client
            .post(self.params.url.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                let mut text = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                if e.is_timeout() {
                    AttemptFailure::Timeout
                } else if e.is_builder() {
                    AttemptFailure::Request(text)
                } else {
                    AttemptFailure::Connect(text)
                }
            })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.text().await {
            Ok(text) => text,
            Err(e) if e.is_timeout() => return Err(AttemptFailure::Timeout),
            Err(_) => String::new(),
        };
        Ok(HttpReply {
            status,
            retry_after,
            body,
        })
    }
}

#[async_trait]
impl<F: WebhookFormat> Alerter for WebhookAlerter<F> {
    fn describe(&self) -> String {
        match &self.params.channel {
            Some(channel) => format!("{} ({}, channel {channel})", F::CHANNEL, self.params.host()),
            None => format!("{} ({})", F::CHANNEL, self.params.host()),
        }
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        let body = F::payload(message, &self.params);
        deliver(F::CHANNEL, &self.params.retry, &self.params.url, || {
            self.attempt(&body)
        })
        .await
        .map(|_| ())
    }

    /// A `HEAD` request to the webhook: resolves the host, connects (TLS included) and
    /// gets an HTTP status, without posting a message. Any status counts as reachable.
    async fn check(&self) -> Result<Option<String>, AlertError> {
        match self.client.head(self.params.url.expose()).send().await {
            Ok(response) => Ok(Some(format!(
                "{} reachable (HEAD answered HTTP {})",
                self.params.host(),
                response.status().as_u16()
            ))),
            Err(e) => {
                let e = e.without_url();
                let mut text = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                let kind = if e.is_timeout() {
                    AlertErrorKind::Timeout
                } else {
                    AlertErrorKind::Unavailable
                };
                Err(AlertError::new(
                    kind,
                    F::CHANNEL,
                    format!("{} is not reachable: {text}", self.params.host()),
                ))
            }
        }
    }
}
