//! The service on SQLite: a generated source database and two metric configs (one of
//! them broken), one tick through the library and one `--once` run of the binary.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// The run's time: the newest complete 10-minute interval is [11:50, 12:00).
fn execution_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 4, 12, 0, 0).unwrap()
}

/// Two days of 10-minute points around 100, and a spike of 900 in the newest interval.
fn write_source(db: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE visits (ts TEXT NOT NULL, n REAL NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        let end = execution_time();
        for i in 1..=288 {
            let ts = end - TimeDelta::minutes(10 * i);
            let n = if i == 1 {
                900.0
            } else {
                100.0 + (i % 7) as f64
            };
            sqlx::query("INSERT INTO visits (ts, n) VALUES (?, ?)")
                .bind(ts.format("%Y-%m-%d %H:%M:%S").to_string())
                .bind(n)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
}

const VISITS: &str = r#"
name: visits
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///source.db"
    query: |
      SELECT ts AS period_time, n AS value FROM visits
      WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}' ORDER BY ts
detectors:
  - type: threshold
    params: {threshold: 500}
  - type: mad
    params: {window_size: 1 day, n_sigma: 5}
alerter:
  type: console
  params: {path: alerts.txt}
schedule:
  interval: 10 minutes
  start_time: "2024-03-02 12:00:00"
"#;

/// A project directory with the source, a good config and one naming a missing detector.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_source(&dir.path().join("source.db"));
    std::fs::write(dir.path().join("visits.yaml"), VISITS).unwrap();
    let broken = VISITS
        .replace("name: visits", "name: broken")
        .replace("type: mad", "type: prophet");
    std::fs::write(dir.path().join("broken.yaml"), broken).unwrap();
    dir
}

#[test]
fn one_tick_runs_every_valid_metric_and_reports_the_invalid_one() {
    let dir = project();
    let registry = embed_service::registry();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(embed_service::tick(
            &registry,
            dir.path(),
            execution_time(),
            2,
        ))
        .unwrap();
    assert_eq!(report.metrics.len(), 1);
    assert_eq!(report.invalid.len(), 1);
    assert!(
        report.invalid[0].to_string().contains("prophet"),
        "{}",
        report.invalid[0]
    );
    let visits = report.metrics[0].result.as_ref().unwrap();
    // A first run reaches back one detector window (1 day) and collects it.
    assert_eq!(visits.range.points, 144);
    let anomalous: Vec<_> = visits
        .range
        .anomalies
        .iter()
        .map(|r| (r.detector_type.as_str(), r.detection.timestamp))
        .collect();
    let newest = execution_time() - TimeDelta::minutes(10);
    assert!(anomalous.contains(&("threshold", newest)), "{anomalous:?}");
    let alerts = std::fs::read_to_string(dir.path().join("alerts.txt")).unwrap();
    assert!(alerts.contains("ANOMALY: visits"), "{alerts}");

    let text = embed_service::summary(&report);
    assert!(text.contains("visits: 144 point(s)"), "{text}");
    assert!(text.contains("1 alert(s) sent"), "{text}");
    assert!(text.ends_with("1 ok, 0 failed, 1 invalid\n"), "{text}");
}

#[test]
fn the_binary_runs_once_and_prints_the_summary() {
    let dir = project();
    std::fs::remove_file(dir.path().join("broken.yaml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_embed-service"))
        .args(["--once", "--execution-time", "2024-03-04T12:00:00Z"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("visits: 144 point(s)"), "{stdout}");
    assert!(stdout.ends_with("1 ok, 0 failed, 0 invalid\n"), "{stdout}");
}
