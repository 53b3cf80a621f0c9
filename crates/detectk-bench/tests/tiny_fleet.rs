//! A tiny generated fleet through `dtk` (debug build) end to end: the history load stores
//! every interval of every series and scores it with both detectors, the injected spikes
//! are flagged, `floor` copies the loaded rows inside the engine and removes the copy, a
//! tick after `advance` stores one point per metric, an idle tick stores nothing, and
//! `fleet-bench run` measures it all and checks the rows itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use detectk_bench::Manifest;
use detectk_bench::storage::{StoredRows, count};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

const METRICS: i64 = 5;
const DAYS: i64 = 8;
const END: &str = "2026-01-01 00:00:00";

/// The `dtk` debug binary: `DTK_BIN`; else the one `cargo test --workspace` built next to
/// this test (`target/debug/dtk`); else built here with cargo. A build here would replace
/// the binary that the CLI's own tests run, so it only happens when there is none.
fn dtk() -> PathBuf {
    if let Some(path) = std::env::var_os("DTK_BIN") {
        return PathBuf::from(path);
    }
    // target/debug/deps/tiny_fleet-HASH -> target/debug/dtk
    let exe = std::env::current_exe().expect("test executable path");
    let dtk = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .join(format!("dtk{}", std::env::consts::EXE_SUFFIX));
    if dtk.exists() {
        return dtk;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", "detectk-cli", "--all-features"]);
    // The variables cargo sets for this test (CARGO_PKG_*, CARGO_MANIFEST_DIR, ...) would
    // make the nested build differ from a plain `cargo build` and rebuild dependencies.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR" {
            build.env_remove(name);
        }
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p detectk-cli failed");
    dtk
}

