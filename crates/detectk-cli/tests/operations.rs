//! The operator's tools and an edited metric: `dtk debug` checks every endpoint once
//! without alerting, `dtk compile` prints the query the next run sends, and `dtk run`
//! says at once when a config's detectors or query changed while the metric is up to date.

#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::path::Path;

use common::{run_in, stderr, stdout};

const T: &str = "2024-01-02 00:00:00";

/// `source.db` with one value every 10 minutes from 22:00 to 23:50.
fn source_db(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.join("source.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE s (ts TEXT, v REAL)")
            .execute(&pool)
            .await
            .unwrap();
        for i in 0..12 {
            let ts = format!("2024-01-01 {}:{}0:00", 22 + i / 6, i % 6);
            sqlx::query("INSERT INTO s VALUES (?, ?)")
                .bind(ts)
                .bind(5.0)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
}

const QUERY: &str = "SELECT ts AS period_time, v AS value FROM s WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}' ORDER BY ts";

/// Writes `metrics/m.yaml` with `query` and `detectors` (a YAML flow list).
fn write_metric(dir: &Path, query: &str, detectors: &str) {
    let yaml = format!(
        "name: edited\ncollector:\n  type: sql\n  params:\n    connection_string: \"sqlite:///../source.db\"\n    query: \"{query}\"\nstorage:\n  type: sqlite\n  params: {{connection_string: \"sqlite:///../store.db\"}}\ndetectors: {detectors}\nschedule: {{interval: 10 minutes}}\n"
    );
    std::fs::create_dir_all(dir.join("metrics")).unwrap();
    std::fs::write(dir.join("metrics/m.yaml"), yaml).unwrap();
}

#[test]
fn an_edited_metric_is_reported_at_once_while_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    write_metric(
        root,
        QUERY,
        "[{type: threshold, id: old, params: {threshold: 100}}]",
    );
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A detector is added: the same run time (nothing new) scores the newest point with it.
    write_metric(
        root,
        QUERY,
        "[{type: threshold, id: old, params: {threshold: 100}}, {type: threshold, id: added, params: {threshold: 3}}]",
    );
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("detector `added` (threshold) is new for this metric: scored from 2024-01-01 23:50:00 on"),
        "{all}"
    );
    assert!(all.contains("dtk backfill --force"), "{all}");
    assert!(all.contains("nothing new to collect"), "{all}");
    let rows = common::sqlite_rows(
        &root.join("store.db"),
        "SELECT detector_id, detected_at, is_anomaly FROM dtk_detections WHERE detector_id = 'added'",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].starts_with("added|2024-01-01"), "{rows:?}");
    assert!(rows[0].ends_with("|1"), "5 > 3 is an anomaly: {rows:?}");

    // The query breaks: the run fails now, although nothing new is due.
    write_metric(
        root,
        "SELEC ts FROM s",
        "[{type: threshold, id: old, params: {threshold: 100}}]",
    );
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("metric `edited`: collecting data failed"),
        "{err}"
    );
    assert!(err.contains("syntax error"), "{err}");
    assert!(err.contains("dtk compile"), "{err}");
}

#[test]
fn compile_prints_the_next_runs_query_and_what_it_assumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    write_metric(
        root,
        QUERY,
        "[{type: threshold, id: old, params: {threshold: 100}}]",
    );
    let out = run_in(
        root,
        &[
            "compile",
            "metrics/m.yaml",
            "--offline",
            "--execution-time",
            T,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("assuming the first run (--offline)"),
        "{text}"
    );
    assert!(
        text.contains("-- period: [2024-01-01 23:40:00, 2024-01-02 00:00:00)"),
        "{text}"
    );
    assert!(
        text.contains("WHERE ts >= '2024-01-01 23:40:00' AND ts < '2024-01-02 00:00:00'"),
        "{text}"
    );
    // `--offline` reads nothing: no storage file was created.
    assert!(!root.join("store.db").exists());

    // After a run, compile reads the storage: the metric is up to date.
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let later = "2024-01-02 00:25:00";
    let out = run_in(
        root,
        &[
            "compile",
            "metrics/m.yaml",
            "--execution-time",
            later,
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["up_to_date"], false);
    assert!(
        doc["assumption"]
            .as_str()
            .unwrap()
            .contains("the newest stored point is 2024-01-01 23:50:00"),
        "{doc}"
    );
    let queries = doc["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 1);
    assert!(
        queries[0]["query"]
            .as_str()
            .unwrap()
            .contains("ts >= '2024-01-02 00:00:00' AND ts < '2024-01-02 00:20:00'"),
        "{doc}"
    );
}

#[test]
fn debug_checks_each_endpoint_once_and_exits_1_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    write_metric(root, QUERY, "[{type: threshold, params: {threshold: 100}}]");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let broken = format!(
        "name: other\ncollector: {{type: sql, params: {{connection_string: \"sqlite:///../source.db\", query: \"SELECT 1\"}}}}\nstorage: {{type: postgres, params: {{connection_string: \"postgresql://postgres:s3cret@127.0.0.1:{port}/dtk\"}}}}\ndetector: {{type: threshold, params: {{threshold: 1}}}}\nschedule: {{interval: 10 minutes}}\n"
    );
    std::fs::write(root.join("metrics/other.yaml"), broken).unwrap();

    let out = run_in(root, &["debug", "metrics"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("s3cret"), "{text}");
    // The shared SQLite source is checked once, for both metrics.
    // Relative SQLite files are anchored to the config that names them.
    let source = root.join("metrics/../source.db");
    assert_eq!(
        text.matches(&format!("source  sqlite {}", source.display()))
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("used by: edited, other"), "{text}");
    assert!(
        text.contains(&format!(
            "ok     storage sqlite {}",
            root.join("metrics/../store.db").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("FAILED storage postgres 127.0.0.1:{port}/dtk")),
        "{text}"
    );
    assert!(text.contains("connecting: connection refused"), "{text}");
    assert!(
        text.contains("3 endpoint(s) checked: 2 ok, 1 failed; no alert was sent"),
        "{text}"
    );

    let out = run_in(
        root,
        &["debug", "metrics", "--select", "edited", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["checks"].as_array().unwrap().len(), 2);
}
