//! The project's `on_error` channel through separate `dtk run` processes and a
//! recording webhook server: one message when metrics start failing (broken query,
//! storage down), none while they keep failing, one recovery when they run again,
//! one message across concurrent runs, and no password in any message.

#![cfg(all(feature = "sqlite", feature = "postgres", feature = "webhook"))]

mod common;

use std::path::Path;
use std::process::Output;

use common::{dtk, sqlite_exec, stderr, stdout};
use detectk_core::testkit::webhook_server::WebhookServer;

const NEWEST: &str = "2024-03-01 02:10:00";
const SQLITE_STORAGE: &str = "{type: sqlite, params: {connection_string: \"sqlite:///store.db\"}}";

/// A project with `detectk_project.yaml` sending `on_error` to `server`, and a
/// source with the table `series` (100 every 10 minutes).
fn project(server: &WebhookServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut statements =
        vec!["CREATE TABLE series (ts TEXT NOT NULL, v REAL NOT NULL)".to_string()];
    for i in 0..=12 {
        statements.push(format!(
            "INSERT INTO series VALUES ('2024-03-01 {:02}:{:02}:00', 100)",
            i / 6,
            (i % 6) * 10
        ));
    }
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    // Paths in a config are relative to its file: the metrics live in `metrics/`.
    std::fs::create_dir_all(dir.path().join("metrics")).unwrap();
    sqlite_exec(&dir.path().join("metrics").join("source.db"), &refs);
    std::fs::write(
        dir.path().join("detectk_project.yaml"),
        format!(
            "version: 1\non_error:\n  type: webhook\n  params: {{url: \"{}\", max_retries: 0}}\n",
            server.url()
        ),
    )
    .unwrap();
    dir
}

/// Writes `metrics/<name>.yaml` reading `table` into `storage`.
fn metric(dir: &Path, name: &str, table: &str, storage: &str) {
    let yaml = format!(
        "name: {name}\n\
         collector:\n  type: sqlite\n  params:\n    connection_string: \"sqlite:///source.db\"\n    \
         query: \"SELECT ts AS period_time, v AS value FROM {table} WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts\"\n\
         storage: {storage}\n\
         detector: {{type: threshold, params: {{threshold: 300}}}}\n\
         schedule: {{interval: 10 minutes, batch_load_days: 1}}\n"
    );
    std::fs::write(dir.join("metrics").join(format!("{name}.yaml")), yaml).unwrap();
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "metrics", "--execution-time", NEWEST];
    args.extend_from_slice(extra);
    dtk().current_dir(dir).args(&args).output().unwrap()
}

/// `(kind, metric_name, text)` of every message received.
fn messages(server: &WebhookServer) -> Vec<(String, String, String)> {
    server
        .requests()
        .iter()
        .map(|r| {
            let b = r.json();
            let s = |k: &str| b[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("metric_name"), s("text"))
        })
        .collect()
}

#[test]
fn a_broken_query_alerts_once_and_recovers_once() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    metric(dir, "orders", "no_such_table", SQLITE_STORAGE);
    for _ in 0..2 {
        let out = run(dir, &[]);
        assert_eq!(out.status.code(), Some(1), "the run still fails");
        assert!(stderr(&out).contains("no_such_table"), "{}", stderr(&out));
    }
    let got = messages(&server);
    assert_eq!(got.len(), 1, "one message for two failing runs: {got:?}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("anomaly", "orders")
    );
    assert!(
        got[0]
            .2
            .starts_with("DetectK: 1 metric(s) failing\n\norders:\n  error: ")
            && got[0].2.contains("no_such_table"),
        "{}",
        got[0].2
    );
    let second = stdout(&run(dir, &[]));
    assert!(
        second.contains(
            "error alert held: still failing since an earlier run (already alerted): orders"
        ),
        "{second}"
    );

    // Fixed: one recovery, then nothing.
    metric(dir, "orders", "series", SQLITE_STORAGE);
    let out = run(dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("error recovery sent via webhook")
            && stdout(&out).contains(": recovered: orders\n"),
        "{}",
        stdout(&out)
    );
    assert!(run(dir, &[]).status.success());
    let got = messages(&server);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        ("recovery", "orders")
    );
    assert!(
        got[1].2.contains("orders: runs again (failing since "),
        "{}",
        got[1].2
    );
}

#[test]
fn metrics_failing_in_one_run_share_one_message_and_a_dry_run_sends_nothing() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    metric(dir, "orders", "no_orders", SQLITE_STORAGE);
    metric(dir, "sessions", "no_sessions", SQLITE_STORAGE);
    metric(dir, "visits", "series", SQLITE_STORAGE);
    let dry = run(dir, &["--dry-run"]);
    assert!(
        stdout(&dry).contains("error alert would be sent via webhook")
            && stdout(&dry).contains(": failing: orders, sessions\n"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(server.request_count(), 0, "a dry run sends nothing");
    let out = run(dir, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        doc["on_error"]["opened"],
        serde_json::json!(["orders", "sessions"])
    );
    assert_eq!(doc["on_error"]["status"], "ok");
    let got = messages(&server);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "errors");
    assert!(
        got[0].2.starts_with("DetectK: 2 metric(s) failing")
            && got[0].2.contains("\norders:\n")
            && got[0].2.contains("\nsessions:\n")
            && !got[0].2.contains("visits"),
        "{}",
        got[0].2
    );
}

