//! Helpers shared by the integration tests: building collectors and storages through
//! the factory exactly as a config would.

#![allow(dead_code)]

use std::sync::Arc;

use detectk_collectors_sql::{ConnectionSettings, Role, SqlFactory};
use detectk_core::config::{Params, ParamsReport};
use detectk_core::{Collector, Storage};
use serde_json::{Map, Value};

/// The params map of a JSON object literal.
pub fn params(value: Value) -> Map<String, Value> {
    value.as_object().expect("params are an object").clone()
}

/// Resolves settings for `type_name` from `params`; panics on any config issue.
pub fn settings(
    factory: &SqlFactory,
    type_name: &str,
    role: Role,
    map: &Map<String, Value>,
) -> ConnectionSettings {
    let mut p = Params::new(map, "storage.params");
    let settings = factory.settings(type_name, role, &mut p);
    let report = p.finish();
    assert!(
        report.issues.is_empty(),
        "config issues: {:?}",
        report.issues
    );
    settings.expect("settings resolve")
}

/// Resolves settings and reports what the params reader found (errors and warnings).
pub fn try_settings(
    factory: &SqlFactory,
    type_name: &str,
    role: Role,
    map: &Map<String, Value>,
) -> (Option<ConnectionSettings>, ParamsReport) {
    let mut p = Params::new(map, "collector.params");
    let settings = factory.settings(type_name, role, &mut p);
    (settings, p.finish())
}

/// A migrated storage built by `factory` from `params`.
pub async fn storage(
    factory: &SqlFactory,
    type_name: &str,
    map: &Map<String, Value>,
) -> Arc<dyn Storage> {
    let s = factory.storage_for(&settings(factory, type_name, Role::Storage, map));
    s.migrate().await.expect("migrate");
    s
}

/// A collector built by `factory` from `params`.
pub fn collector(
    factory: &SqlFactory,
    type_name: &str,
    map: &Map<String, Value>,
) -> Arc<dyn Collector> {
    factory.collector_for(&settings(factory, type_name, Role::Collector, map))
}
