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
use detectk_core::registry::Component;

/// The registry of this build: built-ins plus every backend crate enabled by features,
/// and a note of each optional backend this build was made without.
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
    note_compiled_out(&mut registry);
    registry
}

/// An optional backend: linked in this build, its kinds, type names, crate and feature(s).
type OptionalBackend = (
    bool,
    &'static [Component],
    &'static [&'static str],
    &'static str,
    &'static str,
);

/// Notes each optional backend this build lacks, so a lookup names its feature.
fn note_compiled_out(registry: &mut Registry) {
    const SQL: &str = "detectk-collectors-sql";
    const CLICKHOUSE: &str = "detectk-collectors-clickhouse";
    let any_sql = cfg!(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql"
    ));
    const DATA: &[Component] = &[Component::Collector, Component::Storage];
    const ALERTER: &[Component] = &[Component::Alerter];
    let optional: [OptionalBackend; 7] = [
        (cfg!(feature = "sqlite"), DATA, &["sqlite"], SQL, "sqlite"),
        (
            cfg!(feature = "postgres"),
            DATA,
            &["postgres", "postgresql"],
            SQL,
            "postgres",
        ),
        (cfg!(feature = "mysql"), DATA, &["mysql"], SQL, "mysql"),
        (any_sql, DATA, &["sql"], SQL, "sqlite, postgres or mysql"),
        (
            cfg!(feature = "clickhouse"),
            DATA,
            &["clickhouse"],
            CLICKHOUSE,
            "clickhouse",
        ),
        (
            cfg!(feature = "mattermost"),
            ALERTER,
            &["mattermost"],
            "detectk-alerters-mattermost",
            "mattermost",
        ),
        (
            cfg!(feature = "slack"),
            ALERTER,
            &["slack"],
            "detectk-alerters-slack",
            "slack",
        ),
    ];
    for (linked, components, names, krate, feature) in optional {
        for component in components.iter().filter(|_| !linked) {
            for name in names {
                registry.note_compiled_out(*component, name, krate, feature);
            }
        }
    }
}
