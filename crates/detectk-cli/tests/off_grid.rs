//! Rows off the interval grid (`04:00:01` for a 10-minute metric), end to end through
//! `dtk run` and `dtk backfill` on real SQLite data.

#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;

use common::{run_in, sqlite_exec, sqlite_rows, stderr, stdout};

const T: &str = "2024-01-02 00:00:00";

/// Values every ten minutes, each a second late; the 23:50 interval has two rows.
fn source_db(dir: &Path) {
    sqlite_exec(
        &dir.join("source.db"),
        &[
            "CREATE TABLE late (ts TEXT, v REAL)",
            "INSERT INTO late VALUES ('2024-01-01 23:20:01', 5), ('2024-01-01 23:30:01', 6), ('2024-01-01 23:40:01', 7), ('2024-01-01 23:50:01', 500), ('2024-01-01 23:53:00', 700)",
        ],
    );
}

fn metric(dir: &Path, name: &str, extra_collector: &str) {
    let yaml = format!(
        "name: {name}
collector:
  type: sql
  {extra_collector}
  params:
    connection_string: \"sqlite:///../source.db\"
    query: \"SELECT ts AS period_time, v AS value FROM late WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts\"
storage:
  type: sqlite
  params: {{connection_string: \"sqlite:///../store.db\"}}
detector: {{type: threshold, params: {{threshold: 100}}}}
alerter: {{type: console, params: {{path: ../alerts_{name}.txt}}}}
schedule: {{interval: 10 minutes, start_time: \"2024-01-01 23:20:00\"}}
"
    );
    std::fs::create_dir_all(dir.join("metrics")).unwrap();
    std::fs::write(dir.join("metrics").join(format!("{name}.yaml")), yaml).unwrap();
}

#[test]
fn off_grid_rows_are_floored_combined_and_the_newest_point_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(root, "late_rows", "");
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "3 row(s) were off the 10 minutes grid and were floored to their interval start"
        ),
        "{text}"
    );
    assert!(
        text.contains("1 interval(s) had more than one row, combined by mean"),
        "{text}"
    );
    // The first run collects the newest intervals: 23:40 (one row) and 23:50 (two rows).
    let stored = sqlite_rows(
        &root.join("store.db"),
        "SELECT collected_at, value, is_missing FROM dtk_datapoints WHERE metric_name = 'late_rows' ORDER BY collected_at",
    );
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored[0].contains("23:40:00") && stored[0].contains("|7"),
        "{stored:?}"
    );
    assert!(
        stored[1].contains("23:50:00") && stored[1].contains("|600"),
        "{stored:?}"
    );
    let alerts = std::fs::read_to_string(root.join("alerts_late_rows.txt"))
        .expect("the newest (floored) point alerted");
    assert!(alerts.contains("late_rows"), "{alerts}");
    assert!(alerts.contains("600"), "{alerts}");
}

#[test]
fn strict_alignment_names_the_metric_the_timestamp_and_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(root, "strict_rows", "timestamp_alignment: strict");
    metric(root, "summed_rows", "aggregation: sum");
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("metric `strict_rows`"), "{err}");
    assert!(
        err.contains("row 1: timestamp 2024-01-01 23:40:01 UTC is off the 10 minutes interval grid (its interval starts at 2024-01-01 23:40:00 UTC)"),
        "{err}"
    );
    assert!(
        err.contains("collector.timestamp_alignment: floor"),
        "{err}"
    );
    // The other metric finished, combining by its own aggregation.
    let stored = sqlite_rows(
        &root.join("store.db"),
        "SELECT DISTINCT metric_name, value FROM dtk_datapoints WHERE collected_at LIKE '%23:50:00%'",
    );
    assert_eq!(stored, vec!["summed_rows|1200.0"]);
}

#[test]
fn backfill_stores_every_interval_on_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(root, "late_history", "");
    let out = run_in(root, &["backfill", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("row(s) were off the 10 minutes grid"),
        "{}",
        stdout(&out)
    );
    let stored = sqlite_rows(
        &root.join("store.db"),
        "SELECT collected_at, is_missing FROM dtk_datapoints WHERE metric_name = 'late_history' ORDER BY collected_at",
    );
    let minutes: Vec<String> = stored
        .iter()
        .map(|r| r.split('|').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(minutes.len(), 4, "{stored:?}");
    for (row, minute) in minutes
        .iter()
        .zip(["23:20:00", "23:30:00", "23:40:00", "23:50:00"])
    {
        assert!(row.contains(minute), "{row} should be the {minute} slot");
    }
    assert!(
        stored
            .iter()
            .all(|r| r.ends_with("|0") || r.ends_with("|false")),
        "{stored:?}"
    );
}
