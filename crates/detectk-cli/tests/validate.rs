//! `dtk validate`: every problem at once, JSON for machines, Python detectk configs.

#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;

use common::{run_in, stderr, stdout};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn reports_every_problem_of_a_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sessions.yaml",
        r#"name: sessions
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///x.db"
    query: "SELECT ts AS period_time, n AS value FROM t WHERE ts >= '{{ period_start }}'"
    pool_sise: 3
detectors:
  - type: mad
    params: {n_sigma: -1, window_size: 30 dayz}
  - type: mad
    params: {n_sigma: -1, window_size: 30 dayz}
  - type: zscor
alerter:
  type: console
  conditions: {consecutive_anomalies: 0, direction: sideways}
schedule: {interval: 10 minutes, batch_load_dayz: 3}
"#,
    );
    let out = run_in(dir.path(), &["validate", "sessions.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&out));
}

#[test]
fn json_lists_detector_ids_types_and_params() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.yaml",
        r#"name: m
collector: {type: sqlite, params: {connection_string: "sqlite:///x.db", query: "SELECT 1"}}
detectors:
  - {type: mad, params: {window_size: 30 days, n_sigma: 3}}
  - {id: floor, type: threshold, params: {threshold: 10, operator: less_than}}
"#,
    );
    let out = run_in(dir.path(), &["validate", "m.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    let detectors = &doc["metrics"][0]["detectors"];
    assert_eq!(detectors[0]["id"], "a2b640f6");
    assert_eq!(detectors[0]["type"], "mad");
    assert_eq!(detectors[0]["params"]["window_size"], "30 days");
    assert_eq!(detectors[1]["id"], "floor");
    assert_eq!(detectors[1]["params"]["operator"], "less_than");
}

#[test]
fn selection_by_tag_name_and_glob() {
    let dir = tempfile::tempdir().unwrap();
    for (name, tags) in [
        ("sessions_10min", "[critical]"),
        ("sessions_1h", "[]"),
        ("orders", "[critical, money]"),
    ] {
        write(
            dir.path(),
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\ntags: {tags}\ncollector: {{type: sqlite, params: {{connection_string: \"sqlite:///x.db\", query: \"SELECT 1\"}}}}\ndetector: {{type: mad}}\n"
            ),
        );
    }
    let names = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["list-metrics", ".", "--format", "json"];
        full.extend_from_slice(args);
        let out = run_in(dir.path(), &full);
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
        doc["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&["--select", "tag:critical"]),
        ["orders", "sessions_10min"]
    );
    assert_eq!(
        names(&["--select", "sessions_*"]),
        ["sessions_10min", "sessions_1h"]
    );
    assert_eq!(
        names(&["--select", "sessions_*", "--exclude", "tag:critical"]),
        ["sessions_1h"]
    );
    assert_eq!(
        names(&["--select", "orders", "--select", "sessions_1h"]),
        ["orders", "sessions_1h"]
    );
    let none = run_in(dir.path(), &["run", ".", "--select", "tag:nothing"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("no metric matches the selection"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn missing_environment_variable_names_the_variable_and_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.yaml",
        "name: m\ncollector: {type: sqlite, params: {connection_string: \"${DTK_TEST_UNSET_DB}\", query: \"SELECT 1\"}}\ndetector: {type: mad}\n",
    );
    let out = run_in(dir.path(), &["validate", "m.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: m.yaml: environment variable `DTK_TEST_UNSET_DB` is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn secrets_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.yaml",
        "name: m\ncollector: {type: sqlite, params: {connection_string: \"sqlite:///x.db\", query: \"SELECT 1\"}}\ndetector: {type: mad}\nalerter: {type: console, params: {path: out.txt, webhook_url: \"https://hooks.example/SECRET-TOKEN\"}}\n",
    );
    let out = run_in(
        dir.path(),
        &["validate", "m.yaml", "--format", "json", "-vv"],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("SECRET-TOKEN"), "{all}");
    assert!(
        all.contains("webhook_url"),
        "the unknown key is still reported: {all}"
    );
}

#[test]
fn the_reference_config_is_valid_and_warning_free() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = run_in(&repo, &["validate", "docs/reference-config.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 of 1 config(s) valid"));
}

#[test]
fn every_example_config_is_valid() {
    // Each example directory is a project: profiles are read from the directory it runs in.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let dir = entry.unwrap().path();
        let has_configs = std::fs::read_dir(&dir).unwrap().any(|f| {
            let name = f.unwrap().file_name().to_string_lossy().to_string();
            name.ends_with(".yaml") && name != "detectk_profiles.yaml"
        });
        if !dir.is_dir() || !has_configs {
            continue;
        }
        let out = common::dtk()
            .current_dir(&dir)
            .env(
                "MATTERMOST_WEBHOOK",
                "https://mattermost.example.com/hooks/x",
            )
            .env("SLACK_WEBHOOK", "https://hooks.slack.com/services/T/B/x")
            .args(["validate", "."])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}{}",
            dir.display(),
            stdout(&out),
            stderr(&out)
        );
        checked += 1;
    }
    assert!(checked >= 2, "examples were found");
}

/// Configs written the way Python detectk's documentation writes them validate unchanged,
/// with warnings for keys DetectK does not act on.
#[test]
fn python_detectk_style_configs_validate() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "clickhouse_native_port.yaml",
        r#"name: "sessions_10min"
description: "Sessions every 10 minutes"
collector:
  type: "clickhouse"
  params:
    host: "${CLICKHOUSE_HOST:-localhost}"
    port: 9000
    database: "analytics"
    user: "default"
    password: "${CLICKHOUSE_PASSWORD:-}"
    query: |
      SELECT toStartOfTenMinutes(timestamp) AS period_time, count() AS value
      FROM sessions
      WHERE timestamp >= toDateTime('{{ period_start }}') AND timestamp < toDateTime('{{ period_finish }}')
      GROUP BY period_time ORDER BY period_time
    timestamp_column: "period_time"
    value_column: "value"
detector:
  type: "mad"
  params: {window_size: "30 days", n_sigma: 3.0, use_weighted: true, exp_decay_factor: 0.1}
alerter:
  type: "mattermost"
  params:
    webhook_url: "${MATTERMOST_WEBHOOK}"
    cooldown_minutes: 30
    username: "DetectK Bot"
storage:
  enabled: true
  type: "clickhouse"
  params:
    host: "${CLICKHOUSE_HOST:-localhost}"
    port: 9000
    database: "detectk"
    save_detections: true
    datapoints_retention_days: 90
schedule:
  start_time: "2024-01-01 00:00:00"
  end_time: "2024-11-01 00:00:00"
  interval: "10 minutes"
  batch_load_days: 30
backtest:
  enabled: true
"#,
    );
    write(
        root,
        "sql_drivers.yaml",
        r#"name: "orders_hourly"
collector:
  type: "sql"
  params:
    connection_string: "mysql+pymysql://reader:secret@127.0.0.1:3306/shop"
    query: "SELECT hour AS period_time, orders AS value FROM orders_hourly WHERE hour >= '{{ period_start }}' AND hour < '{{ period_finish }}' ORDER BY hour"
    pool_size: 5
storage:
  type: "sql"
  params:
    connection_string: "postgresql+psycopg2://writer:secret@127.0.0.1:5432/detectk"
detectors:
  - type: "zscore"
    params: {window_size: "7 days", n_sigma: 2.5}
  - id: "floor"
    type: "threshold"
    params: {threshold: 10, operator: "less_than"}
alerter:
  type: "slack"
  params: {webhook_url: "${SLACK_WEBHOOK}", channel: "alerts"}
  conditions: {consecutive_anomalies: 2, direction: "both", min_deviation_percent: 10}
schedule:
  interval: "1 hour"
"#,
    );
    write(
        root,
        "no_storage.yaml",
        r#"name: "local_events"
collector:
  type: "sql"
  params:
    connection_string: "sqlite:///./events.db"
    query: "SELECT ts AS period_time, n AS value FROM events WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}' ORDER BY ts"
detector:
  type: "threshold"
  params: {operator: "greater_than", threshold: 50}
storage:
  enabled: false
"#,
    );
    let out = common::dtk()
        .current_dir(root)
        .env(
            "MATTERMOST_WEBHOOK",
            "https://mattermost.example.com/hooks/abc",
        )
        .env(
            "SLACK_WEBHOOK",
            "https://hooks.slack.com/services/T0/B0/abc",
        )
        .args(["validate", ".", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    assert_eq!(doc["valid"], true, "{doc:#}");
    let warnings: Vec<String> = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["path"].as_str().unwrap().to_string())
        })
        .collect();
    for expected in [
        "backtest",
        "collector.params.port",
        "storage.params.save_detections",
        "collector.params.pool_size",
        "storage.enabled",
    ] {
        assert!(
            warnings.iter().any(|w| w == expected),
            "no warning at {expected}: {warnings:?}"
        );
    }
    // The same detector ID as Python detectk computes for these params.
    let sessions = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "sessions_10min")
        .unwrap();
    assert_eq!(sessions["detectors"][0]["id"], "a2b640f6");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("secret"),
        "passwords stay out of the output"
    );
}

#[test]
fn python_only_types_say_so() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "http.yaml",
        "name: api\ncollector:\n  type: http\n  params: {url: \"https://api.example.com/metrics\", method: GET}\ndetector: {type: threshold, params: {threshold: 1}}\n",
    );
    let out = run_in(dir.path(), &["validate", "http.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&out), @r"
    error: http.yaml: collector.type: collector type `http` is not available in DetectK for Rust
      hint: it exists only in Python detectk; this build has: clickhouse, mysql, postgres, postgresql, sql, sqlite
    ");
}

#[test]
fn profiles_files_in_a_metrics_directory_are_not_metrics() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "detectk_profiles.yaml",
        "profiles:\n  local: {type: sqlite, connection_string: \"sqlite:///x.db\"}\n",
    );
    write(
        dir.path(),
        "team_profiles.yaml",
        "profiles:\n  other: {type: postgres, connection_string: \"postgresql://h/db\"}\n",
    );
    write(
        dir.path(),
        "m.yaml",
        "name: m\ncollector: {profile: local, params: {query: \"SELECT 1\"}}\ndetector: {type: mad}\n",
    );
    let out = run_in(dir.path(), &["validate", "."]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("1 of 1 config(s) valid"),
        "{}",
        stdout(&out)
    );
}
