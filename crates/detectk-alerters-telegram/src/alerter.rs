//! The Telegram alerter: `sendMessage` through the shared [`HttpSender`].

use async_trait::async_trait;
use detectk_core::alert::{HttpBody, HttpRequest, HttpSender};
use detectk_core::{AlertError, AlertMessage, Alerter, Secret};

use crate::params::TelegramParams;
use crate::payload::payload;

/// Sends alerts with the Telegram Bot API.
///
/// `Debug`, [`Alerter::describe`] and errors never show the bot token.
#[derive(Debug)]
pub struct TelegramAlerter {
    params: TelegramParams,
    send_url: Secret,
    sender: HttpSender,
}

impl TelegramAlerter {
    /// An alerter for these params (builds nothing, sends nothing: the shared HTTP client is built on the first request).
    pub fn new(params: TelegramParams) -> Self {
        let sender = HttpSender::new("telegram", params.timeout, params.retry);
        Self {
            send_url: params.method_url("sendMessage"),
            params,
            sender,
        }
    }
}

#[async_trait]
impl Alerter for TelegramAlerter {
    fn describe(&self) -> String {
        let chat = match &self.params.chat_id {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self.params.message_thread_id {
            Some(thread) => format!("telegram (chat {chat}, topic {thread})"),
            None => format!("telegram (chat {chat})"),
        }
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        let body = HttpBody::Json(payload(message, &self.params));
        let request = HttpRequest {
            method: "POST",
            url: &self.send_url,
            headers: &[],
            body: &body,
        };
        self.sender
            .send(&request, &[&self.params.bot_token])
            .await
            .map(|_| ())
    }

    /// Calls `getMe`: the server is reachable and the bot token is accepted.
    async fn check(&self) -> Result<Option<String>, AlertError> {
        let url = self.params.method_url("getMe");
        let request = HttpRequest {
            method: "GET",
            url: &url,
            headers: &[],
            body: &HttpBody::Empty,
        };
        self.sender
            .send(&request, &[&self.params.bot_token])
            .await?;
        Ok(Some("the Bot API accepted the bot token (getMe)".into()))
    }
}
