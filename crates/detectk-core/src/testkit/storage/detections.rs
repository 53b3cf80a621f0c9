//! Checks of detection writes and reads.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::StorageTarget;
use crate::model::{DataPoint, Detection, DetectionRecord, Direction};
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::samples::at;
use crate::testkit::{CheckResult, sample_detection, unique_metric};
use crate::traits::{LoadDatapoints, LoadDetections, MarkAlertSent};

fn far() -> (DateTime<Utc>, DateTime<Utc>) {
    (at(-1_000_000), at(10_000_000))
}

/// A detection with every optional field NULL (a skipped point).
fn skipped_record(metric: &str, detector_id: &str, timestamp: DateTime<Utc>) -> DetectionRecord {
    DetectionRecord {
        metric: metric.to_string(),
        detector_id: detector_id.to_string(),
        detector_type: "zscore".into(),
        detector_params: json!({}),
        detection: Detection::skipped(timestamp, None, "not enough history: 1 of 3 points"),
        alert_sent: false,
        context: Default::default(),
    }
}

/// A full detection (bounds, stats, params, context) round-trips.
pub async fn storage_detections_round_trip(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("det");
    let mut down = sample_detection(&metric, "a1b2c3d4", at(10));
    down.detection.direction = Some(Direction::Down);
    down.detection.is_anomaly = false;
    down.detection.percent_deviation = Some(-12.5);
    let records = vec![sample_detection(&metric, "a1b2c3d4", at(0)), down];
    t.storage.upsert_detections(&records).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_detections(&LoadDetections::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded, records, "detections read back");
    ensure_eq!(
        t.peer
            .load_detections(&LoadDetections::new(&metric, from, to).detector("a1b2c3d4"))
            .await?,
        records,
        "detections read back through the peer handle"
    );
    Ok(())
}

/// NULL value, score, bounds, direction and deviation, and a skip reason, round-trip.
pub async fn storage_detections_null_fields(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("detnull");
    let mut lower_only = sample_detection(&metric, "thresh01", at(10));
    lower_only.detection.upper_bound = None;
    lower_only.detection.stats = Default::default();
    lower_only.context = Default::default();
    let mut nan_score = sample_detection(&metric, "thresh01", at(20));
    nan_score.detection.score = Some(f64::NAN);
    let records = vec![
        skipped_record(&metric, "thresh01", at(0)),
        lower_only,
        nan_score,
    ];
    t.storage.upsert_detections(&records).await?;
    let (from, to) = far();
    let loaded = t
        .storage
        .load_detections(&LoadDetections::new(&metric, from, to))
        .await?;
    ensure_eq!(loaded.len(), 3, "detections stored");
    ensure_eq!(loaded[0], records[0], "skipped detection");
    ensure_eq!(loaded[1], records[1], "detection without upper bound");
    ensure!(
        loaded[2].detection.score.is_none_or(f64::is_nan),
        "a NaN score came back as {:?}",
        loaded[2].detection.score
    );
    Ok(())
}

