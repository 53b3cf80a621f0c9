//! A webhook alerter over reqwest (feature `webhook`): one JSON POST per attempt,
//! sent by the shared [`HttpSender`] (retries, backoff, URL scrubbing). A channel
//! crate supplies only its payload shape ([`WebhookFormat`]).

use std::marker::PhantomData;

use async_trait::async_trait;
use serde_json::Value;

use crate::alert::{HttpBody, HttpRequest, HttpSender, WebhookParams};
use crate::error::AlertError;
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
    sender: HttpSender,
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
    /// An alerter for these webhook params (builds nothing, sends nothing: the shared HTTP client is built on the first request).
    pub fn new(params: WebhookParams) -> Self {
        let sender = HttpSender::new(F::CHANNEL, params.timeout, params.retry);
        Self {
            params,
            sender,
            format: PhantomData,
        }
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
        let body = HttpBody::Json(F::payload(message, &self.params));
        let request = HttpRequest {
            method: "POST",
            url: &self.params.url,
            headers: &[],
            body: &body,
        };
        self.sender.send(&request, &[]).await.map(|_| ())
    }

    /// A `HEAD` request to the webhook: resolves the host, connects (TLS included) and
    /// gets an HTTP status, without posting a message. Any status counts as reachable.
    async fn check(&self) -> Result<Option<String>, AlertError> {
        self.sender
            .check(&self.params.url, &self.params.host())
            .await
    }
}
