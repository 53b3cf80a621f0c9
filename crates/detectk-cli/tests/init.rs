//! `dtk init` and `dtk init-project` write configs that validate.

mod common;

use common::{run_in, stderr, stdout};

#[test]
fn init_writes_a_valid_config_for_every_detector_and_collector() {
    let dir = tempfile::tempdir().unwrap();
    for detector in ["threshold", "mad", "zscore", "iqr", "missing_data"] {
        for collector in ["sqlite", "postgres", "mysql", "clickhouse"] {
            let file = format!("{collector}_{detector}.yaml");
            let out = run_in(
                dir.path(),
                &["init", &file, "-d", detector, "-c", collector],
            );
            assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
            let check = run_in(dir.path(), &["validate", &file]);
            assert_eq!(
                check.status.code(),
                Some(0),
                "{file}: {}{}",
                stdout(&check),
                stderr(&check)
            );
        }
    }
    let again = run_in(dir.path(), &["init", "sqlite_mad.yaml"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is not overwritten"
    );
    assert!(stderr(&again).contains("already exists"));
    let unknown = run_in(dir.path(), &["init", "x.yaml", "-d", "prophet"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("detector type `prophet` is unknown"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn init_project_for_each_database_validates() {
    for database in ["postgres", "mysql", "clickhouse"] {
        let dir = tempfile::tempdir().unwrap();
        let out = run_in(
            dir.path(),
            &["init-project", "proj", "--database", database],
        );
        assert_eq!(out.status.code(), Some(0), "{database}: {}", stderr(&out));
        let check = run_in(&dir.path().join("proj"), &["validate", "metrics"]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{database}: {}{}",
            stdout(&check),
            stderr(&check)
        );
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn init_project_minimal_sqlite_has_one_metric() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "init-project",
            "p",
            "--minimal",
            "--sample-end",
            "2024-03-01 00:00:00",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let metrics: Vec<_> = std::fs::read_dir(dir.path().join("p/metrics"))
        .unwrap()
        .collect();
    assert_eq!(metrics.len(), 1);
    let again = run_in(dir.path(), &["init-project", "p"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "existing files are kept without --force"
    );
}

#[test]
fn test_alert_sends_a_sample_through_the_configured_channel() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        "name: sessions\ncollector: {type: sqlite, params: {connection_string: \"sqlite:///x.db\", query: \"SELECT 1\"}}\ndetector: {type: mad}\nalerter: {type: console, params: {path: alerts.txt}}\n",
    )
    .unwrap();
    let out = run_in(dir.path(), &["test-alert", "m.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent a test message for `sessions`"),
        "{}",
        stdout(&out)
    );
    let written = std::fs::read_to_string(dir.path().join("alerts.txt")).unwrap();
    assert!(written.contains("sessions"), "{written}");

    std::fs::write(
        dir.path().join("none.yaml"),
        "name: quiet\ncollector: {type: sqlite, params: {connection_string: \"sqlite:///x.db\", query: \"SELECT 1\"}}\ndetector: {type: mad}\n",
    )
    .unwrap();
    let none = run_in(dir.path(), &["test-alert", "none.yaml"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("this metric has no alerter"),
        "{}",
        stderr(&none)
    );
}