fn fleet_bench(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_fleet-bench"))
        .args(args)
        .output()
        .expect("fleet-bench runs");
    assert!(
        output.status.success(),
        "fleet-bench {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn run_dtk(dtk: &Path, args: &[&str]) {
    let output = Command::new(dtk).args(args).output().expect("dtk runs");
    assert!(
        output.status.success(),
        "dtk {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// (metric, `YYYY-MM-DD HH:MM:SS`) of every point the `mad` detector flagged.
async fn mad_anomalies(dir: &Path) -> Vec<(String, String)> {
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.join("detectk.db").display()))
            .unwrap()
            .read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query_as(
        "SELECT metric_name, substr(detected_at, 1, 19) FROM dtk_detections \
         WHERE detector_type = 'mad' AND is_anomaly = 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tiny_fleet_runs_through_dtk() {
    let dtk = dtk();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fleet");
    let dir_arg = dir.to_str().unwrap();
    let printed = fleet_bench(&[
        "generate",
        "--metrics",
        &METRICS.to_string(),
        "--days",
        &DAYS.to_string(),
        "--dir",
        dir_arg,
    ]);
    assert_eq!(printed.trim(), END);
    let manifest = Manifest::load(&dir).unwrap();
    let points = METRICS * DAYS * 144;
    assert_eq!(
        i64::from(manifest.metrics) * manifest.points_per_series(),
        points
    );
    let spikes = manifest.spikes();
    assert!(!spikes.is_empty(), "the fleet has spikes to find");

    // History load.
    run_dtk(
        &dtk,
        &[
            "backfill",
            dir_arg,
            "--execution-time",
            END,
            "--concurrency",
            "2",
        ],
    );
    let loaded = count(&dir, &manifest.storage).await.unwrap();
    assert_eq!(loaded.datapoints, points);
    assert_eq!(loaded.detections, 2 * points);
    let flagged = mad_anomalies(&dir).await;
    for (metric, at) in &spikes {
        let at = at.format("%Y-%m-%d %H:%M:%S").to_string();
        assert!(
            flagged.contains(&(metric.clone(), at.clone())),
            "spike of {metric} at {at} not flagged by mad; flagged: {flagged:?}"
        );
    }

    // The engine's floor: the loaded rows copied inside SQLite, the copy removed.
    let floor = fleet_bench(&["floor", "--dir", dir_arg]);
    let row = floor
        .lines()
        .find(|l| l.starts_with("| 5 | SQLite |"))
        .unwrap_or_else(|| panic!("no floor row: {floor}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(
        cells[3],
        detectk_bench::table::thousands(3 * points),
        "{floor}"
    );
    assert!(cells[5].parse::<f64>().is_ok(), "engine CPU: {floor}");
    assert!(!dir.join(detectk_bench::floor::FLOOR_FILE).exists());
    assert_eq!(count(&dir, &manifest.storage).await.unwrap(), loaded);

    // A real tick, then an idle one.
    let at = fleet_bench(&["advance", "--dir", dir_arg, "--intervals", "1"]);
    assert_eq!(at.trim(), "2026-01-01 00:10:00");
    run_dtk(&dtk, &["run", dir_arg, "--execution-time", at.trim()]);
    let ticked = count(&dir, &manifest.storage).await.unwrap();
    assert_eq!(
        (ticked.datapoints, ticked.detections),
        (points + METRICS, 2 * (points + METRICS))
    );
    run_dtk(&dtk, &["run", dir_arg, "--execution-time", at.trim()]);
    let idle: StoredRows = count(&dir, &manifest.storage).await.unwrap();
    assert_eq!(idle, ticked);

    // The measuring harness: history load again (storage emptied first) and one tick;
    // it fails unless the rows are the fleet's.
    let table = fleet_bench(&[
        "run",
        "--dir",
        dir_arg,
        "--dtk",
        dtk.to_str().unwrap(),
        "--ticks",
        "1",
        "--concurrency",
        "2",
    ]);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| 5 |")).collect();
    // The three cases, then the fleet's row of the cost curve.
    assert_eq!(rows.len(), 4, "{table}");
    assert!(
        rows[0].contains("history load")
            && rows[0].contains(&format!(
                "{} points",
                detectk_bench::table::thousands(points + METRICS)
            )),
        "{table}"
    );
    assert!(rows[1].contains("cron tick"), "{table}");
    assert!(rows[2].contains("same tick again"), "{table}");
    assert_eq!(rows[3].matches('|').count(), 11, "{table}");
    let after = count(&dir, &manifest.storage).await.unwrap();
    assert_eq!(after.datapoints, points + 2 * METRICS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_with_a_context_column_stores_each_points_hour_and_scores_by_it() {
    let dtk = dtk();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fleet");
    let dir_arg = dir.to_str().unwrap();
    fleet_bench(&[
        "generate",
        "--metrics",
        "2",
        "--days",
        "3",
        "--dir",
        dir_arg,
        "--context-column",
    ]);
    let manifest = Manifest::load(&dir).unwrap();
    assert!(manifest.context_column);
    let config = std::fs::read_to_string(manifest.metric_path(&dir, 1)).unwrap();
    assert!(
        config.contains("context_columns: [hour_of_day]")
            && config.contains("seasonal_features: [hour_of_day]"),
        "{config}"
    );
    run_dtk(&dtk, &["backfill", dir_arg, "--execution-time", END]);
    let points = 2 * 3 * 144;
    let loaded = count(&dir, &manifest.storage).await.unwrap();
    assert_eq!((loaded.datapoints, loaded.detections), (points, 2 * points));

    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.join("detectk.db").display()))
            .unwrap()
            .read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT collected_at, context FROM dtk_datapoints")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(rows.len() as i64, points);
    for (at, context) in &rows {
        let hour: u32 = at[11..13].parse().unwrap();
        assert_eq!(
            context.as_deref(),
            Some(format!(r#"{{"hour_of_day":{hour}}}"#).as_str()),
            "{at}"
        );
    }
    // A tick reads the window back (day blocks with their contexts) and scores the point.
    let at = fleet_bench(&["advance", "--dir", dir_arg, "--intervals", "1"]);
    run_dtk(&dtk, &["run", dir_arg, "--execution-time", at.trim()]);
    let ticked = count(&dir, &manifest.storage).await.unwrap();
    assert_eq!(ticked.detections, 2 * (points + 2));
    // MAD scored the new point (hour 0) against the hour-0 points before it: the centre
    // of its band is a (weighted) median of those values, where the median of all 432
    // earlier values would be an hour-0 value by chance only.
    let (hour, lower, upper): (i64, f64, f64) = sqlx::query_as(
        "SELECT json_extract(context, '$.hour_of_day'), lower_bound, upper_bound \
         FROM dtk_detections WHERE detector_type = 'mad' AND metric_name = 'fleet_00001' \
         AND detected_at = '2026-01-01 00:00:00'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(hour, 0);
    let source = SqliteConnectOptions::from_str(&format!(
        "sqlite://{}",
        dir.join(detectk_bench::manifest::SOURCE_FILE).display()
    ))
    .unwrap()
    .read_only(true);
    let mut source = SqliteConnection::connect_with(&source).await.unwrap();
    let hour_zero: Vec<f64> = sqlx::query_scalar(
        "SELECT value FROM series_points WHERE series_id = 1 \
         AND substr(ts, 12, 2) = '00' AND ts < '2026-01-01 00:00:00'",
    )
    .fetch_all(&mut source)
    .await
    .unwrap();
    assert_eq!(hour_zero.len(), 18);
    let centre = (lower + upper) / 2.0;
    assert!(
        hour_zero
            .iter()
            .any(|v| (v - centre).abs() <= 1e-9 * v.abs().max(1.0)),
        "band centre {centre} is none of the hour-0 values {hour_zero:?}"
    );
}
