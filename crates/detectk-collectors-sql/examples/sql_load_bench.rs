//! Bulk-load benchmark: upserts N datapoints of one metric into each storage this
//! build has (SQLite, PostgreSQL, MariaDB/MySQL) and reports rows per second.
//!
//! ```text
//! cargo run --release -p detectk-collectors-sql --all-features --example sql_load_bench -- [ROWS] [--context]
//! ```
//!
//! ROWS defaults to 1,000,000. `--context` gives every point a one-key context.
//! Servers: `BENCH_POSTGRES_URL` (default `postgresql://postgres@127.0.0.1:5432/test`,
//! tables in schema `dtk_bench`) and `BENCH_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/dtk_bench`, the database must exist). SQLite uses a
//! file in a temporary directory.

#[path = "bench_common/targets.rs"]
mod bench_common;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use detectk_core::Storage;
use detectk_core::model::{Context, DataPoint};
use detectk_core::traits::LoadDatapoints;
use serde_json::{Value, json};

fn points(rows: usize, with_context: bool) -> Vec<DataPoint> {
    let start = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    (0..rows)
        .map(|i| {
            let p = DataPoint::new(
                start + chrono::Duration::minutes(10 * i as i64),
                1000.0 + (i % 144) as f64 * 3.25,
            );
            if with_context {
                p.with_context(Context::from_iter([(
                    "hour_of_day".to_string(),
                    json!((i / 6) % 24),
                )]))
            } else {
                p
            }
        })
        .collect()
}

async fn bench(
    name: &str,
    type_name: &str,
    params: Value,
    points: &[DataPoint],
) -> Result<(Duration, Duration), String> {
    let storage = bench_common::migrated_storage(name, type_name, params).await?;
    let metric = format!(
        "bench_{}_{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    );
    let t = Instant::now();
    storage
        .upsert_datapoints(&metric, points)
        .await
        .map_err(|e| e.to_string())?;
    let insert = t.elapsed();
    let t = Instant::now();
    storage
        .upsert_datapoints(&metric, points)
        .await
        .map_err(|e| e.to_string())?;
    let update = t.elapsed();
    check(storage.as_ref(), &metric, points.len()).await?;
    storage
        .apply_retention(&metric, Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    Ok((insert, update))
}

async fn check(storage: &dyn Storage, metric: &str, rows: usize) -> Result<(), String> {
    let from = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap();
    let stored = storage
        .load_datapoints(&LoadDatapoints::new(metric, from, to))
        .await
        .map_err(|e| e.to_string())?;
    if stored.len() != rows {
        return Err(format!("stored {} rows, expected {rows}", stored.len()));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args
        .iter()
        .find_map(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let with_context = args.iter().any(|a| a == "--context");
    let data = points(rows, with_context);
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let targets = bench_common::bench_targets(dir.path());
    println!(
        "{rows} datapoints of one metric{}\n",
        if with_context {
            ", each with a context"
        } else {
            ""
        }
    );
    println!("| storage | first load | rows/s | reload (upsert) | rows/s |");
    println!("|---|---|---|---|---|");
    let mut failed = false;
    for (name, type_name, params) in targets {
        match bench(name, type_name, params, &data).await {
            Ok((insert, update)) => println!(
                "| {name} | {:.2} s | {:.0} | {:.2} s | {:.0} |",
                insert.as_secs_f64(),
                rows as f64 / insert.as_secs_f64(),
                update.as_secs_f64(),
                rows as f64 / update.as_secs_f64()
            ),
            Err(e) => {
                failed = true;
                println!("| {name} | failed: {e} | | | |");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
