//! Helpers shared by the integration tests: building collectors and storages through
//! the factory exactly as a config would.

#![allow(dead_code)]

use std::sync::Arc;

use detectk_collectors_sql::{ConnectionSettings, Role, SqlFactory};
use detectk_core::config::{Params, ParamsReport};
use detectk_core::traits::LoadDatapoints;
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

/// The tables Python detectk's SQL storage (SQLAlchemy) created, in a dialect close to
/// all three servers, plus one legacy row.
pub fn python_detectk_tables(auto_id: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE dtk_datapoints (id {auto_id}, metric_name VARCHAR(255) NOT NULL, \
             collected_at TIMESTAMP NOT NULL, value FLOAT NOT NULL, context TEXT)"
        ),
        format!(
            "CREATE TABLE dtk_detections (id {auto_id}, metric_name VARCHAR(255) NOT NULL, \
             detector_id VARCHAR(50) NOT NULL, detected_at TIMESTAMP NOT NULL, value FLOAT NOT NULL, \
             is_anomaly BOOLEAN NOT NULL, anomaly_score FLOAT, lower_bound FLOAT, upper_bound FLOAT, \
             direction VARCHAR(10), percent_deviation FLOAT, detector_type VARCHAR(100) NOT NULL, \
             detector_params TEXT, alert_sent BOOLEAN, alert_reason TEXT, alerter_type VARCHAR(100), \
             context TEXT)"
        ),
        "INSERT INTO dtk_datapoints (metric_name, collected_at, value, context) \
         VALUES ('legacy', '2024-01-01 00:00:00', 1.5, '{\"source\": \"sql\"}')"
            .to_string(),
    ]
}

/// Checks a migrated storage over Python detectk's tables: DetectK's own tables work.
pub async fn check_works_after_python_tables(storage: &dyn Storage) {
    use detectk_core::model::DataPoint;
    let t = detectk_core::testkit::t0();
    let metric = detectk_core::testkit::unique_metric("legacy");
    let points = vec![
        DataPoint::new(t, 1.0),
        DataPoint::missing(t + chrono::Duration::minutes(10)),
    ];
    storage.upsert_datapoints(&metric, &points).await.unwrap();
    storage.upsert_datapoints(&metric, &points).await.unwrap();
    let loaded = storage
        .load_datapoints(&LoadDatapoints::new(
            &metric,
            t,
            t + chrono::Duration::hours(1),
        ))
        .await
        .unwrap();
    assert_eq!(loaded, points);
    let record = detectk_core::testkit::sample_detection(&metric, "abcd1234", t);
    storage
        .upsert_detections(std::slice::from_ref(&record))
        .await
        .unwrap();
}

/// `base` with the keys of `extra` added or replaced (both JSON object literals).
pub fn merged_params(base: Value, extra: Value) -> Map<String, Value> {
    let mut p = params(base);
    p.extend(params(extra));
    p
}

/// A name no other test run uses (`dtk_<label>_<pid>_<nanos>`), for schemas and databases.
pub fn unique_name(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    format!("dtk_{label}_{}_{nanos}", std::process::id())
}

/// Two independently built, migrated storages (two pools) on the same store, for one
/// conformance check.
pub async fn storage_setup(
    main_type: &str,
    peer_type: &str,
    map: &Map<String, Value>,
) -> detectk_core::testkit::StorageSetup {
    let main = storage(&SqlFactory::new(), main_type, map).await;
    let peer = storage(&SqlFactory::new(), peer_type, map).await;
    detectk_core::testkit::StorageSetup::new(main, peer)
}

/// Sample columns of a collector fixture from `(name, kind)` pairs.
pub fn sample_columns(
    columns: &[(&str, detectk_core::testkit::SampleKind)],
) -> Vec<(String, detectk_core::testkit::SampleKind)> {
    columns.iter().map(|(n, k)| (n.to_string(), *k)).collect()
}
