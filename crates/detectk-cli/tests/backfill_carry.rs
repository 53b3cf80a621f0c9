//! A backfill carries each batch's series to the next batch instead of reading the
//! history back from storage, but only into an empty range; the detections and stored
//! points are exactly those of a backfill that reads every window from storage.

#![cfg(feature = "sqlite")]

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::config::{LoadOptions, parse_config};
use detectk_core::model::DataPoint;
use detectk_core::pipeline::{BackfillOptions, MetricPlan, Runner, build_plan};
use detectk_core::traits::{LoadDatapoints, LoadDetections};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

const POINTS: i64 = 5 * 144; // five days of 10-minute intervals

/// A source with gaps (no row), NULL values, spikes and values with many decimals.
async fn write_source(path: &std::path::Path) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE s (ts TEXT, v REAL)")
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..POINTS {
        if i % 37 == 5 {
            continue;
        }
        let ts = start() + TimeDelta::minutes(10 * i);
        let v = if i % 53 == 7 {
            None
        } else if i % 101 == 11 {
            Some(900.0 + i as f64 / 7.0)
        } else {
            Some(100.0 + (i as f64 * 0.37).sin() * 10.0 + i as f64 / 3.0)
        };
        sqlx::query("INSERT INTO s VALUES (?, ?)")
            .bind(ts.format("%Y-%m-%d %H:%M:%S").to_string())
            .bind(v)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

fn plan(dir: &std::path::Path, store: &str) -> MetricPlan {
    let yaml = format!(
        r#"name: carry
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///{src}"
    query: "SELECT ts AS period_time, v AS value FROM s WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts"
storage: {{type: sqlite, params: {{connection_string: "sqlite:///{store}"}}}}
detectors:
  - {{type: mad, params: {{window_size: 1 day, n_sigma: 2}}}}
  - {{type: zscore, params: {{window_size: 2 days, n_sigma: 2}}}}
  - {{type: zscore, params: {{window_size: 40, n_sigma: 2, use_weighted: false}}}}
  - {{type: iqr, params: {{window_size: 12 hours}}}}
  - {{type: missing_data}}
schedule: {{interval: 10 minutes, start_time: "2024-01-01", batch_load_days: 1}}
"#,
        src = dir.join("source.db").display(),
        store = dir.join(store).display(),
    );
    let loaded = parse_config(&yaml, None, &LoadOptions::default()).expect("valid config");
    build_plan(&detectk_cli::registry(), loaded.config).expect("buildable config")
}

/// Every stored point and detection of the range, as text (NaN-safe, field for field).
async fn stored(plan: &MetricPlan, end: DateTime<Utc>) -> (String, String, usize) {
    let storage = plan.storage.as_ref();
    let points = storage
        .load_datapoints(&LoadDatapoints::new("carry", start(), end))
        .await
        .unwrap();
    let detections = storage
        .load_detections(&LoadDetections::new("carry", start(), end))
        .await
        .unwrap();
    let n = detections.len();
    (format!("{points:?}"), format!("{detections:?}"), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carried_history_scores_as_history_read_from_storage() {
    let dir = tempfile::tempdir().unwrap();
    write_source(&dir.path().join("source.db")).await;
    let end = start() + TimeDelta::minutes(10 * POINTS);
    let options = BackfillOptions {
        execution_time: end,
        dry_run: false,
        force: false,
        detect: true,
    };
    let runner = Runner::new();

    // A: an empty storage, so every batch after the first scores carried history.
    let carried = plan(dir.path(), "carried.db");
    let report = runner.backfill(&carried, options, |_| {}).await.unwrap();
    assert_eq!(report.batches.len(), 5);

    // B: a point stored after the range beforehand: the range is not known to be
    // empty, so every batch reads its history from storage.
    let read = plan(dir.path(), "read.db");
    read.storage.migrate().await.unwrap();
    let later = DataPoint::new(end + TimeDelta::days(3), 1.0);
    read.storage
        .upsert_datapoints("carry", &[later])
        .await
        .unwrap();
    runner.backfill(&read, options, |_| {}).await.unwrap();

    let (points_a, detections_a, n) = stored(&carried, end).await;
    let (points_b, detections_b, _) = stored(&read, end).await;
    assert_eq!(n, 5 * POINTS as usize);
    assert_eq!(points_a, points_b);
    assert_eq!(detections_a, detections_b);
}
