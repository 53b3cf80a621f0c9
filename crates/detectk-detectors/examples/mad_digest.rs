//! Prints a digest of every `mad` detection (bounds, score and verdict, bit for bit)
//! for many settings over the NAB corpus and synthetic series, so that a change to the
//! order statistics can be checked to leave every result unchanged: run it before and
//! after the change and compare the output.
//!
//! Run: `cargo run --release -p detectk-detectors --example mad_digest -- NAB_DIR`
//!
//! With `--cron` after the directory it also scores sampled points the way a cron run
//! does (the point, or the last five points, after the window's history alone) and
//! prints how many of them differ from the backfill's detections (0 expected).
//! With `--iqr` it digests the `iqr` detector (multiplier 1.5) instead, for the same
//! settings.

#[allow(dead_code)]
#[path = "nab/corpus.rs"]
mod corpus;

use std::path::PathBuf;

use chrono::{TimeDelta, TimeZone, Utc};
use detectk_core::{DataPoint, Detection, DetectionContext, Detector, HumanDuration, Window};
use detectk_detectors::{HistoryOptions, IqrDetector, MadDetector, Seasonality};

/// FNV-1a over the bits of what a detection reports.
fn digest(out: &[Detection], h: &mut u64) {
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            *h = (*h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for d in out {
        eat(d.lower_bound.map_or(1, f64::to_bits));
        eat(d.upper_bound.map_or(2, f64::to_bits));
        eat(d.score.map_or(3, f64::to_bits));
        eat(u64::from(d.is_anomaly));
        eat(d.skipped.as_ref().map_or(4, |s| s.len() as u64));
    }
}

/// Synthetic 10-minute series: continuous, integer-valued (ties) and level shifts.
fn synthetic() -> Vec<Vec<DataPoint>> {
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::new();
    for kind in 0..3 {
        let series = (0..20_000)
            .map(|i| {
                let ts = t0 + TimeDelta::minutes(10 * i as i64);
                if uniform() < 0.01 {
                    return DataPoint::missing(ts);
                }
                let day = (i as f64 / 144.0) * std::f64::consts::TAU;
                let noise = uniform() - 0.5;
                let v = match kind {
                    0 => 500.0 + 200.0 * day.sin() + 30.0 * noise,
                    1 => (50.0 + 20.0 * day.sin() + 6.0 * noise).round(),
                    _ => (if (i / 3000) % 2 == 0 { 0.0 } else { 1e4 }) + 100.0 * noise,
                };
                DataPoint::new(ts, v)
            })
            .collect();
        out.push(series);
    }
    out
}

/// Scores sampled points of `series` as cron runs do (the window's history, then the
/// last one or five points) and counts those checked and those whose detection differs
/// from the backfill's `full`.
fn cron_runs(
    det: &dyn Detector,
    series: &[DataPoint],
    full: &[Detection],
    window: &Window,
    ctx: &DetectionContext,
) -> (usize, usize) {
    let (mut checked, mut differ) = (0, 0);
    for p in (5..series.len()).step_by(89) {
        let start = match window {
            Window::Points(n) => p.saturating_sub(*n + 4),
            Window::Span(d) => {
                let from = series[p - 4].timestamp - d.delta();
                series.partition_point(|x| x.timestamp < from)
            }
        };
        for tail in [1, 5] {
            let first = p + 1 - tail;
            let out = det.detect(&series[start..=p], first - start, ctx);
            checked += out.len();
            differ += out
                .iter()
                .zip(&full[first..=p])
                .filter(|(a, b)| a != b)
                .count();
        }
    }
    (checked, differ)
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .expect("usage: mad_digest NAB_DIR [--cron]");
    let cron = std::env::args().any(|a| a == "--cron");
    let iqr = std::env::args().any(|a| a == "--iqr");
    let mut all: Vec<Vec<DataPoint>> = corpus::load(&dir)
        .expect("NAB corpus")
        .into_iter()
        .map(|s| s.points)
        .collect();
    all.extend(synthetic());
    let ctx = DetectionContext {
        execution_time: Utc::now(),
        interval: TimeDelta::minutes(10),
    };
    let days = |d: i64| Window::Span(HumanDuration::from_seconds(d * 86_400));
    let seasons = [
        ("none", Seasonality::none()),
        ("hour", Seasonality::all_of(["hour_of_day"])),
        ("any", Seasonality::any_of(["hour_of_day", "day_of_week"])),
        ("all", Seasonality::all_of(["hour_of_day", "day_of_week"])),
    ];
    for decay in [Some(0.1), Some(0.3), Some(0.03), Some(1.0), None] {
        for (season, seasonality) in &seasons {
            for window in [days(30), days(7), Window::Points(200)] {
                if season == &"any" && !matches!(window, Window::Points(_)) && decay != Some(0.1) {
                    continue; // slow before the change; one span setting is enough
                }
                let history = HistoryOptions {
                    window: window.clone(),
                    decay,
                    seasonality: seasonality.clone(),
                    ..HistoryOptions::default()
                };
                let det: Box<dyn Detector> = if iqr {
                    Box::new(IqrDetector::new(history, 1.5))
                } else {
                    Box::new(MadDetector::new(history, 3.0))
                };
                let mut h = 0xcbf2_9ce4_8422_2325u64;
                let (mut checked, mut differ) = (0, 0);
                for series in &all {
                    let full = det.detect(series, 0, &ctx);
                    digest(&full, &mut h);
                    if cron {
                        let (c, d) = cron_runs(det.as_ref(), series, &full, &window, &ctx);
                        checked += c;
                        differ += d;
                    }
                }
                let name = if iqr { "iqr, " } else { "" };
                println!("{name}decay {decay:?}, season {season}, window {window:?}: {h:016x}");
                if cron {
                    println!("  cron runs: {checked} points checked, {differ} differ");
                }
            }
        }
    }
}
