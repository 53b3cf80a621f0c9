//! Checks of the batch reads: newest times of many metrics or detectors, alert ranges.

use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::StorageTarget;
use crate::model::DataPoint;
use crate::testkit::report::ensure_eq;
use crate::testkit::samples::at;
use crate::testkit::{CheckResult, sample_detection, unique_metric};
use crate::traits::{AlertClaim, AlertKind, AlertOutcome, AlertStatus, FinishAlert, LoadAlerts};

/// `last_datapoint_times` gives each metric's newest point (missing ones included),
/// leaves out metrics without points, and answers an empty list with an empty map.
pub async fn storage_last_datapoint_times(t: &StorageTarget<'_>) -> CheckResult {
    let a = unique_metric("times_a");
    let b = unique_metric("times_b");
    let none = unique_metric("times_none");
    let points: Vec<_> = (0..5).map(|i| DataPoint::new(at(i * 10), 1.0)).collect();
    t.storage.upsert_datapoints(&a, &points).await?;
    t.storage
        .upsert_datapoints(
            &b,
            &[DataPoint::new(at(0), 1.0), DataPoint::missing(at(70))],
        )
        .await?;
    let metrics = vec![a.clone(), b.clone(), none.clone()];
    let expected = HashMap::from([(a.clone(), at(40)), (b.clone(), at(70))]);
    ensure_eq!(
        t.storage.last_datapoint_times(&metrics).await?,
        expected,
        "newest point times of two metrics and one without points"
    );
    ensure_eq!(
        t.peer.last_datapoint_times(&metrics).await?,
        expected,
        "newest point times through the peer handle"
    );
    for metric in [&a, &b] {
        ensure_eq!(
            t.storage.last_datapoint_time(metric).await?,
            expected.get(metric.as_str()).copied(),
            "last_datapoint_time of {metric} agrees with the batch read"
        );
    }
    ensure_eq!(
        t.storage.last_datapoint_times(&[]).await?,
        HashMap::new(),
        "newest point times of no metrics"
    );
    Ok(())
}

/// `last_detection_times` gives the newest detection of every detector of one metric,
/// and nothing of other metrics.
pub async fn storage_last_detection_times(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("dettimes");
    let other = unique_metric("dettimes_other");
    ensure_eq!(
        t.storage.last_detection_times(&metric).await?,
        HashMap::new(),
        "newest detection times of a metric without detections"
    );
    let records = vec![
        sample_detection(&metric, "aaaa0001", at(0)),
        sample_detection(&metric, "aaaa0001", at(30)),
        sample_detection(&metric, "bbbb0002", at(10)),
        sample_detection(&other, "cccc0003", at(90)),
        sample_detection(&other, "aaaa0001", at(90)),
    ];
    t.storage.upsert_detections(&records).await?;
    let expected = HashMap::from([
        ("aaaa0001".to_string(), at(30)),
        ("bbbb0002".to_string(), at(10)),
    ]);
    ensure_eq!(
        t.peer.last_detection_times(&metric).await?,
        expected,
        "newest detection time of each detector"
    );
    for (id, time) in &expected {
        ensure_eq!(
            t.storage.last_detection_time(&metric, id).await?,
            Some(*time),
            "last_detection_time of {id} agrees with the batch read"
        );
    }
    Ok(())
}

