#![doc = include_str!("../README.md")]

mod alerter;
mod event;
mod params;

pub use alerter::PagerDutyAlerter;
pub use event::{dedup_key, event};
pub use params::{DEFAULT_URL, PagerDutyParams};

use std::sync::Arc;

use detectk_core::Alerter;
use detectk_core::config::Params;
use detectk_core::registry::Registry;

/// Reads the params and builds the alerter; problems go into `params`.
fn read_alerter(params: &mut Params<'_>) -> Option<Arc<dyn Alerter>> {
    let parsed = PagerDutyParams::parse(params)?;
    Some(Arc::new(PagerDutyAlerter::new(parsed)))
}

/// Registers the `pagerduty` alerter type with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "pagerduty",
        "sends PagerDuty Events API v2 events (trigger on alert, resolve on recovery)",
        Arc::new(read_alerter),
    );
}