/// Detections are sorted by timestamp then detector ID, and filtered by detector and range.
pub async fn storage_detections_sorted_and_filtered(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("detsort");
    let other = unique_metric("detsort_other");
    let records = vec![
        sample_detection(&metric, "zzzz0000", at(10)),
        sample_detection(&metric, "aaaa0000", at(10)),
        sample_detection(&metric, "zzzz0000", at(0)),
        sample_detection(&metric, "aaaa0000", at(20)),
        sample_detection(&other, "aaaa0000", at(10)),
    ];
    t.storage.upsert_detections(&records).await?;
    let (from, to) = far();
    let all = t
        .storage
        .load_detections(&LoadDetections::new(&metric, from, to))
        .await?;
    let order: Vec<_> = all
        .iter()
        .map(|r| (r.detection.timestamp, r.detector_id.as_str()))
        .collect();
    ensure_eq!(
        order,
        vec![
            (at(0), "zzzz0000"),
            (at(10), "aaaa0000"),
            (at(10), "zzzz0000"),
            (at(20), "aaaa0000")
        ],
        "order of all detections"
    );
    let one = t
        .storage
        .load_detections(&LoadDetections::new(&metric, at(10), at(20)).detector("aaaa0000"))
        .await?;
    ensure_eq!(
        one,
        vec![records[1].clone()],
        "detector aaaa0000 in [t0+10m, t0+20m)"
    );
    ensure_eq!(
        t.storage.last_detection_time(&metric, "aaaa0000").await?,
        Some(at(20)),
        "last detection time of aaaa0000"
    );
    ensure_eq!(
        t.storage.last_detection_time(&metric, "zzzz0000").await?,
        Some(at(10)),
        "last detection time of zzzz0000"
    );
    ensure_eq!(
        t.storage.last_detection_time(&metric, "none0000").await?,
        None,
        "last detection time of an unknown detector"
    );
    Ok(())
}

/// With `anomalies_only_before(t)`, every detection at or after `t` and every anomalous
/// one before it are read, in order, in range, unchanged (normal ones before `t` may be
/// left out: the option is a hint), for all detectors and for one.
pub async fn storage_detections_anomalies_only_before(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("detanom");
    let normal = |id: &str, minute: i64| {
        let mut r = sample_detection(&metric, id, at(minute));
        r.detection.is_anomaly = false;
        r
    };
    let records = vec![
        normal("aaaa0000", 0),
        sample_detection(&metric, "bbbb0000", at(0)),
        normal("bbbb0000", 10),
        sample_detection(&metric, "aaaa0000", at(10)),
        normal("aaaa0000", 20),
        normal("bbbb0000", 20),
        sample_detection(&metric, "aaaa0000", at(30)),
        normal("aaaa0000", 40),
    ];
    t.storage.upsert_detections(&records).await?;
    let key = |r: &crate::model::DetectionRecord| (r.detection.timestamp, r.detector_id.clone());
    for detector in [None, Some("aaaa0000")] {
        let mut op = LoadDetections::new(&metric, at(0), at(40)).anomalies_only_before(at(20));
        if let Some(id) = detector {
            op = op.detector(id);
        }
        let loaded = t.storage.load_detections(&op).await?;
        let in_scope = |r: &&crate::model::DetectionRecord| {
            detector.is_none_or(|id| r.detector_id == id) && r.detection.timestamp < at(40)
        };
        let required: Vec<_> = records
            .iter()
            .filter(in_scope)
            .filter(|r| r.detection.is_anomaly || r.detection.timestamp >= at(20))
            .map(key)
            .collect();
        let got: Vec<_> = loaded.iter().map(key).collect();
        for k in &required {
            ensure!(
                got.contains(k),
                "detector {detector:?}: {k:?} is missing from {got:?}"
            );
        }
        let mut sorted = got.clone();
        sorted.sort();
        ensure_eq!(got, sorted, "detector {detector:?}: order");
        for r in &loaded {
            ensure!(
                records.iter().filter(in_scope).any(|x| x == r),
                "detector {detector:?}: read a record that is not stored in range: {r:?}"
            );
        }
    }
    Ok(())
}

/// Writing detections twice keeps one copy; writing changed ones replaces them.
pub async fn storage_detection_upsert_is_idempotent(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("detupsert");
    let records: Vec<_> = (0..5)
        .map(|i| sample_detection(&metric, "mad00001", at(i * 10)))
        .collect();
    t.storage.upsert_detections(&records).await?;
    t.peer.upsert_detections(&records).await?;
    let (from, to) = far();
    ensure_eq!(
        t.storage
            .load_detections(&LoadDetections::new(&metric, from, to))
            .await?,
        records,
        "detections after writing them twice"
    );
    let mut changed = records.clone();
    changed[2].detection.is_anomaly = false;
    changed[2].detection.score = Some(0.5);
    changed[2].detection.direction = None;
    t.storage.upsert_detections(&changed[2..3]).await?;
    ensure_eq!(
        t.storage
            .load_detections(&LoadDetections::new(&metric, from, to))
            .await?,
        changed,
        "detections after replacing one"
    );
    Ok(())
}

