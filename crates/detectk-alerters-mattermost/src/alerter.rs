//! The Mattermost webhook alerter: the shared [`WebhookAlerter`] with Mattermost's payload.

use detectk_core::AlertMessage;
use detectk_core::alert::{WebhookAlerter, WebhookFormat, WebhookParams};
use serde_json::Value;

/// Mattermost's payload shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct MattermostFormat;

impl WebhookFormat for MattermostFormat {
    const CHANNEL: &'static str = "mattermost";

    fn payload(message: &AlertMessage, params: &WebhookParams) -> Value {
        crate::payload::payload(message, params)
    }
}

/// Posts alerts to a Mattermost incoming webhook.
///
/// `Debug` and [`detectk_core::Alerter::describe`] never show the webhook URL.
pub type MattermostAlerter = WebhookAlerter<MattermostFormat>;
