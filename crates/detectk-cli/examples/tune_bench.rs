//! `dtk tune`'s search on one year of 10-minute data (52,560 points) and 200 candidate
//! settings (20 detector settings x 10 policies), on all cores and on one.
//!
//! ```text
//! cargo run --release -p detectk-cli --example tune_bench
//! ```
//!
//! The series is synthetic (a daily wave, deterministic noise, 30 labelled incidents),
//! so the bench needs no data set and no server.

use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::DataPoint;
use detectk_core::backtest::IncidentWindow;
use detectk_core::backtest::tune::{Objective, TuneSeries, parse_grid, search};

const POINTS: i64 = 52_560;
const HISTORY: i64 = 30 * 144;

const GRID: &str = r#"detectors:
  - type: zscore
    params: {use_weighted: false, n_sigma: [3.0, 3.5, 4.0, 4.5, 5.0], window_size: ["7 days", "30 days"]}
  - type: mad
    params: {use_weighted: false, n_sigma: [3.0, 3.5, 4.0, 4.5, 5.0], window_size: ["7 days", "30 days"]}
conditions:
  consecutive_anomalies: [1, 2]
  cooldown_minutes: [0, 60, 360, 720, 1440]
"#;

fn main() {
    let registry = detectk_cli::registry();
    let grid = parse_grid(GRID, &registry).expect("valid grid");
    let start = DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let step = TimeDelta::minutes(10);
    let mut windows = Vec::new();
    let series: Vec<DataPoint> = (-HISTORY..POINTS)
        .map(|i| {
            let wave = 100.0 + 20.0 * (std::f64::consts::TAU * i as f64 / 144.0).sin();
            let noise = ((i * 7919).rem_euclid(101) - 50) as f64 * 0.1;
            let incident = if i > 0 && i % 1750 < 3 { 40.0 } else { 0.0 };
            if i > 0 && i % 1750 == 0 {
                windows.push(IncidentWindow {
                    start: start + step * i as i32,
                    end: start + step * (i as i32 + 6),
                });
            }
            DataPoint::new(start + step * i as i32, wave + noise + incident)
        })
        .collect();
    let input = TuneSeries {
        metric: "bench".into(),
        series,
        from: start,
        to: start + step * POINTS as i32,
        interval: step,
        windows,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} candidates ({} detector settings x {} policies), {POINTS} points",
        grid.size(),
        grid.detectors.len(),
        grid.policies.len()
    );
    for threads in [cores, 1] {
        let t0 = Instant::now();
        let ranked = search(
            &registry,
            &grid,
            std::slice::from_ref(&input),
            Objective::F1,
            threads,
        )
        .expect("search");
        let secs = t0.elapsed().as_secs_f64();
        let best = &ranked[0];
        println!(
            "threads {threads}: {secs:.2} s ({:.1} ms per candidate); best F1 {:.3} ({} {})",
            secs * 1000.0 / grid.size() as f64,
            best.scores.f1,
            best.detector.kind,
            serde_json::to_string(&best.detector.params).unwrap_or_default()
        );
    }
}
