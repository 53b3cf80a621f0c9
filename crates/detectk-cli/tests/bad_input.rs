//! Bad input of every kind: each metric fails alone, with a message naming it and the cause.

#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;

use common::{run_in, stderr, stdout};

const T: &str = "2024-01-02 00:00:00";

/// A source database with a clean table and tables that break the rules. A threshold
/// detector needs no history, so a first run collects only the newest intervals
/// (23:40 and 23:50 at the execution time below).
fn source_db(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.join("source.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        for sql in [
            "CREATE TABLE good (ts TEXT, v INTEGER)",
            "INSERT INTO good VALUES ('2024-01-01 23:30:00', 4), ('2024-01-01 23:40:00', 5), ('2024-01-01 23:50:00', NULL)",
            "CREATE TABLE texts (ts TEXT, v TEXT)",
            "INSERT INTO texts VALUES ('2024-01-01 23:50:00', 'abc')",
            "CREATE TABLE dups (ts TEXT, v REAL)",
            "INSERT INTO dups VALUES ('2024-01-01 23:50:00', 1.5), ('2024-01-01 23:50:00', 2.5)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    });
}

fn metric(dir: &Path, name: &str, query: &str) {
    let yaml = format!(
        "name: {name}\ncollector:\n  type: sql\n  params:\n    connection_string: \"sqlite:///../source.db\"\n    query: \"{query}\"\nstorage:\n  type: sqlite\n  params: {{connection_string: \"sqlite:///../store.db\"}}\ndetector: {{type: threshold, params: {{threshold: 100}}}}\nschedule: {{interval: 10 minutes}}\n"
    );
    std::fs::create_dir_all(dir.join("metrics")).unwrap();
    std::fs::write(dir.join("metrics").join(format!("{name}.yaml")), yaml).unwrap();
}

const RANGE: &str = "WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}'";

#[test]
fn each_bad_metric_fails_alone_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    metric(root, "b_syntax", "SELEC ts FROM good");
    metric(
        root,
        "c_missing_table",
        "SELECT ts AS period_time, v AS value FROM nowhere",
    );
    metric(
        root,
        "d_columns",
        &format!("SELECT ts, v FROM good {RANGE} ORDER BY ts"),
    );
    metric(
        root,
        "e_text_value",
        &format!("SELECT ts AS period_time, v AS value FROM texts {RANGE}"),
    );
    metric(
        root,
        "f_duplicates",
        &format!("SELECT ts AS period_time, v AS value FROM dups {RANGE}"),
    );
    metric(
        root,
        "g_unsorted",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts DESC"),
    );

    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(1), "runtime failures exit with 1");
    let err = stderr(&out);
    let text = stdout(&out);
    assert!(text.contains("7 metric(s): 1 ok, 6 failed"), "{text}");
    assert!(text.contains("a_good: collected"), "{text}");
    assert!(
        text.contains("1 row(s) had a NULL value and are stored as missing points"),
        "{text}"
    );

    for (metric, expected) in [
        ("b_syntax", "syntax error"),
        ("c_missing_table", "no such table: nowhere"),
        (
            "d_columns",
            "the query returned no timestamp column `period_time` (columns returned: ts, v)",
        ),
        (
            "e_text_value",
            "value column `value` holds text \"abc\", not a number",
        ),
        (
            "f_duplicates",
            "duplicate timestamp 2024-01-01 23:50:00 UTC",
        ),
        ("g_unsorted", "timestamps are not sorted"),
    ] {
        let block: String = err
            .split("error: ")
            .find(|b| b.starts_with(&format!("metric `{metric}`")))
            .unwrap_or_else(|| panic!("no error for {metric} in:\n{err}"))
            .to_string();
        assert!(
            block.contains(expected),
            "{metric}: expected {expected:?} in:\n{block}"
        );
    }
    // Nothing of the failed metrics was stored; the good one was.
    let stored = common::sqlite_rows(
        &root.join("store.db"),
        "SELECT DISTINCT metric_name FROM dtk_datapoints",
    );
    assert_eq!(stored, vec!["a_good"]);
}

#[test]
fn an_invalid_config_exits_2_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    std::fs::write(
        root.join("metrics/broken.yaml"),
        "name: broken\ncollector: {type: sqlite\n",
    )
    .unwrap();
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("a_good: collected"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("2 metric(s): 1 ok, 0 failed, 1 invalid"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("error: metrics/broken.yaml: invalid YAML at line"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_run_report_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    metric(root, "b_syntax", "SELEC ts FROM good");
    let out = run_in(
        root,
        &["run", "metrics", "--execution-time", T, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"ok": 1, "failed": 1, "invalid": 0})
    );
    let metrics = doc["metrics"].as_array().unwrap();
    assert_eq!(metrics[0]["name"], "a_good");
    assert_eq!(metrics[0]["report"]["range"]["points"], 2);
    assert_eq!(metrics[0]["report"]["range"]["missing"], 1);
    assert_eq!(metrics[1]["status"], "failed");
    assert_eq!(metrics[1]["error"]["kind"], "collect");
    assert!(
        metrics[1]["error"]["causes"][0]
            .as_str()
            .unwrap()
            .contains("syntax error")
    );
}

#[test]
fn quiet_prints_only_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    let ok = run_in(root, &["-q", "run", "metrics", "--execution-time", T]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(stdout(&ok), "", "nothing to say when all is well");
    metric(root, "b_syntax", "SELEC ts FROM good");
    let failed = run_in(root, &["-q", "run", "metrics", "--execution-time", T]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(stdout(&failed), "");
    assert!(
        stderr(&failed).contains("error: metric `b_syntax`"),
        "{}",
        stderr(&failed)
    );
}