#[test]
fn concurrent_runs_send_one_message() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    metric(dir, "orders", "no_such_table", SQLITE_STORAGE);
    let children: Vec<_> = (0..4)
        .map(|_| {
            dtk()
                .current_dir(dir)
                .args(["run", "metrics", "--execution-time", NEWEST])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // A process finding the metric's run lease held skips it (exit 0); the others fail.
    let mut failed = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(1) => failed += 1,
            Some(0) => assert!(stdout(&out).contains("skipped"), "{}", stdout(&out)),
            other => panic!("exit {other:?}: {}", stderr(&out)),
        }
    }
    assert!(failed >= 1);
    assert_eq!(messages(&server).len(), 1, "{:?}", messages(&server));
}

#[test]
fn a_storage_that_is_down_alerts_once_without_its_password_then_recovers() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    // Nothing listens on port 1: the storage (where alert state would live) is down.
    let down = "{type: postgres, params: {connection_string: \"postgresql://dtk:PGsecretPW@127.0.0.1:1/dtk\"}}";
    metric(dir, "orders", "series", down);
    for _ in 0..2 {
        let out = run(dir, &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(!stdout(&out).contains("PGsecretPW") && !stderr(&out).contains("PGsecretPW"));
    }
    let got = messages(&server);
    assert_eq!(got.len(), 1, "one message for two runs: {got:?}");
    assert!(got[0].2.contains("127.0.0.1:1"), "{}", got[0].2);
    for r in server.requests() {
        assert!(!r.text().contains("PGsecretPW"), "password in the message");
    }
    metric(dir, "orders", "series", SQLITE_STORAGE);
    assert!(run(dir, &[]).status.success());
    let got = messages(&server);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].0, "recovery");
}

#[test]
fn a_bad_on_error_block_is_reported_with_the_file_and_field() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    metric(dir, "orders", "series", SQLITE_STORAGE);
    std::fs::write(
        dir.join("detectk_project.yaml"),
        "version: 1\non_error:\n  type: webhook\n  params: {url: \"http://127.0.0.1:9/x\", colour: red}\n  extra: 1\n",
    )
    .unwrap();
    let out = run(dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("detectk_project.yaml"), "{err}");
    assert!(err.contains("on_error.extra"), "{err}");
    std::fs::write(
        dir.join("detectk_project.yaml"),
        "version: 1\non_error:\n  type: webhook\n  params: {url: \"http://127.0.0.1:9/x\", colour: red}\n",
    )
    .unwrap();
    let err = stderr(&run(dir, &[]));
    assert!(err.contains("on_error.params.colour"), "{err}");
    let out = dtk()
        .current_dir(dir)
        .args(["validate", "metrics"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "dtk validate checks it too");
    assert!(
        stderr(&out).contains("on_error.params.colour"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.request_count(), 0);
}

#[test]
fn two_hosts_sharing_a_storage_announce_an_incident_and_its_recovery_once() {
    let server = WebhookServer::start();
    // Two project copies (two hosts, each with its own .detectk state) over one storage.
    let (a, b) = (project(&server), project(&server));
    let shared = tempfile::tempdir().unwrap();
    let storage = format!(
        "{{type: sqlite, params: {{path: \"{}\"}}}}",
        shared.path().join("store.db").display()
    );
    for host in [a.path(), b.path()] {
        metric(host, "orders", "no_such_table", &storage);
    }
    assert_eq!(run(a.path(), &[]).status.code(), Some(1));
    let out = run(b.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("error alert held: still failing since an earlier run"),
        "{}",
        stdout(&out)
    );
    assert_eq!(messages(&server).len(), 1, "{:?}", messages(&server));

    for host in [a.path(), b.path()] {
        metric(host, "orders", "series", &storage);
    }
    // Host B announces the recovery (it knows the incident from the shared ledger);
    // host A finds it announced and only forgets the incident.
    assert!(run(b.path(), &[]).status.success());
    assert!(run(a.path(), &[]).status.success());
    assert!(run(a.path(), &[]).status.success());
    let got = messages(&server);
    assert_eq!(
        got.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(),
        ["anomaly", "recovery"],
        "{got:?}"
    );
    let state = std::fs::read_to_string(a.path().join(".detectk/on_error.json")).unwrap();
    assert_eq!(state.trim(), "{}", "host A closed the incident: {state}");
}
