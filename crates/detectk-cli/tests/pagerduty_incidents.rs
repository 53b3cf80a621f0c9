//! PagerDuty incidents through separate `dtk run` processes over one SQLite storage:
//! a trigger, its repeat after the cooldown and its resolve share one `dedup_key`
//! (the metric and the incident's first alerted point); the next incident gets a new one.

#![cfg(all(feature = "sqlite", feature = "pagerduty"))]

mod common;

use std::path::Path;

use common::{dtk, series_metric_yaml, stderr, stdout, two_incidents, write_series_source};
use detectk_core::testkit::webhook_server::WebhookServer;

/// A project over [`two_incidents`] (threshold 300).
fn project(server: &WebhookServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_series_source(dir.path(), &two_incidents());
    let yaml = series_metric_yaml(&format!(
        "storage: {{type: sqlite, params: {{connection_string: \"sqlite:///store.db\"}}}}\n\
         alerter: {{type: pagerduty, params: {{routing_key: PDsecretKEY, url: \"{}\", max_retries: 0}}, \
         conditions: {{cooldown_minutes: 20, notify_recovery: true}}}}",
        server.url_with_path("/v2/enqueue")
    ));
    std::fs::write(dir.path().join("m.yaml"), yaml).unwrap();
    dir
}

fn run_at(dir: &Path, time: &str) {
    let out = dtk()
        .current_dir(dir)
        .args(["run", "m.yaml", "--execution-time", time])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("PDsecretKEY") && !stderr(&out).contains("PDsecretKEY"));
}

#[test]
fn one_dedup_key_per_incident_across_processes() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    // 02:00 opens the incident, 02:10 is within the cooldown, 02:20 repeats,
    // 02:30 is within the cooldown again, 02:40 recovers, 02:50 opens the next one.
    for time in ["02:10", "02:20", "02:30", "02:40", "02:50", "03:00"] {
        run_at(dir, &format!("2024-03-01 {time}:00"));
    }
    let events: Vec<(String, String)> = server
        .requests()
        .iter()
        .map(|r| {
            let e = r.json();
            (
                e["event_action"].as_str().unwrap_or_default().to_string(),
                e["dedup_key"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let first = "detectk/orders/2024-03-01T02:00:00Z".to_string();
    let next = "detectk/orders/2024-03-01T02:50:00Z".to_string();
    assert_eq!(
        events,
        [
            ("trigger".to_string(), first.clone()),
            ("trigger".to_string(), first.clone()),
            ("resolve".to_string(), first),
            ("trigger".to_string(), next),
        ]
    );
}
