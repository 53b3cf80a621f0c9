//! Bulk-load benchmark of the ClickHouse storage: upserts N datapoints of one metric
//! (default 1,000,000) in one call, then reads them back, and prints rows per second.
//!
//! ```text
//! scripts/services/clickhouse.sh
//! cargo run --release -p detectk-collectors-clickhouse --example clickhouse_load_bench -- [ROWS]
//! ```
//!
//! Connection: `CLICKHOUSE_HOST` / `CLICKHOUSE_PORT` / `CLICKHOUSE_USER` /
//! `CLICKHOUSE_PASSWORD` (default 127.0.0.1:8123). The data goes into a fresh database
//! `dtk_bench_<pid>`, dropped at the end.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use detectk_collectors_clickhouse::{ClickHouseFactory, ConnectionConfig};
use detectk_core::config::Params;
use detectk_core::traits::{LoadDatapoints, SeriesStore};
use detectk_core::{Context, DataPoint, Storage};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let database = format!("dtk_bench_{}", std::process::id());
    let map = serde_json::Map::from_iter([
        ("database".to_string(), json!(database)),
        ("timeout".to_string(), json!(600)),
    ]);
    let mut params = Params::new(&map, "storage.params");
    let mut config = ConnectionConfig::from_params(&mut params).ok_or("bad connection params")?;
    if std::env::var_os("CLICKHOUSE_HOST").is_none() {
        config.host = "127.0.0.1".into();
    }
    let storage = ClickHouseFactory::new().storage(&config);
    storage.migrate().await?;

    let t0 = Utc
        .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .ok_or("date")?;
    let points: Vec<DataPoint> = (0..rows as i64)
        .map(|i| {
            let t = t0 + chrono::Duration::minutes(i);
            let value = 1000.0 + (i % 1440) as f64 * 0.5;
            let context = Context::from_iter([("hour_of_day".to_string(), json!((i / 60) % 24))]);
            DataPoint::new(t, value).with_context(context)
        })
        .collect();

    let started = Instant::now();
    storage.upsert_datapoints("bench_metric", &points).await?;
    let write = started.elapsed();

    let started = Instant::now();
    let loaded = storage
        .load_datapoints(&LoadDatapoints::new(
            "bench_metric",
            t0,
            t0 + chrono::Duration::minutes(rows as i64),
        ))
        .await?;
    let read = started.elapsed();
    assert_eq!(loaded.len(), rows, "rows read back");
    assert_eq!(loaded, points, "rows read back equal rows written");

    let client = clickhouse::Client::default()
        .with_url(config.url())
        .with_user(config.user.clone())
        .with_password(config.password.expose())
        .with_validation(false);
    client
        .query(&format!("DROP DATABASE IF EXISTS {database}"))
        .execute()
        .await?;

    let rate = |d: Duration| rows as f64 / d.as_secs_f64();
    println!("server      {}", config.server());
    println!("rows        {rows}");
    println!(
        "upsert      {:>8.3} s  {:>12.0} rows/s",
        write.as_secs_f64(),
        rate(write)
    );
    println!(
        "load FINAL  {:>8.3} s  {:>12.0} rows/s",
        read.as_secs_f64(),
        rate(read)
    );
    Ok(())
}
