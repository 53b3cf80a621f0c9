//! The Slack webhook alerter: the shared [`WebhookAlerter`] with Slack's payload.

use detectk_core::AlertMessage;
use detectk_core::alert::{WebhookAlerter, WebhookFormat, WebhookParams};
use serde_json::Value;

/// Slack's payload shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackFormat;

impl WebhookFormat for SlackFormat {
    const CHANNEL: &'static str = "slack";

    fn payload(message: &AlertMessage, params: &WebhookParams) -> Value {
        crate::blocks::payload(message, params)
    }
}

/// Posts alerts to a Slack incoming webhook as Block Kit with a plain-text fallback.
///
/// `Debug` and [`detectk_core::Alerter::describe`] never show the webhook URL.
pub type SlackAlerter = WebhookAlerter<SlackFormat>;