/// `last_detection_times_of` gives the newest detection of each asked `(metric,
/// detector)` pair across metrics, leaves out pairs without detections, agrees with
/// `last_detection_times`, and answers an empty list with an empty map.
pub async fn storage_last_detection_times_of(t: &StorageTarget<'_>) -> CheckResult {
    let a = unique_metric("detof_a");
    let b = unique_metric("detof_b");
    let none = unique_metric("detof_none");
    let records = vec![
        sample_detection(&a, "aaaa0001", at(0)),
        sample_detection(&a, "aaaa0001", at(30)),
        sample_detection(&a, "bbbb0002", at(10)),
        sample_detection(&b, "aaaa0001", at(90)),
        sample_detection(&b, "cccc0003", at(50)),
    ];
    t.storage.upsert_detections(&records).await?;
    let pair = |m: &str, d: &str| (m.to_string(), d.to_string());
    let asked = vec![
        pair(&a, "aaaa0001"),
        pair(&a, "bbbb0002"),
        pair(&a, "cccc0003"),
        pair(&b, "aaaa0001"),
        pair(&none, "aaaa0001"),
    ];
    let expected = HashMap::from([
        (pair(&a, "aaaa0001"), at(30)),
        (pair(&a, "bbbb0002"), at(10)),
        (pair(&b, "aaaa0001"), at(90)),
    ]);
    ensure_eq!(
        t.storage.last_detection_times_of(&asked).await?,
        expected,
        "newest detection time of each asked pair, across metrics"
    );
    ensure_eq!(
        t.peer.last_detection_times_of(&asked).await?,
        expected,
        "newest detection times through the peer handle"
    );
    let one = t.storage.last_detection_times(&a).await?;
    for ((metric, id), time) in &expected {
        if *metric == a {
            ensure_eq!(
                one.get(id).copied(),
                Some(*time),
                "last_detection_times of {metric} agrees on {id}"
            );
        }
    }
    ensure_eq!(
        t.storage.last_detection_times_of(&[]).await?,
        HashMap::new(),
        "newest detection times of no pairs"
    );
    Ok(())
}

/// `load_alerts` returns the rows of `[from, to)` of one metric, any status, sorted by
/// timestamp then key.
pub async fn storage_load_alerts(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("loadalerts");
    let other = unique_metric("loadalerts_other");
    let now = Utc::now().trunc_subsecs(0);
    // (key, kind, minute, how it ended)
    let plan = [
        ("anomaly:b", AlertKind::Anomaly, 10, Some(AlertStatus::Sent)),
        (
            "anomaly:a",
            AlertKind::Anomaly,
            10,
            Some(AlertStatus::Failed),
        ),
        (
            "recovery:c",
            AlertKind::Recovery,
            20,
            Some(AlertStatus::Sent),
        ),
        ("anomaly:d", AlertKind::Anomaly, 0, None),
        ("anomaly:e", AlertKind::Anomaly, 30, Some(AlertStatus::Sent)),
    ];
    let mut sent_at: HashMap<&str, DateTime<Utc>> = HashMap::new();
    for (key, kind, minute, status) in plan {
        let claim = AlertClaim::new(
            &metric,
            key,
            kind,
            at(minute),
            "tok",
            now,
            now - Duration::minutes(10),
        )
        .detectors(vec![format!("det-{key}")]);
        ensure_eq!(t.storage.claim_alert(&claim).await?, true, "claim of {key}");
        if let Some(status) = status {
            let outcome = AlertOutcome::new(status, now, format!("alert {key}"));
            if status == AlertStatus::Sent {
                sent_at.insert(key, now);
            }
            t.storage
                .finish_alert(&FinishAlert::new(&metric, key, "tok", outcome))
                .await?;
        }
    }
    let other_claim = AlertClaim::new(
        &other,
        "anomaly:x",
        AlertKind::Anomaly,
        at(10),
        "tok",
        now,
        now,
    );
    t.storage.claim_alert(&other_claim).await?;

    let loaded = t
        .peer
        .load_alerts(&LoadAlerts::new(&metric, at(0), at(30)))
        .await?;
    let summary: Vec<_> = loaded
        .iter()
        .map(|r| {
            (
                r.metric.clone(),
                r.key.clone(),
                r.kind,
                r.timestamp,
                r.status,
                r.sent_at,
                r.detector_ids.clone(),
            )
        })
        .collect();
    let row = |key: &str, kind, minute, status| {
        (
            metric.clone(),
            key.to_string(),
            kind,
            at(minute),
            status,
            sent_at.get(key).copied(),
            vec![format!("det-{key}")],
        )
    };
    ensure_eq!(
        summary,
        vec![
            row("anomaly:d", AlertKind::Anomaly, 0, AlertStatus::Pending),
            row("anomaly:a", AlertKind::Anomaly, 10, AlertStatus::Failed),
            row("anomaly:b", AlertKind::Anomaly, 10, AlertStatus::Sent),
            row("recovery:c", AlertKind::Recovery, 20, AlertStatus::Sent),
        ],
        "alert rows of [t0, t0+30m), sorted by time then key"
    );
    ensure_eq!(
        t.storage
            .load_alerts(&LoadAlerts::new(&metric, at(40), at(50)))
            .await?,
        vec![],
        "alert rows of an empty range"
    );
    Ok(())
}
