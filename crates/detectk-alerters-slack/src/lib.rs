#![doc = include_str!("../README.md")]

mod alerter;
mod blocks;

pub use alerter::{SlackAlerter, SlackFormat};
pub use blocks::payload;

use std::sync::Arc;

use detectk_core::Alerter;
use detectk_core::alert::{WebhookDefaults, WebhookParams};
use detectk_core::config::Params;
use detectk_core::registry::Registry;

/// Defaults of Python detectk's Slack alerter.
pub const DEFAULTS: WebhookDefaults = WebhookDefaults {
    username: Some("DetectK"),
    icon_emoji: Some(":warning:"),
};

/// Reads the params and builds the alerter; problems go into `params`.
fn read_alerter(params: &mut Params<'_>) -> Option<Arc<dyn Alerter>> {
    let webhook = WebhookParams::parse(params, DEFAULTS)?;
    if !webhook.host().ends_with("slack.com") {
        params.warn(
            "webhook_url",
            format!(
                "points to {}, not hooks.slack.com; fine for a Slack-compatible endpoint",
                webhook.host()
            ),
        );
    }
    Some(Arc::new(SlackAlerter::new(webhook)))
}

/// Registers the `slack` alerter type with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "slack",
        "posts alerts to a Slack incoming webhook as Block Kit with a plain-text fallback",
        Arc::new(read_alerter),
    );
}
