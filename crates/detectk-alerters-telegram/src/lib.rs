#![doc = include_str!("../README.md")]

mod alerter;
mod params;
mod payload;

pub use alerter::TelegramAlerter;
pub use params::{DEFAULT_API_URL, ParseMode, TelegramParams};
pub use payload::{escape_html, escape_markdown_v2, payload};

use std::sync::Arc;

use detectk_core::Alerter;
use detectk_core::config::Params;
use detectk_core::registry::Registry;

/// Reads the params and builds the alerter; problems go into `params`.
fn read_alerter(params: &mut Params<'_>) -> Option<Arc<dyn Alerter>> {
    let parsed = TelegramParams::parse(params)?;
    Some(Arc::new(TelegramAlerter::new(parsed)))
}

/// Registers the `telegram` alerter type with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "telegram",
        "sends alerts with the Telegram Bot API (sendMessage; chat, topic, parse mode)",
        Arc::new(read_alerter),
    );
}
