#![doc = include_str!("../README.md")]

mod alerter;
mod payload;

pub use alerter::{MattermostAlerter, MattermostFormat};
pub use payload::payload;

use std::sync::Arc;

use detectk_core::Alerter;
use detectk_core::alert::{WebhookDefaults, WebhookParams};
use detectk_core::config::Params;
use detectk_core::registry::Registry;

/// Defaults of Python detectk's Mattermost alerter.
pub const DEFAULTS: WebhookDefaults = WebhookDefaults {
    username: Some("DetectK"),
    icon_emoji: None,
};

/// Reads the params and builds the alerter; problems go into `params`.
fn read_alerter(params: &mut Params<'_>) -> Option<Arc<dyn Alerter>> {
    let webhook = WebhookParams::parse(params, DEFAULTS)?;
    Some(Arc::new(MattermostAlerter::new(webhook)))
}

/// Registers the `mattermost` alerter type with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "mattermost",
        "posts alerts to a Mattermost incoming webhook (username, icon, channel override)",
        Arc::new(read_alerter),
    );
}
