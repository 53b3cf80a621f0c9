#![doc = include_str!("../README.md")]

mod card;

pub use card::{TeamsFormat, card, payload};

use std::sync::Arc;

use detectk_core::alert::{WebhookAlerter, WebhookParams, check_http_url, delivery_params};
use detectk_core::config::Params;
use detectk_core::registry::Registry;
use detectk_core::{Alerter, Secret};

/// Posts alerts to a Teams workflow webhook as an Adaptive Card.
///
/// `Debug` and [`Alerter::describe`] never show the webhook URL.
pub type TeamsAlerter = WebhookAlerter<TeamsFormat>;

/// Reads `webhook_url`, `timeout` and `max_retries`; problems go into `params`.
pub fn parse_params(params: &mut Params<'_>) -> Option<WebhookParams> {
    let url: Option<Secret> = params.required("webhook_url");
    let (timeout, retry) = delivery_params(params);
    let url = url?;
    if let Err(problem) = check_http_url(url.expose()) {
        params.error("webhook_url", problem);
        return None;
    }
    let mut webhook = WebhookParams::new(url);
    webhook.timeout = timeout;
    webhook.retry = retry;
    Some(webhook)
}

/// Reads the params and builds the alerter; problems go into `params`.
fn read_alerter(params: &mut Params<'_>) -> Option<Arc<dyn Alerter>> {
    let webhook = parse_params(params)?;
    Some(Arc::new(TeamsAlerter::new(webhook)))
}

/// Registers the `teams` alerter type with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "teams",
        "posts alerts to a Microsoft Teams workflow webhook as an Adaptive Card",
        Arc::new(read_alerter),
    );
}
