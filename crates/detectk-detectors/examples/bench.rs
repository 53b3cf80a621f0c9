//! Detector throughput on one year of 10-minute data with a 30-day window.
//!
//! Run: `cargo run --release -p detectk-detectors --example bench`
//! (`-- --quick` for a short smoke run, `-- --only TEXT[,TEXT]` for the variants whose
//! name contains one of them, `-- --name NAME` for the one variant named exactly NAME,
//! `-- --no-cron` to skip the cron timing, `-- --cron-only` to time cron runs only, `-- --cron-runs N` to time N of them).
//! Prints a Markdown table: points per second for a whole-year backfill of each
//! variant, and the time (best wall time, mean CPU time) of a cron run that scores one
//! new point against its full 30-day history.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use detectk_core::{DataPoint, DetectionContext, Detector, HumanDuration, Window};
use detectk_detectors::{
    CalendarFeature, HistoryOptions, IqrDetector, MadDetector, MissingDataDetector, Operator,
    RobustSeasonalDetector, Seasonality, ThresholdDetector, ZScoreDetector,
};
use serde_json::{Map, Value};

const POINTS: usize = 52_560;
const WINDOW_POINTS: usize = 4_320;

/// A year of 10-minute data: daily and weekly cycles, continuous noise, spikes, 0.5 %
/// missing (continuous values: few ties, the hard case for order statistics).
fn year() -> Vec<DataPoint> {
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..POINTS)
        .map(|i| {
            let ts = t0 + TimeDelta::minutes(10 * i as i64);
            let hour = (i / 6) % 24;
            let mut ctx = Map::new();
            ctx.insert("hour_of_day".into(), Value::from(hour));
            ctx.insert("day_of_week".into(), Value::from((i / 144) % 7));
            if uniform() < 0.005 {
                return DataPoint::missing(ts).with_context(ctx);
            }
            let day = (i as f64 / 144.0) * std::f64::consts::TAU;
            let mut v =
                1000.0 + 300.0 * day.sin() + 80.0 * (day / 7.0).sin() + 40.0 * (uniform() - 0.5);
            if uniform() < 0.002 {
                v *= 3.0;
            }
            DataPoint::new(ts, v).with_context(ctx)
        })
        .collect()
}

/// The shortest of `runs` timings of `f`: on a single-threaded, CPU-bound run the
/// minimum is the run least disturbed by other processes, close to its CPU time.
/// Slow variants (over half a second a run) are timed twice only.
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for run in 0..runs {
        let start = Instant::now();
        f();
        best = best.min(start.elapsed());
        if run >= 1 && best > Duration::from_millis(500) {
            break;
        }
    }
    best
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`), `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The mean on-CPU time of `runs` runs of `f` (immune to waiting for a shared core),
/// or `None` without `schedstat`.
fn cpu_time(runs: usize, mut f: impl FnMut()) -> Option<Duration> {
    let start = cpu_ns()?;
    for _ in 0..runs {
        f();
    }
    let spent = cpu_ns()?.saturating_sub(start);
    Some(Duration::from_nanos(spent / runs.max(1) as u64))
}

