//! History-read benchmark: the read every `dtk run` tick makes of each metric, 30 days
//! of 10-minute points (4,321 rows), through `Storage::load_datapoints`, on each
//! storage this build has (SQLite, PostgreSQL, MariaDB/MySQL).
//!
//! ```text
//! cargo run --release -p detectk-collectors-sql --all-features --example sql_read_bench -- [METRICS] [ROUNDS]
//! ```
//!
//! Stores METRICS metrics (default 50) of 4,321 points each, then reads every metric's
//! window ROUNDS times (default 20), one read at a time, and reports the time per read
//! and rows per second. Servers as in `sql_load_bench` (`BENCH_POSTGRES_URL`,
//! `BENCH_MYSQL_URL`); SQLite uses a file in a temporary directory. CPU time is the
//! whole process's (all threads, PostgreSQL and MySQL servers not included).

#[path = "bench_common/targets.rs"]
mod bench_common;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use detectk_core::Storage;
use detectk_core::model::DataPoint;
use detectk_core::traits::LoadDatapoints;
use serde_json::Value;

/// 30 days of 10-minute points, plus the point the tick adds.
const WINDOW_POINTS: usize = 30 * 144 + 1;

fn points() -> Vec<DataPoint> {
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    (0..WINDOW_POINTS)
        .map(|i| {
            DataPoint::new(
                start + chrono::Duration::minutes(10 * i as i64),
                1000.0 + (i % 144) as f64 * 3.25,
            )
        })
        .collect()
}

async fn bench(
    name: &str,
    type_name: &str,
    params: Value,
    (metrics, rounds): (usize, usize),
) -> Result<(Duration, Duration), String> {
    let storage = bench_common::migrated_storage(name, type_name, params).await?;
    let data = points();
    let prefix = format!("readbench_{}_", std::process::id());
    let names: Vec<String> = (0..metrics).map(|i| format!("{prefix}{i}")).collect();
    for metric in &names {
        storage
            .upsert_datapoints(metric, &data)
            .await
            .map_err(|e| e.to_string())?;
    }
    let from = data[0].timestamp;
    let to = data[data.len() - 1].timestamp + chrono::Duration::minutes(10);
    let (t, cpu) = (Instant::now(), cpu_time());
    for _ in 0..rounds {
        for metric in &names {
            let read = storage
                .load_datapoints(&LoadDatapoints::new(metric, from, to))
                .await
                .map_err(|e| e.to_string())?;
            if read.len() != WINDOW_POINTS || read != data {
                return Err(format!("{metric}: read back differs from what was stored"));
            }
        }
    }
    let measured = (t.elapsed(), cpu_time().saturating_sub(cpu));
    cleanup(storage.as_ref(), &names).await?;
    Ok(measured)
}

/// CPU time (user + system) of this process so far, all threads (Linux only; zero elsewhere).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with `)`): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // The kernel's clock ticks are 100 per second on every common Linux build.
    Duration::from_millis(ticks * 10)
}

async fn cleanup(storage: &dyn Storage, names: &[String]) -> Result<(), String> {
    let later = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap();
    for metric in names {
        storage
            .apply_retention(metric, later)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let metrics = args.first().copied().unwrap_or(50).max(1);
    let rounds = args.get(1).copied().unwrap_or(20).max(1);
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let targets = bench_common::bench_targets(dir.path());
    let reads = metrics * rounds;
    println!("{reads} reads ({metrics} metrics x {rounds} rounds) of {WINDOW_POINTS} points\n");
    println!("| storage | total | per read | rows/s | CPU per read |");
    println!("|---|---|---|---|---|");
    let mut failed = false;
    for (name, type_name, params) in targets {
        match bench(name, type_name, params, (metrics, rounds)).await {
            Ok((elapsed, cpu)) => println!(
                "| {name} | {:.2} s | {:.2} ms | {:.0} | {:.2} ms |",
                elapsed.as_secs_f64(),
                elapsed.as_secs_f64() * 1000.0 / reads as f64,
                (reads * WINDOW_POINTS) as f64 / elapsed.as_secs_f64(),
                cpu.as_secs_f64() * 1000.0 / reads as f64
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
