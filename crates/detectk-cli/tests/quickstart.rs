//! End to end on the embedded default: sample SQLite data, backfill, run, rerun, resume.

#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{SAMPLE_END, run_in, sample_project, sqlite_rows, stderr, stdout};

fn count(db: &Path, sql: &str) -> i64 {
    sqlite_rows(db, sql)[0].parse().unwrap()
}

#[test]
fn backfill_then_run_finds_the_outage_and_a_rerun_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample_project(root);
    let db = root.join("detectk.db");

    let validate = run_in(root, &["validate", "metrics"]);
    assert_eq!(validate.status.code(), Some(0), "{}", stderr(&validate));
    assert!(stdout(&validate).contains("3 of 3 config(s) valid"));

    let backfill = run_in(root, &["backfill", "metrics"]);
    assert_eq!(backfill.status.code(), Some(0), "{}", stderr(&backfill));
    // 60 days minus the last hour, at 10-minute intervals, for 3 metrics.
    let per_metric = 60 * 144 - 6;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM dtk_datapoints"),
        3 * per_metric
    );
    // The sample's 30-minute gap is stored as missing points.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM dtk_datapoints WHERE is_missing = 1 AND metric_name = 'site_sessions'"
        ),
        3
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM dtk_alerts"),
        0,
        "a backfill never alerts"
    );

    let run = run_in(root, &["run", "metrics", "--execution-time", SAMPLE_END]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let out = stdout(&run);
    assert!(out.contains("site_sessions: collected 6 point(s)"), "{out}");
    assert!(
        out.contains("alert sent: Anomaly in site_sessions"),
        "{out}"
    );
    assert!(
        stderr(&run).contains("ANOMALY: site_sessions"),
        "the console alerter prints the message"
    );
    let sent = count(&db, "SELECT COUNT(*) FROM dtk_alerts WHERE status = 'sent'");
    assert!(sent >= 1);
    let points = count(&db, "SELECT COUNT(*) FROM dtk_datapoints");
    let detections = count(&db, "SELECT COUNT(*) FROM dtk_detections");
    assert_eq!(points, 3 * (per_metric + 6));
    assert!(
        count(
            &db,
            "SELECT COUNT(*) FROM dtk_detections WHERE alert_sent = 1"
        ) >= 1
    );

    let again = run_in(root, &["run", "metrics", "--execution-time", SAMPLE_END]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        !stderr(&again).contains("ANOMALY:"),
        "nothing is sent twice: {}",
        stderr(&again)
    );
    assert!(
        stdout(&again).contains("already sent"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM dtk_alerts WHERE status = 'sent'"),
        sent
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM dtk_datapoints"), points);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM dtk_detections"),
        detections
    );
}

#[test]
fn dry_run_detects_and_shows_the_alert_but_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample_project(root);
    assert!(
        run_in(root, &["backfill", "metrics", "--select", "site_sessions"])
            .status
            .success()
    );
    let db = root.join("detectk.db");
    let before = sqlite_rows(
        &db,
        "SELECT COUNT(*), MAX(collected_at) FROM dtk_datapoints",
    );

    let dry = run_in(
        root,
        &[
            "run",
            "metrics",
            "--select",
            "site_sessions",
            "--dry-run",
            "--execution-time",
            SAMPLE_END,
        ],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    let out = stdout(&dry);
    assert!(
        out.contains("alert that would be sent (dry run): Anomaly in site_sessions"),
        "{out}"
    );
    assert!(out.contains("| ANOMALY: site_sessions"), "{out}");
    assert!(
        !stderr(&dry).contains("ANOMALY:"),
        "a dry run sends nothing"
    );
    assert_eq!(
        sqlite_rows(
            &db,
            "SELECT COUNT(*), MAX(collected_at) FROM dtk_datapoints"
        ),
        before
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM dtk_alerts"), 0);
}

/// Every stored row except load times, in a stable order.
fn table_dump(db: &Path) -> (Vec<String>, Vec<String>) {
    (
        sqlite_rows(
            db,
            "SELECT metric_name, collected_at, value, is_missing, context FROM dtk_datapoints ORDER BY 1, 2",
        ),
        sqlite_rows(
            db,
            "SELECT metric_name, detector_id, detected_at, value, is_anomaly, score, lower_bound, upper_bound, \
             direction, percent_deviation, detector_type, detector_params, alert_sent, context \
             FROM dtk_detections ORDER BY 1, 2, 3",
        ),
    )
}

fn small_batches(root: &Path) {
    for entry in std::fs::read_dir(root.join("metrics")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("batch_load_days: 7", "batch_load_days: 1");
        std::fs::write(&path, text).unwrap();
    }
}

#[test]
fn killed_backfill_resumes_to_the_same_rows_as_an_uninterrupted_one() {
    let killed = tempfile::tempdir().unwrap();
    let clean = tempfile::tempdir().unwrap();
    for dir in [killed.path(), clean.path()] {
        sample_project(dir);
        small_batches(dir);
    }

    // Kill the backfill once a few batches have been checkpointed.
    let mut child = common::dtk()
        .current_dir(killed.path())
        .args(["backfill", "metrics"])
        .spawn()
        .unwrap();
    let db = killed.path().join("detectk.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        // The file appears before its tables: wait for the checkpoint table.
        let has_table = || {
            sqlite_rows(
                &db,
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'dtk_checkpoints'",
            ) == ["1"]
        };
        if db.exists() && has_table() {
            let done = sqlite_rows(&db, "SELECT COUNT(*) FROM dtk_checkpoints")
                .first()
                .cloned()
                .unwrap_or_default();
            let progress = sqlite_rows(
                &db,
                "SELECT COALESCE(MAX(position), '') FROM dtk_checkpoints",
            );
            if done != "0" && progress.first().is_some_and(|p| p.as_str() > "2024-01-05") {
                break;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the backfill ended ({status}) before it could be killed; make the data larger");
        }
        assert!(Instant::now() < deadline, "no checkpoint appeared");
    }
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    let partial = sqlite_rows(&db, "SELECT COUNT(*) FROM dtk_datapoints")[0]
        .parse::<i64>()
        .unwrap();
    assert!(
        partial < 3 * (60 * 144 - 6),
        "the kill happened mid-way ({partial} rows)"
    );

    let resumed = run_in(killed.path(), &["backfill", "metrics"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains("resumed from"),
        "{}",
        stdout(&resumed)
    );
    let whole = run_in(clean.path(), &["backfill", "metrics"]);
    assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));

    let (points_a, detections_a) = table_dump(&db);
    let (points_b, detections_b) = table_dump(&clean.path().join("detectk.db"));
    assert_eq!(points_a.len(), 3 * (60 * 144 - 6));
    assert!(points_a == points_b, "datapoints differ after resume");
    assert_eq!(detections_a.len(), detections_b.len());
    assert!(
        detections_a == detections_b,
        "detections differ after resume"
    );

    // A third run finds nothing to do.
    let again = run_in(killed.path(), &["backfill", "metrics"]);
    assert!(
        stdout(&again).contains("nothing to do"),
        "{}",
        stdout(&again)
    );
}
