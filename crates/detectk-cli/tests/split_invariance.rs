//! However a series is loaded — one backfill, small batches, or a backfill followed by
//! cron runs at irregular times — every point gets the same detection.

#![cfg(feature = "sqlite")]

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::config::{LoadOptions, parse_config};
use detectk_core::pipeline::{BackfillOptions, RunOptions, Runner, build_plan};
use detectk_core::traits::LoadDetections;
use detectk_core::{DetectionRecord, Storage};
use proptest::prelude::*;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

const POINTS: i64 = 432; // three days of 10-minute intervals

/// A source table with gaps (no row) and NULL values.
async fn write_source(path: &std::path::Path, values: &[Option<Option<f64>>]) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE s (ts TEXT, v REAL)")
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        let ts = start() + TimeDelta::minutes(10 * i as i64);
        sqlx::query("INSERT INTO s VALUES (?, ?)")
            .bind(ts.format("%Y-%m-%d %H:%M:%S").to_string())
            .bind(*v)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

fn config(
    dir: &std::path::Path,
    store: &str,
    batch_days: u32,
) -> detectk_core::pipeline::MetricPlan {
    let yaml = format!(
        r#"name: split
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///{src}"
    query: "SELECT ts AS period_time, v AS value FROM s WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts"
storage: {{type: sqlite, params: {{connection_string: "sqlite:///{store}"}}}}
detectors:
  - {{type: mad, params: {{window_size: 6 hours, n_sigma: 2}}}}
  - {{type: zscore, params: {{window_size: 20, n_sigma: 2, use_weighted: false}}}}
  - {{type: iqr, params: {{window_size: 1 day}}}}
  - {{type: missing_data}}
  - {{type: robust_seasonal, params: {{window_size: 12 hours, min_history: 2 hours, exclude_anomalies: true, level_shift_after: 1 hour}}}}
  - {{type: mad, params: {{window_size: 1 day, seasonal_features: [hour_of_day], use_weighted: false}}}}
schedule: {{interval: 10 minutes, start_time: "2024-01-01", batch_load_days: {batch_days}}}
"#,
        src = dir.join("source.db").display(),
        store = dir.join(store).display(),
    );
    let loaded = parse_config(&yaml, None, &LoadOptions::default()).expect("valid config");
    build_plan(&detectk_cli::registry(), loaded.config).expect("buildable config")
}

async fn detections(storage: &dyn Storage) -> Vec<DetectionRecord> {
    let end = start() + TimeDelta::days(30);
    let mut all = storage
        .load_detections(&LoadDetections::new("split", start(), end))
        .await
        .unwrap();
    for r in &mut all {
        r.alert_sent = false;
    }
    all
}

/// Equal up to floating-point rounding of incremental window statistics (1e-9 relative).
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    }
}

fn same_detection(a: &DetectionRecord, b: &DetectionRecord) -> bool {
    let (x, y) = (&a.detection, &b.detection);
    a.detector_id == b.detector_id
        && x.timestamp == y.timestamp
        && x.value == y.value
        && x.is_anomaly == y.is_anomaly
        && x.direction == y.direction
        && x.skipped == y.skipped
        && close(x.score, y.score)
        && close(x.lower_bound, y.lower_bound)
        && close(x.upper_bound, y.upper_bound)
        && close(x.percent_deviation, y.percent_deviation)
}

fn series() -> impl Strategy<Value = Vec<Option<Option<f64>>>> {
    // Per interval: no row (5%), a NULL value (3%), or a value with occasional spikes.
    proptest::collection::vec(
        prop_oneof![
            5 => Just(None),
            3 => Just(Some(None)),
            80 => (90.0f64..110.0).prop_map(|v| Some(Some(v))),
            4 => (300.0f64..400.0).prop_map(|v| Some(Some(v))),
        ],
        POINTS as usize,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn detections_do_not_depend_on_how_the_series_was_loaded(
        values in series(),
        backfill_hours in 6i64..48,
        steps in proptest::collection::vec(1i64..40, 40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            write_source(&dir.path().join("source.db"), &values).await;
            let end = start() + TimeDelta::minutes(10 * POINTS);

            // A: one backfill of everything, one batch per day.
            let a = config(dir.path(), "a.db", 1);
            let runner = Runner::new();
            let at_end = BackfillOptions { execution_time: end, dry_run: false, force: false, detect: true };
            runner.backfill(&a, at_end, |_| {}).await.unwrap();

            // B: a backfill of the first hours, then cron runs at irregular times.
            let b = config(dir.path(), "b.db", 30);
            let first = start() + TimeDelta::hours(backfill_hours);
            runner.backfill(&b, BackfillOptions { execution_time: first, ..at_end }, |_| {}).await.unwrap();
            let mut t = first;
            for step in steps.iter().copied().chain(std::iter::repeat(40)) {
                t = (t + TimeDelta::minutes(10 * step) + TimeDelta::minutes(3)).min(end);
                runner.run(&b, RunOptions { execution_time: t, dry_run: false }).await.unwrap();
                if t == end {
                    break;
                }
            }

            let da = detections(a.storage.as_ref()).await;
            let db = detections(b.storage.as_ref()).await;
            prop_assert_eq!(da.len(), 6 * POINTS as usize);
            prop_assert_eq!(da.len(), db.len());
            for (x, y) in da.iter().zip(&db) {
                prop_assert!(same_detection(x, y), "{:?}\n  vs\n{:?}", x, y);
            }
            Ok(())
        })?;
    }
}
