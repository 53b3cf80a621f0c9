#![doc = include_str!("../README.md")]

pub mod args;
pub mod cli;
pub mod commands;
pub mod discover;
pub mod output;
pub mod project;
pub mod render;
#[cfg(feature = "sqlite")]
pub mod sample_data;
pub mod select;
pub mod templates;

use detectk_core::Registry;

/// The registry of this build: built-ins plus every backend crate enabled by features.
pub fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    detectk_detectors::register(&mut registry);
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    detectk_collectors_sql::register(&mut registry);
    #[cfg(feature = "clickhouse")]
    detectk_collectors_clickhouse::register(&mut registry);
    #[cfg(feature = "mattermost")]
    detectk_alerters_mattermost::register(&mut registry);
    #[cfg(feature = "slack")]
    detectk_alerters_slack::register(&mut registry);
    #[cfg(feature = "telegram")]
    detectk_alerters_telegram::register(&mut registry);
    #[cfg(feature = "email")]
    detectk_alerters_email::register(&mut registry);
    #[cfg(feature = "webhook")]
    detectk_alerters_webhook::register(&mut registry);
    #[cfg(feature = "teams")]
    detectk_alerters_teams::register(&mut registry);
    #[cfg(feature = "pagerduty")]
    detectk_alerters_pagerduty::register(&mut registry);
    registry
}
