//! The alert step takes the metric's alert lease only when there is something to
//! decide (`alert/process/quiet.rs`). With the lease held elsewhere, a tick whose newest
//! point is normal and whose metric never alerted still finishes and says why nothing
//! was sent, and so does a tick whose flagged points are not yet an alert; with
//! `notify_recovery`, a tick with points flagged since the metric's last alert still
//! waits for the lease (and, with a one-second lease, gives up after ten lifetimes).

mod common;

use std::path::Path;

use chrono::{TimeDelta, Utc};
use detectk_core::config::{LoadOptions, load_file};
use detectk_core::pipeline::build_plan;
use detectk_core::traits::AlertLease;
use serde_json::Value;

const RUN_AT: &str = "2024-03-01 01:00:00";

/// A source with six 10-minute points (values 0 to 50) and a metric `name` over it
/// whose threshold detector flags values above `threshold` and whose console alerter
/// needs `consecutive` anomalies in a row (and sends recoveries when `recovery`);
/// returns the config path.
fn write_metric(
    dir: &Path,
    name: &str,
    threshold: u32,
    consecutive: u32,
    recovery: bool,
) -> std::path::PathBuf {
    let source = dir.join("source.db");
    if !source.exists() {
        let mut statements = vec!["CREATE TABLE series (ts TEXT, value REAL)".to_string()];
        for minute in (0..60).step_by(10) {
            statements.push(format!(
                "INSERT INTO series VALUES ('2024-03-01 00:{minute:02}:00', {minute})"
            ));
        }
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        common::sqlite_exec(&source, &refs);
    }
    let yaml = format!(
        r#"name: {name}
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///{source}"
    query: |
      SELECT ts AS period_time, value FROM series
      WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts
storage:
  type: sqlite
  params:
    connection_string: "sqlite:///{store}"
detector:
  type: threshold
  params:
    operator: greater_than
    threshold: {threshold}
alerter:
  type: console
  conditions:
    consecutive_anomalies: {consecutive}
    notify_recovery: {recovery}
schedule:
  interval: 10 minutes
"#,
        source = source.display(),
        store = dir.join("store.db").display(),
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    file
}

/// `dtk run FILE --format json` at [`RUN_AT`] with a one-second alert lease: exit code
/// and the metric's JSON entry.
fn run(dir: &Path, file: &Path) -> (Option<i32>, Value, String) {
    let out = common::dtk()
        .current_dir(dir)
        .env("DETECTK_ALERT_LEASE_SECONDS", "1")
        .args(["run", file.to_str().unwrap(), "--execution-time", RUN_AT])
        .args(["--format", "json"])
        .output()
        .expect("dtk runs");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("json: {e}: {}", common::stdout(&out)));
    (
        out.status.code(),
        doc["metrics"][0].clone(),
        common::stderr(&out),
    )
}

/// Holds the alert lease of `name` for an hour under another token.
fn hold_alert_lease(file: &Path, name: &str) {
    let config = load_file(file, &LoadOptions::default()).unwrap().config;
    let plan = build_plan(&detectk_cli::registry(), config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = Utc::now();
    let lease = AlertLease::new(name, "another-run", now, now + TimeDelta::hours(1));
    let taken = runtime
        .block_on(plan.storage.acquire_alert_lease(&lease))
        .unwrap();
    assert!(taken, "the test takes the lease first");
}

/// Runs `file` once (it must succeed), takes the alert lease of `name` for another run,
/// and runs it again: the first run's entry, then the second's exit code, entry and
/// stderr.
fn rerun_with_the_lease_held(
    dir: &Path,
    file: &Path,
    name: &str,
) -> (Value, (Option<i32>, Value, String)) {
    let (code, first, err) = run(dir, file);
    assert_eq!(code, Some(0), "first run: {first} {err}");
    hold_alert_lease(file, name);
    (first, run(dir, file))
}

/// The run finished without the lease and held the alert back for `reason`.
fn assert_held_back_without_the_lease(
    (code, again, err): (Option<i32>, Value, String),
    reason: &str,
) {
    assert_eq!(
        code,
        Some(0),
        "idle run with the lease held elsewhere: {again} {err}"
    );
    assert_eq!(again["status"], "ok", "{again}");
    assert_eq!(again["report"]["alert"]["held_back"], reason, "{again}");
}

#[test]
fn a_quiet_tick_does_not_wait_for_the_alert_lease() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_metric(dir.path(), "quiet_tick", 1000, 1, false);
    // Nothing new, nothing flagged, no alert ever sent: nothing to decide.
    let (_, again) = rerun_with_the_lease_held(dir.path(), &file, "quiet_tick");
    assert_held_back_without_the_lease(again, "the newest point is normal");
}

#[test]
fn flagged_points_short_of_an_alert_do_not_wait_for_the_alert_lease() {
    let dir = tempfile::tempdir().unwrap();
    // The first run scores two points (the threshold detector needs one of history),
    // both flagged; ten in a row are needed: flagged, but no alert yet. No recovery
    // can be owed: whatever another run decides under the lease, this one holds back,
    // and says why without waiting for the lease.
    let file = write_metric(dir.path(), "short_run", 5, 10, false);
    let (_, again) = rerun_with_the_lease_held(dir.path(), &file, "short_run");
    assert_held_back_without_the_lease(again, "2 of 10 consecutive anomalous points");
}

#[test]
fn with_recoveries_a_tick_with_flagged_points_still_takes_the_alert_lease() {
    let dir = tempfile::tempdir().unwrap();
    // As above, with recoveries on: a flagged point newer than the last alert may be
    // another run's alert in the making, which this run would owe a recovery.
    let file = write_metric(dir.path(), "flagged_tick", 5, 10, true);
    let (first, (code, again, err)) = rerun_with_the_lease_held(dir.path(), &file, "flagged_tick");
    assert_eq!(
        first["report"]["alert"]["held_back"], "2 of 10 consecutive anomalous points",
        "{first}"
    );
    // Points flagged since the last alert (none): the step decides under the lease,
    // which another run holds.
    assert_eq!(
        code,
        Some(1),
        "the run waits for the lease and fails: {again} {err}"
    );
    assert_eq!(again["status"], "failed", "{again}");
    let error = again["error"].to_string();
    assert!(error.contains("alert lease"), "{error}");
}
