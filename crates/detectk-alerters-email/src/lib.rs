#![doc = include_str!("../README.md")]

mod alerter;
mod body;
mod params;

pub use alerter::EmailAlerter;
pub use body::{html_body, subject};
pub use params::{EmailParams, Security};

use std::sync::Arc;

use detectk_core::Alerter;
use detectk_core::config::Params;
use detectk_core::registry::Registry;

/// Reads the params and builds the alerter; problems go into `params`.
fn read_alerter(params: &mut Params<'_>) -> Option<Arc<dyn Alerter>> {
    let parsed = EmailParams::parse(params)?;
    match EmailAlerter::new(parsed) {
        Ok(alerter) => Some(Arc::new(alerter)),
        Err(e) => {
            params.error("smtp_host", e.message);
            None
        }
    }
}

/// Registers the `email` alerter type with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "email",
        "sends alerts by SMTP (STARTTLS/TLS, login, several recipients, text and HTML)",
        Arc::new(read_alerter),
    );
}
