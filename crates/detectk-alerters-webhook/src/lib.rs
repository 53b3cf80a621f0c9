#![doc = include_str!("../README.md")]

mod alerter;
mod body;
mod params;

pub use alerter::GenericWebhookAlerter;
pub use body::{BODY_VARIABLES, default_body, render_body};
pub use params::GenericWebhookParams;

use std::sync::Arc;

use detectk_core::Alerter;
use detectk_core::config::Params;
use detectk_core::registry::Registry;

/// Reads the params and builds the alerter; problems go into `params`.
fn read_alerter(params: &mut Params<'_>) -> Option<Arc<dyn Alerter>> {
    let parsed = GenericWebhookParams::parse(params)?;
    Some(Arc::new(GenericWebhookAlerter::new(parsed)))
}

/// Registers the `webhook` alerter type with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "webhook",
        "sends alerts to any HTTP endpoint (method, secret headers, JSON or a minijinja body)",
        Arc::new(read_alerter),
    );
}
