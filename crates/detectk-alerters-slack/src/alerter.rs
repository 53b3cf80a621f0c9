//! Delivery to a Slack incoming webhook: one reqwest POST per attempt; retries,
//! backoff and secret scrubbing come from `detectk_core::alert::deliver`.

use detectk_core::alert::{AttemptFailure, HttpReply, WebhookParams, deliver};
use detectk_core::{AlertError, AlertErrorKind, AlertMessage, Alerter, async_trait};

use crate::blocks::payload;

const CHANNEL: &str = "slack";

/// Posts alerts to a Slack incoming webhook as Block Kit with a plain-text fallback.
///
/// `Debug` and [`Alerter::describe`] never show the webhook URL.
#[derive(Debug)]
pub struct SlackAlerter {
    params: WebhookParams,
    client: reqwest::Client,
}

impl SlackAlerter {
    /// An alerter for these webhook params (builds the HTTP client; sends nothing).
    pub fn new(params: WebhookParams) -> Result<Self, AlertError> {
        let client = reqwest::Client::builder()
            .timeout(params.timeout)
            .user_agent(concat!("detectk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                AlertError::new(
                    AlertErrorKind::Other,
                    CHANNEL,
                    format!("could not create the HTTP client: {}", e.without_url()),
                )
            })?;
        Ok(Self { params, client })
    }

    async fn attempt(&self, body: &serde_json::Value) -> Result<HttpReply, AttemptFailure> {
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
impl Alerter for SlackAlerter {
    fn describe(&self) -> String {
        match &self.params.channel {
            Some(channel) => format!("{CHANNEL} ({}, channel {channel})", self.params.host()),
            None => format!("{CHANNEL} ({})", self.params.host()),
        }
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        let body = payload(message, &self.params);
        deliver(CHANNEL, &self.params.retry, &self.params.url, || {
            self.attempt(&body)
        })
        .await
        .map(|_| ())
    }
}
