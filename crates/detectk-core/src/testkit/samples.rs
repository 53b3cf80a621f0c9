//! Sample data and unique names shared by the checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::model::{Context, Detection, DetectionRecord, Direction};

/// A metric name no other check, run or process uses: `tk_{label}_{pid}_{nanos}_{n}`.
///
/// Metric names follow the config rule `[A-Za-z0-9_-]+`.
pub fn unique_metric(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("tk_{label}_{}_{nanos}_{n}", std::process::id())
}

/// A fixed, whole-second UTC instant the checks build time series from: 2024-01-01 00:00:00.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid constant date")
}

/// `t0() + minutes`.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(minutes)
}

/// A fully populated detection record of `metric` by `detector_id` at `timestamp`.
pub fn sample_detection(
    metric: &str,
    detector_id: &str,
    timestamp: DateTime<Utc>,
) -> DetectionRecord {
    let mut stats = serde_json::Map::new();
    stats.insert("median".into(), json!(100.5));
    stats.insert("mad".into(), json!(2.25));
    stats.insert("n".into(), json!(4320));
    let mut context = Context::new();
    context.insert("hour_of_day".into(), json!(13));
    context.insert("segment".into(), json!("web"));
    DetectionRecord {
        metric: metric.to_string(),
        detector_id: detector_id.to_string(),
        detector_type: "mad".into(),
        detector_params: json!({"n_sigma": 3.0, "window_size": "30 days", "seasonal_features": ["hour_of_day"]}),
        detection: Detection {
            timestamp,
            value: Some(140.25),
            is_anomaly: true,
            score: Some(7.5),
            lower_bound: Some(90.0),
            upper_bound: Some(111.0),
            direction: Some(Direction::Up),
            percent_deviation: Some(39.55),
            skipped: None,
            stats,
        },
        alert_sent: false,
        context,
    }
}
