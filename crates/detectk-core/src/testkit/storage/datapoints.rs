//! Checks of datapoint writes and reads.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::StorageTarget;
use crate::model::{Context, DataPoint};
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::samples::at;
use crate::testkit::{CheckResult, unique_metric};
use crate::traits::{LoadDatapoints, MarkAlertSent};

fn series(n: i64) -> Vec<DataPoint> {
    (0..n)
        .map(|i| DataPoint::new(at(i * 10), 100.0 + i as f64 * 0.5))
        .collect()
}

fn far() -> (DateTime<Utc>, DateTime<Utc>) {
    (at(-1_000_000), at(10_000_000))
}

/// `migrate` can run again, and twice at once from two handles, without error.
pub async fn storage_migrate_is_idempotent(t: &StorageTarget<'_>) -> CheckResult {
    t.storage.migrate().await?;
    let (a, b) = futures::join!(t.storage.migrate(), t.peer.migrate());
    a?;
    b?;
    Ok(())
}

/// Points written come back equal, through this handle and the peer.
pub async fn storage_datapoints_round_trip(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("roundtrip");
    let points = series(50);
    t.storage.upsert_datapoints(&metric, &points).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded, points, "points read back");
    let via_peer = t
        .peer
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(via_peer, points, "points read back through the peer handle");
    Ok(())
}

/// Ranges are half-open `[from, to)` and results are sorted even when written out of order.
pub async fn storage_datapoints_half_open_sorted(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("range");
    let mut points = series(10);
    points.reverse();
    t.storage.upsert_datapoints(&metric, &points).await?;
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, at(20), at(60)))
        .await?;
    let times: Vec<_> = loaded.iter().map(|p| p.timestamp).collect();
    ensure_eq!(
        times,
        vec![at(20), at(30), at(40), at(50)],
        "timestamps of [t0+20m, t0+60m)"
    );
    let empty = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, at(20), at(20)))
        .await?;
    ensure!(
        empty.is_empty(),
        "an empty range returned {} points",
        empty.len()
    );
    Ok(())
}

/// Missing points keep `is_missing` and no value.
pub async fn storage_missing_points(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("missing");
    let points = vec![
        DataPoint::new(at(0), 1.0),
        DataPoint::missing(at(10)),
        DataPoint::new(at(20), 3.0),
    ];
    t.storage.upsert_datapoints(&metric, &points).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded, points, "points with a missing one");
    Ok(())
}

/// Context JSON of every shape round-trips (nested objects, arrays, unicode, null).
pub async fn storage_context_json(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("context");
    let mut rich = Context::new();
    rich.insert("hour_of_day".into(), json!(13));
    rich.insert("day_of_week".into(), json!(6));
    rich.insert("ratio".into(), json!(0.25));
    rich.insert("big".into(), json!(9_007_199_254_740_993_i64));
    rich.insert("name".into(), json!("Zürich \"quoted\" \\ back\nslash — ✓"));
    rich.insert("flag".into(), json!(true));
    rich.insert("nothing".into(), json!(null));
    rich.insert("list".into(), json!([1, "two", [3.5], {"k": false}]));
    rich.insert("nested".into(), json!({"a": {"b": {"c": "deep"}}}));
    let hour = |h: i64| Context::from_iter([("hour_of_day".to_string(), json!(h))]);
    // Points repeating a context (storages may decode each distinct one once) and
    // points between them with other contexts or none.
    let points = vec![
        DataPoint::new(at(0), 1.0).with_context(rich.clone()),
        DataPoint::new(at(10), 2.0),
        DataPoint::missing(at(20)).with_context(hour(0)),
        DataPoint::new(at(30), 3.0).with_context(hour(1)),
        DataPoint::new(at(40), 4.0).with_context(hour(0)),
        DataPoint::new(at(50), 5.0).with_context(rich),
        DataPoint::new(at(60), 6.0).with_context(hour(1)),
    ];
    t.storage.upsert_datapoints(&metric, &points).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded, points, "points with context");
    Ok(())
}

