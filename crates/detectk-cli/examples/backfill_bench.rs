//! Backfill of one year of 10-minute data (52,560 points) from each server: collect,
//! store and detect with two detectors, then one cron run with one new point.
//!
//! ```text
//! bash scripts/services/postgres.sh; bash scripts/services/mariadb.sh; bash scripts/services/clickhouse.sh
//! cargo run --release -p detectk-cli --example backfill_bench [-- sqlite postgres mysql clickhouse]
//! ```
//!
//! The source series is written into the storage's own `dtk_datapoints` table under a
//! separate metric name, so every backend is set up through the same `Storage` trait and
//! queried with the same SQL. Rows of the bench are deleted afterwards.

use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::DataPoint;
use detectk_core::config::{LoadOptions, parse_config};
use detectk_core::pipeline::{BackfillOptions, MetricPlan, RunOptions, Runner, build_plan};

const POINTS: i64 = 52_560;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Connection params (YAML flow mapping) of each backend.
fn connection(backend: &str, dir: &std::path::Path) -> String {
    match backend {
        "sqlite" => format!(
            "{{type: sqlite, connection_string: \"sqlite:///{}/bench.db\"}}",
            dir.display()
        ),
        "postgres" => {
            "{type: postgres, connection_string: \"postgresql://postgres@127.0.0.1:5432/test\"}"
                .into()
        }
        "mysql" => "{type: mysql, connection_string: \"mysql://root@127.0.0.1:3306/test\"}".into(),
        "clickhouse" => "{type: clickhouse, host: 127.0.0.1, port: 8123, database: default}".into(),
        other => panic!("unknown backend {other}; use sqlite, postgres, mysql or clickhouse"),
    }
}

fn plan(backend: &str, dir: &std::path::Path, metric: &str, source: &str) -> MetricPlan {
    let conn = connection(backend, dir);
    let kind = conn
        .split("type: ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let params = conn.replace(&format!("type: {kind}, "), "");
    let yaml = format!(
        r#"name: {metric}
collector:
  type: {kind}
  params: {params}
  query: "SELECT collected_at AS period_time, value FROM dtk_datapoints WHERE metric_name = '{source}' AND collected_at >= '{{{{ period_start }}}}' AND collected_at < '{{{{ period_finish }}}}' ORDER BY collected_at"
detectors:
  - {{type: mad, params: {{window_size: 30 days, n_sigma: 3}}}}
  - {{type: zscore, params: {{window_size: 7 days, n_sigma: 3, use_weighted: false}}}}
schedule: {{interval: 10 minutes, start_time: "2023-01-01", batch_load_days: 30}}
"#
    );
    let config = parse_config(&yaml, None, &LoadOptions::default())
        .expect("valid bench config")
        .config;
    build_plan(&detectk_cli::registry(), config).expect("backend available in this build")
}

fn series() -> Vec<DataPoint> {
    (0..POINTS + 1)
        .map(|i| {
            let t = start() + TimeDelta::minutes(10 * i);
            let hour = (i % 144) as f64 / 6.0;
            let v = 1000.0
                + 300.0 * (hour / 24.0 * std::f64::consts::TAU).sin()
                + ((i * 7919) % 97) as f64;
            DataPoint::new(t, v)
        })
        .collect()
}

async fn bench(backend: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let run_id = std::process::id();
    let source = format!("bench_source_{run_id}");
    let metric = format!("bench_year_{run_id}");
    let plan = plan(backend, dir.path(), &metric, &source);
    let storage = plan.storage.clone();
    storage.migrate().await.map_err(|e| e.to_string())?;
    let data = series();
    for chunk in data.chunks(20_000) {
        storage
            .upsert_datapoints(&source, chunk)
            .await
            .map_err(|e| e.to_string())?;
    }

    let runner = Runner::new();
    let year_end = start() + TimeDelta::minutes(10 * POINTS);
    let options = BackfillOptions {
        execution_time: year_end,
        dry_run: false,
        force: true,
        detect: true,
    };
    let t0 = Instant::now();
    let report = runner
        .backfill(&plan, options, |_| {})
        .await
        .map_err(|e| format!("{e:?}"))?;
    let backfill = t0.elapsed();
    assert_eq!(
        report.range.points as i64, POINTS,
        "the whole year was loaded"
    );

    let t1 = Instant::now();
    let run = runner
        .run(
            &plan,
            RunOptions {
                execution_time: year_end + TimeDelta::minutes(10),
                dry_run: false,
            },
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
    let cron = t1.elapsed();
    assert_eq!(run.range.points, 1, "one new point");

    println!(
        "| {backend:<10} | {:>8.2} s | {:>9.0} points/s | {:>7.1} ms |",
        backfill.as_secs_f64(),
        POINTS as f64 / backfill.as_secs_f64(),
        cron.as_secs_f64() * 1000.0
    );
    let far = year_end + TimeDelta::days(3650);
    for m in [&source, &metric] {
        storage
            .apply_retention(m, far)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let mut backends: Vec<String> = std::env::args().skip(1).collect();
    if backends.is_empty() {
        backends = ["sqlite", "postgres", "mysql", "clickhouse"]
            .map(String::from)
            .to_vec();
    }
    println!("| backend    | backfill   | throughput        | cron run   |");
    println!("|------------|------------|-------------------|------------|");
    let mut failed = false;
    for backend in &backends {
        if let Err(e) = bench(backend).await {
            eprintln!("{backend}: {e}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
