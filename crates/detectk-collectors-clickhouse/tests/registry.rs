//! Building the `clickhouse` types through the registry, as the CLI does.

mod common;

use detectk_core::config::Params;
use detectk_core::{Cell, Registry};
use serde_json::{Map, Value, json};

fn registry() -> Registry {
    let mut r = Registry::new();
    detectk_collectors_clickhouse::register(&mut r);
    r
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn python_style_params_build_a_working_collector() {
    let r = registry();
    // Python detectk configs name the native port; we use HTTP 8123 and say so.
    let map = params(json!({
        "host": "127.0.0.1", "port": 9000, "database": "system", "user": "default",
        "password": "", "secure": false, "timeout": 10, "settings": {"max_threads": 1},
    }));
    let p = Params::new(&map, "collector.params");
    let built = r
        .collector("clickhouse")
        .unwrap()
        .build("clickhouse", p)
        .expect("collector");
    let collector = built.part;
    let warnings: Vec<String> = built.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("collector.params.port:") && w.contains("8123"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("collector.params.settings: ignored"))
    );
    assert_eq!(collector.describe(), "clickhouse 127.0.0.1:8123/system");

    // `system` is the collector's database: `one` resolves without a prefix.
    let table = collector.query("SELECT dummy FROM one").await.unwrap();
    assert_eq!(table.rows, vec![vec![Cell::Int(0)]]);
}

#[tokio::test]
async fn building_never_connects() {
    let r = registry();
    let map = params(json!({"connection_string": "clickhouse://u:pw@127.0.0.1:1/db"}));
    let p = Params::new(&map, "storage.params");
    let storage = r
        .storage("clickhouse")
        .unwrap()
        .build("clickhouse", p)
        .expect("a storage is built without a server")
        .part;
    assert_eq!(storage.describe(), "clickhouse 127.0.0.1:1/db");
    assert!(!format!("{storage:?}").contains("pw"));
    let err = storage.migrate().await.unwrap_err();
    assert_eq!(err.server, "127.0.0.1:1");
    assert!(!err.to_string().contains("pw"));
}

#[test]
fn bad_params_are_reported_with_paths() {
    let r = registry();
    let map = params(json!({"port": "eighty", "hots": "x", "timeout": 0}));
    let p = Params::new(&map, "collector.params");
    let Err(e) = r.collector("clickhouse").unwrap().build("clickhouse", p) else {
        panic!("built with bad params");
    };
    let issues: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(issues.len(), 3, "{issues:?}");
    assert!(issues[0].starts_with("collector.params.port: expected a non-negative integer"));
    assert!(issues[1].starts_with("collector.params.timeout:"));
    assert_eq!(issues[2], "collector.params.hots: unknown key");
}
