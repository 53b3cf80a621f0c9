//! A run that stops between detecting and storing (killed, or a failing write) leaves
//! nothing half stored: the next run collects and scores the same points exactly as an
//! uninterrupted run would. (Points stored without their detections would make the
//! next run take the metric's detectors for new ones, which score only the newest
//! point.)

mod common;

use std::path::Path;

use common::{dtk, sqlite_exec, sqlite_rows, stderr, write_series_source};

/// When the run happens: 8 hours of 10-minute points are complete.
const AT: &str = "2024-03-01 08:00:00";

/// A metric with two window detectors over `source.db`, stored in `store.db`.
fn project(dir: &Path) {
    let values: Vec<f64> = (0..48)
        .map(|i| 100.0 + f64::from(i % 7) * 3.5 + if i == 40 { 90.0 } else { 0.0 })
        .collect();
    write_series_source(dir, &values);
    let yaml = "name: orders\n\
        collector:\n  type: sqlite\n  params:\n    connection_string: \"sqlite:///source.db\"\n    \
        query: \"SELECT ts AS period_time, v AS value FROM series WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}' ORDER BY ts\"\n\
        storage: {type: sqlite, params: {connection_string: \"sqlite:///store.db\"}}\n\
        detectors:\n  - {type: mad, params: {window_size: \"3 hours\", n_sigma: 3.0}}\n  \
        - {type: zscore, params: {window_size: \"2 hours\", n_sigma: 3.0}}\n\
        schedule: {interval: 10 minutes, start_time: \"2024-03-01 00:00:00\"}\n";
    std::fs::write(dir.join("m.yaml"), yaml).unwrap();
}

fn run(dir: &Path) -> std::process::Output {
    dtk()
        .current_dir(dir)
        .args(["run", "m.yaml", "--execution-time", AT])
        .output()
        .expect("dtk runs")
}

fn points(dir: &Path) -> Vec<String> {
    sqlite_rows(
        &dir.join("store.db"),
        "SELECT collected_at, value, is_missing FROM dtk_datapoints ORDER BY collected_at",
    )
}

fn detections(dir: &Path) -> Vec<String> {
    sqlite_rows(
        &dir.join("store.db"),
        "SELECT detector_id, detected_at, value, is_anomaly, score, lower_bound, upper_bound \
         FROM dtk_detections ORDER BY detector_id, detected_at",
    )
}

#[test]
fn a_first_run_whose_detections_fail_to_store_is_redone_whole() {
    // The reference: one uninterrupted first run.
    let whole = tempfile::tempdir().unwrap();
    project(whole.path());
    let out = run(whole.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let (want_points, want_detections) = (points(whole.path()), detections(whole.path()));
    // The first run loads the largest window (3 hours) and scores every point of it.
    assert_eq!(want_points.len(), 18);
    assert_eq!(want_detections.len(), 2 * 18);

    // The same first run, but the storage refuses detections.
    let broken = tempfile::tempdir().unwrap();
    project(broken.path());
    let store = broken.path().join("store.db");
    // A snooze set and removed creates the storage's tables (nothing else is stored).
    for args in [
        &["snooze", "orders", "--configs", "m.yaml", "--for", "1h"][..],
        &["unsnooze", "orders", "--configs", "m.yaml"][..],
    ] {
        let out = dtk()
            .current_dir(broken.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    sqlite_exec(
        &store,
        &["CREATE TRIGGER refuse BEFORE INSERT ON dtk_detections \
           BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    );
    let out = run(broken.path());
    assert!(
        !out.status.success(),
        "the detection write must fail the run"
    );
    assert!(
        stderr(&out).contains("refused by the test"),
        "{}",
        stderr(&out)
    );
    assert!(
        points(broken.path()).is_empty(),
        "no point may be stored without its detections"
    );

    // Once the storage accepts writes, the next run equals the uninterrupted one.
    sqlite_exec(&store, &["DROP TRIGGER refuse"]);
    let out = run(broken.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(points(broken.path()), want_points);
    assert_eq!(detections(broken.path()), want_detections);
}