/// Writing the same points twice keeps one copy; writing new values replaces them.
pub async fn storage_datapoint_upsert_is_idempotent(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("upsert");
    let points = series(20);
    t.storage.upsert_datapoints(&metric, &points).await?;
    t.peer.upsert_datapoints(&metric, &points).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded, points, "points after writing them twice");

    let mut changed = points.clone();
    changed[3] = DataPoint::missing(at(30));
    changed[4].value = Some(-1.5);
    changed[5].context.insert("late".into(), json!(true));
    t.storage.upsert_datapoints(&metric, &changed[3..6]).await?;
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded, changed, "points after replacing three of them");
    Ok(())
}

/// A batch holding the same timestamp twice stores one point for it.
pub async fn storage_duplicate_timestamps_in_one_batch(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("dupbatch");
    let points = vec![
        DataPoint::new(at(0), 1.0),
        DataPoint::new(at(10), 2.0),
        DataPoint::new(at(0), 5.0),
    ];
    t.storage.upsert_datapoints(&metric, &points).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded.len(), 2, "number of points stored");
    ensure!(
        loaded[0].timestamp == at(0) && matches!(loaded[0].value, Some(v) if v == 1.0 || v == 5.0),
        "the duplicated timestamp holds {:?}",
        loaded[0]
    );
    Ok(())
}

/// `last_datapoint_time` is `None` for an unknown metric and counts missing points.
pub async fn storage_last_datapoint_time(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("last");
    ensure_eq!(
        t.storage.last_datapoint_time(&metric).await?,
        None,
        "last time of a metric with no points"
    );
    let points = vec![DataPoint::new(at(0), 1.0), DataPoint::missing(at(30))];
    t.storage.upsert_datapoints(&metric, &points).await?;
    ensure_eq!(
        t.storage.last_datapoint_time(&metric).await?,
        Some(at(30)),
        "last time (a missing point is newest)"
    );
    Ok(())
}

/// Two metrics never see each other's points.
pub async fn storage_metrics_are_isolated(t: &StorageTarget<'_>) -> CheckResult {
    let a = unique_metric("iso_a");
    let b = unique_metric("iso_b");
    t.storage.upsert_datapoints(&a, &series(3)).await?;
    t.storage
        .upsert_datapoints(&b, &[DataPoint::new(at(100), 7.0)])
        .await?;
    let (from, to) = far();
    ensure_eq!(
        t.storage
            .load_datapoints(&LoadDatapoints::new(&a, from, to))
            .await?,
        series(3),
        "points of metric a"
    );
    ensure_eq!(
        t.storage.last_datapoint_time(&a).await?,
        Some(at(20)),
        "last time of metric a"
    );
    ensure_eq!(
        t.storage
            .load_datapoints(&LoadDatapoints::new(&b, from, to))
            .await?
            .len(),
        1,
        "points of metric b"
    );
    Ok(())
}

/// Instants far apart (leap day, DST change dates, 1990, 2040) come back as the same UTC instant.
pub async fn storage_utc_round_trip(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("utc");
    let instants = [
        Utc.with_ymd_and_hms(1990, 6, 15, 12, 0, 0),
        Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59),
        Utc.with_ymd_and_hms(2024, 3, 10, 2, 30, 0),
        Utc.with_ymd_and_hms(2024, 3, 31, 1, 30, 0),
        Utc.with_ymd_and_hms(2024, 10, 27, 0, 59, 59),
        Utc.with_ymd_and_hms(2024, 12, 31, 23, 0, 0),
        Utc.with_ymd_and_hms(2040, 1, 1, 0, 0, 0),
    ];
    let points: Vec<DataPoint> = instants
        .iter()
        .enumerate()
        .map(|(i, t)| DataPoint::new(t.single().expect("valid date"), i as f64))
        .collect();
    t.storage.upsert_datapoints(&metric, &points).await?;
    let from = Utc.with_ymd_and_hms(1980, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2050, 1, 1, 0, 0, 0).unwrap();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded, points, "points at far-apart instants");
    ensure_eq!(
        t.storage.last_datapoint_time(&metric).await?,
        Some(points[6].timestamp),
        "last time"
    );
    let one = t
        .storage
        .load_datapoints(&LoadDatapoints::new(
            &metric,
            points[2].timestamp,
            points[2].timestamp + chrono::Duration::seconds(1),
        ))
        .await?;
    ensure_eq!(one, points[2..3].to_vec(), "a one-second range");
    Ok(())
}