/// `mark_alert_sent` flags exactly the named detectors at that timestamp.
pub async fn storage_mark_alert_sent(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("marksent");
    let records = vec![
        sample_detection(&metric, "det00001", at(0)),
        sample_detection(&metric, "det00002", at(0)),
        sample_detection(&metric, "det00003", at(0)),
        sample_detection(&metric, "det00001", at(10)),
    ];
    t.storage.upsert_detections(&records).await?;
    t.storage
        .mark_alert_sent(&MarkAlertSent::new(
            &metric,
            vec!["det00001".into(), "det00003".into()],
            at(0),
        ))
        .await?;
    let (from, to) = far();
    let flags: Vec<_> = t
        .storage
        .load_detections(&LoadDetections::new(&metric, from, to))
        .await?
        .iter()
        .map(|r| (r.detector_id.clone(), r.detection.timestamp, r.alert_sent))
        .collect();
    ensure_eq!(
        flags,
        vec![
            ("det00001".to_string(), at(0), true),
            ("det00002".to_string(), at(0), false),
            ("det00003".to_string(), at(0), true),
            ("det00001".to_string(), at(10), false),
        ],
        "alert_sent flags"
    );
    Ok(())
}

/// `store_scored` stores a run's detections and points together: both read back, a
/// second call with the same rows leaves one copy, detections without points (and
/// points without detections) are stored, and an empty call writes nothing.
pub async fn storage_scored_writes(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("scored");
    let points: Vec<DataPoint> = (0..3)
        .map(|i| DataPoint::new(at(i * 10), 10.0 + i as f64 * 0.25))
        .collect();
    let records: Vec<DetectionRecord> = [0, 20]
        .iter()
        .flat_map(|&s| {
            [
                sample_detection(&metric, "a1b2c3d4", at(s)),
                skipped_record(&metric, "e5f6a7b8", at(s)),
            ]
        })
        .collect();
    t.storage.store_scored(&metric, &points, &records).await?;
    t.storage.store_scored(&metric, &points, &records).await?;
    t.storage.store_scored(&metric, &[], &[]).await?;
    let (from, to) = far();
    let mut expected = records.clone();
    expected.sort_by(|a, b| {
        (a.detection.timestamp, &a.detector_id).cmp(&(b.detection.timestamp, &b.detector_id))
    });
    ensure_eq!(
        t.peer
            .load_detections(&LoadDetections::new(&metric, from, to))
            .await?,
        expected,
        "detections read back once"
    );
    ensure_eq!(
        t.peer
            .load_datapoints(&LoadDatapoints::new(&metric, from, to))
            .await?,
        points,
        "points read back once"
    );

    // One half alone.
    let later = vec![DataPoint::new(at(30), 11.0)];
    t.storage.store_scored(&metric, &later, &[]).await?;
    let only_detection = vec![sample_detection(&metric, "a1b2c3d4", at(40))];
    t.storage
        .store_scored(&metric, &[], &only_detection)
        .await?;
    ensure_eq!(
        t.peer.last_datapoint_time(&metric).await?,
        Some(at(30)),
        "points without detections"
    );
    ensure_eq!(
        t.peer
            .load_detections(&LoadDetections::new(&metric, at(40), to))
            .await?,
        only_detection,
        "detections without points"
    );

    let empty = unique_metric("scoredempty");
    t.storage.store_scored(&empty, &[], &[]).await?;
    ensure_eq!(
        t.peer.last_datapoint_time(&empty).await?,
        None,
        "an empty call stores nothing"
    );
    Ok(())
}