fn history(decay: Option<f64>, seasonal: bool) -> HistoryOptions {
    HistoryOptions {
        window: Window::Span(HumanDuration::parse("30 days").unwrap()),
        decay,
        seasonality: if seasonal {
            Seasonality::all_of(["hour_of_day"])
        } else {
            Seasonality::none()
        },
        ..HistoryOptions::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let no_cron = args.iter().any(|a| a == "--no-cron");
    let cron_only = args.iter().any(|a| a == "--cron-only");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let name = args
        .iter()
        .position(|a| a == "--name")
        .and_then(|i| args.get(i + 1).cloned());
    let runs = if quick { 1 } else { 15 };
    let cron_runs = args
        .iter()
        .position(|a| a == "--cron-runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick { 3 } else { 200 });
    let series = year();
    let ctx = DetectionContext {
        execution_time: series[POINTS - 1].timestamp,
        interval: TimeDelta::minutes(10),
    };
    let mut variants: Vec<(String, Box<dyn Detector>)> = Vec::new();
    for weighted in [false, true] {
        for seasonal in [false, true] {
            let decay = weighted.then_some(0.1);
            let label = format!(
                "{}, {}",
                if weighted { "weighted" } else { "unweighted" },
                if seasonal {
                    "seasonal (hour_of_day)"
                } else {
                    "no seasonality"
                }
            );
            variants.push((
                format!("zscore, {label}"),
                Box::new(ZScoreDetector::new(history(decay, seasonal), 3.0)),
            ));
            variants.push((
                format!("mad, {label}"),
                Box::new(MadDetector::new(history(decay, seasonal), 3.0)),
            ));
            variants.push((
                format!("iqr, {label}"),
                Box::new(IqrDetector::new(history(decay, seasonal), 1.5)),
            ));
        }
    }
    let union = |decay: Option<f64>| HistoryOptions {
        seasonality: Seasonality::any_of(["hour_of_day", "day_of_week"]),
        ..history(decay, false)
    };
    variants.push((
        "zscore, weighted, any of (hour_of_day, day_of_week)".into(),
        Box::new(ZScoreDetector::new(union(Some(0.1)), 3.0)),
    ));
    variants.push((
        "zscore, unweighted, any of (hour_of_day, day_of_week)".into(),
        Box::new(ZScoreDetector::new(union(None), 3.0)),
    ));
    variants.push((
        "iqr, unweighted, any of (hour_of_day, day_of_week)".into(),
        Box::new(IqrDetector::new(union(None), 1.5)),
    ));
    variants.push((
        "iqr, weighted, any of (hour_of_day, day_of_week)".into(),
        Box::new(IqrDetector::new(union(Some(0.1)), 1.5)),
    ));
    variants.push((
        "mad, unweighted, any of (hour_of_day, day_of_week)".into(),
        Box::new(MadDetector::new(union(None), 3.0)),
    ));
    variants.push((
        "mad, weighted, any of (hour_of_day, day_of_week)".into(),
        Box::new(MadDetector::new(union(Some(0.1)), 3.0)),
    ));
    variants.push((
        "mad, weighted, all of (hour_of_day, day_of_week)".into(),
        Box::new(MadDetector::new(
            HistoryOptions {
                seasonality: Seasonality::all_of(["hour_of_day", "day_of_week"]),
                ..history(Some(0.1), false)
            },
            3.0,
        )),
    ));
    variants.push((
        "threshold, greater_than".into(),
        Box::new(ThresholdDetector::new(1500.0, Operator::GreaterThan)),
    ));
    variants.push((
        "missing_data, consecutive_missing 3".into(),
        Box::new(MissingDataDetector::new(3)),
    ));
    variants.push((
        "robust_seasonal, defaults (hour_of_day, 28 days)".into(),
        Box::new(RobustSeasonalDetector::default()),
    ));
    variants.push((
        "robust_seasonal, hour_of_week".into(),
        Box::new(RobustSeasonalDetector::default().with_season(vec![CalendarFeature::HourOfWeek])),
    ));
    variants.push((
        "robust_seasonal, no season".into(),
        Box::new(RobustSeasonalDetector::default().with_season(vec![])),
    ));
    variants.push((
        "robust_seasonal, exclude_anomalies".into(),
        Box::new(RobustSeasonalDetector::default().with_exclusion(Some(TimeDelta::hours(6)))),
    ));
    variants.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(only) = &only {
        variants.retain(|(name, _)| only.split(',').any(|o| name.contains(o)));
    }
    if let Some(exact) = &name {
        variants.retain(|(name, _)| name == exact);
    }

    println!(
        "One year of 10-minute data ({POINTS} points), 30-day window ({WINDOW_POINTS} points), one core.\n"
    );
    println!(
        "| detector | backfill points/s | backfill time | backfill points/s of CPU time | cron run time | cron run CPU time |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let cron_start = POINTS - 1;
    for (name, det) in &variants {
        // What the pipeline loads for a cron run: the detector's window before the point.
        let history = match det.window() {
            Window::Points(n) => n,
            Window::Span(d) => (d.seconds() / 600) as usize,
        }
        .clamp(WINDOW_POINTS, cron_start);
        let cron_series = &series[cron_start - history..];
        let mut flagged = 0;
        let full = best_of(if cron_only { 0 } else { runs }, || {
            flagged = det
                .detect(&series, 0, &ctx)
                .iter()
                .filter(|d| d.is_anomaly)
                .count();
        });
        let cron = best_of(if no_cron { 0 } else { cron_runs }, || {
            std::hint::black_box(det.detect(cron_series, history, &ctx));
        });
        let cpu = cpu_time(
            if cron_only {
                0
            } else if quick {
                1
            } else {
                3
            },
            || {
                std::hint::black_box(det.detect(&series, 0, &ctx));
            },
        );
        let cron_cpu = cpu_time(if no_cron { 0 } else { cron_runs }, || {
            std::hint::black_box(det.detect(cron_series, history, &ctx));
        });
        let micros = |d: Duration| format!("{:.2} µs", d.as_secs_f64() * 1e6);
        let (rate, time, cpu_rate) = if cron_only {
            ("-".to_string(), "-".to_string(), "-".to_string())
        } else {
            (
                format!("{:.2} M", POINTS as f64 / full.as_secs_f64() / 1e6),
                format!("{:.1} ms", full.as_secs_f64() * 1e3),
                cpu.map_or("n/a".to_string(), |c| {
                    format!("{:.2} M", POINTS as f64 / c.as_secs_f64().max(1e-9) / 1e6)
                }),
            )
        };
        let (cron, cron_cpu) = if no_cron {
            ("-".to_string(), "-".to_string())
        } else {
            (micros(cron), cron_cpu.map_or("n/a".to_string(), micros))
        };
        println!("| {name} | {rate} | {time} | {cpu_rate} | {cron} | {cron_cpu} |");
        std::hint::black_box(flagged);
    }
}
