#![doc = include_str!("../README.md")]

pub mod args;
pub mod cli;
pub mod commands;
pub mod discover;
pub mod monitor;
pub mod on_error;
pub mod output;
pub mod progress;
pub mod project;
pub mod render;
pub mod runtime;
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

/// The optional backends of `dtk`, each with whether this build links it.
fn optional_backends() -> [OptionalBackend; 12] {
    const SQL: &str = "detectk-collectors-sql";
    const CLICKHOUSE: &str = "detectk-collectors-clickhouse";
    const DATA: &[Component] = &[Component::Collector, Component::Storage];
    const ALERTER: &[Component] = &[Component::Alerter];
    let any_sql = cfg!(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql"
    ));
    [
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
        (
            cfg!(feature = "telegram"),
            ALERTER,
            &["telegram"],
            "detectk-alerters-telegram",
            "telegram",
        ),
        (
            cfg!(feature = "email"),
            ALERTER,
            &["email"],
            "detectk-alerters-email",
            "email",
        ),
        (
            cfg!(feature = "webhook"),
            ALERTER,
            &["webhook"],
            "detectk-alerters-webhook",
            "webhook",
        ),
        (
            cfg!(feature = "teams"),
            ALERTER,
            &["teams"],
            "detectk-alerters-teams",
            "teams",
        ),
        (
            cfg!(feature = "pagerduty"),
            ALERTER,
            &["pagerduty"],
            "detectk-alerters-pagerduty",
            "pagerduty",
        ),
    ]
}

/// Notes each optional backend this build lacks, so a lookup names its feature.
fn note_compiled_out(registry: &mut Registry) {
    note_missing(registry, optional_backends().into_iter().filter(|b| !b.0));
}

fn note_missing(registry: &mut Registry, missing: impl IntoIterator<Item = OptionalBackend>) {
    for (_, components, names, krate, feature) in missing {
        for component in components {
            for name in names {
                registry.note_compiled_out(*component, name, krate, feature);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a build without any optional backend says (`dtk` is tested with all of them).
    #[test]
    fn a_build_without_optional_backends_names_their_crates_and_features() {
        let mut registry = Registry::with_builtins();
        detectk_detectors::register(&mut registry);
        note_missing(&mut registry, optional_backends());
        let Err(e) = registry.storage("postgresql") else {
            panic!("no storage is registered")
        };
        assert_eq!(
            e.to_string(),
            "storage type `postgresql` is not available in this build"
        );
        assert_eq!(
            e.hint,
            "it is provided by the crate `detectk-collectors-sql` (dtk feature `postgres`); this build has: none"
        );
        let Err(e) = registry.alerter("slack") else {
            panic!("slack is not registered")
        };
        assert!(
            e.hint
                .contains("(dtk feature `slack`); this build has: console"),
            "{}",
            e.hint
        );
        let collectors: Vec<&str> = registry
            .compiled_out(Component::Collector)
            .iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(
            collectors,
            [
                "clickhouse",
                "mysql",
                "postgres",
                "postgresql",
                "sql",
                "sqlite"
            ]
        );
        assert!(registry.compiled_out(Component::Detector).is_empty());
    }

    #[cfg(all(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "clickhouse",
        feature = "mattermost",
        feature = "slack"
    ))]
    #[test]
    fn a_build_with_every_feature_lacks_nothing() {
        let registry = registry();
        for component in [Component::Collector, Component::Storage, Component::Alerter] {
            assert!(registry.compiled_out(component).is_empty(), "{component}");
        }
    }
}