/// A NULL value on a present point, NaN and infinities are stored without error and
/// come back with no finite value and the same `is_missing` flag.
pub async fn storage_null_and_nan_values(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("nan");
    let mut null_present = DataPoint::new(at(0), 0.0);
    null_present.value = None;
    let points = vec![
        null_present,
        DataPoint::new(at(10), f64::NAN),
        DataPoint::new(at(20), f64::INFINITY),
        DataPoint::new(at(30), f64::NEG_INFINITY),
        DataPoint::new(at(40), -0.0),
        DataPoint::new(at(50), f64::MAX),
        DataPoint::new(at(60), f64::MIN_POSITIVE),
    ];
    t.storage.upsert_datapoints(&metric, &points).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded.len(), points.len(), "number of points");
    for (got, sent) in loaded.iter().zip(&points).take(4) {
        ensure!(
            got.present_value().is_none() && !got.is_missing,
            "a non-finite value at {} came back as {got:?}",
            sent.timestamp
        );
    }
    for (got, sent) in loaded.iter().zip(&points).skip(4) {
        ensure_eq!(got, sent, "extreme finite value");
    }
    Ok(())
}

/// Empty writes succeed and change nothing.
pub async fn storage_empty_writes(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("empty");
    t.storage.upsert_datapoints(&metric, &[]).await?;
    t.storage.upsert_detections(&[]).await?;
    t.storage
        .mark_alert_sent(&MarkAlertSent::new(&metric, vec![], at(0)))
        .await?;
    ensure_eq!(
        t.storage.last_datapoint_time(&metric).await?,
        None,
        "last time after an empty write"
    );
    Ok(())
}

/// A batch larger than any statement's bind limit is stored whole, and re-storing it
/// leaves the same rows.
pub async fn storage_large_batch(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("large");
    let n = t.large_batch_rows;
    let points: Vec<DataPoint> = (0..n as i64)
        .map(|i| {
            let p = DataPoint::new(at(i), (i % 1000) as f64 + 0.125);
            if i % 97 == 0 {
                DataPoint::missing(at(i))
            } else if i % 10 == 0 {
                p.with_context(Context::from_iter([("k".to_string(), json!(i))]))
            } else {
                p
            }
        })
        .collect();
    t.storage.upsert_datapoints(&metric, &points).await?;
    t.storage.upsert_datapoints(&metric, &points).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded.len(), n, "rows stored");
    if let Some(i) = (0..n).find(|&i| loaded[i] != points[i]) {
        ensure_eq!(loaded[i], points[i], "row {i}");
    }
    ensure_eq!(
        t.storage.last_datapoint_time(&metric).await?,
        Some(at(n as i64 - 1)),
        "last time"
    );
    Ok(())
}

/// Overlapping batches written at the same time through both handles all succeed and
/// leave exactly one row per timestamp.
pub async fn storage_concurrent_upserts(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("concurrent");
    let batches: Vec<Vec<DataPoint>> = (0..6)
        .map(|b| {
            (0..2_000)
                .map(|i| DataPoint::new(at(b * 500 + i), (b * 10_000 + i) as f64))
                .collect()
        })
        .collect();
    let writes = batches.iter().enumerate().map(|(b, points)| {
        let s = if b % 2 == 0 { t.storage } else { t.peer };
        s.upsert_datapoints(&metric, points)
    });
    for result in futures::future::join_all(writes).await {
        result?;
    }
    let (from, to) = far();
    let loaded = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded.len(), 5 * 500 + 2_000, "distinct timestamps stored");
    ensure!(
        loaded.windows(2).all(|w| w[0].timestamp < w[1].timestamp),
        "points are not strictly ascending"
    );
    Ok(())
}
