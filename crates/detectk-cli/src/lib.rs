#![doc = include_str!("../README.md")]

pub mod cli;
pub mod commands;
pub mod discover;
pub mod monitor;
pub mod output;
pub mod progress;
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
    registry
}
