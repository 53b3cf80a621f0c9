//! The batch reads a fleet needs (`last_datapoint_times`, `last_detection_times`,
//! `load_alerts`) on every SQL storage of this build, against the real servers
//! (SQLite in a temporary file; PostgreSQL on 127.0.0.1:5432, MariaDB on 127.0.0.1:3306).

mod common;

use std::collections::HashMap;

use chrono::Duration;
use detectk_collectors_sql::SqlFactory;
use detectk_core::Storage;
use detectk_core::model::DataPoint;
use detectk_core::testkit::{sample_detection, t0, unique_metric};
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertOutcome, AlertStatus, FinishAlert, LoadAlerts,
};
use serde_json::json;

/// The newest point of each metric, missing points included; metrics without points
/// are absent; the batch agrees with the one-metric read.
async fn check_last_datapoint_times(storage: &dyn Storage) {
    let t = t0();
    let (a, b, none) = (
        unique_metric("batch_a"),
        unique_metric("batch_b"),
        unique_metric("batch_none"),
    );
    let a_points = vec![
        DataPoint::new(t, 1.0),
        DataPoint::new(t + Duration::minutes(10), 2.0),
        DataPoint::missing(t + Duration::minutes(20)),
    ];
    storage.upsert_datapoints(&a, &a_points).await.unwrap();
    let b_points = vec![DataPoint::new(t + Duration::minutes(5), 3.0)];
    storage.upsert_datapoints(&b, &b_points).await.unwrap();

    let metrics = vec![a.clone(), b.clone(), none.clone()];
    let last = storage.last_datapoint_times(&metrics).await.unwrap();
    let expected = HashMap::from([
        (a.clone(), t + Duration::minutes(20)),
        (b.clone(), t + Duration::minutes(5)),
    ]);
    assert_eq!(last, expected);
    for metric in &metrics {
        let one = storage.last_datapoint_time(metric).await.unwrap();
        assert_eq!(one, last.get(metric).copied(), "{metric}");
    }
    assert!(storage.last_datapoint_times(&[]).await.unwrap().is_empty());
}

/// The newest detection of every detector of one metric, and of no other metric.
async fn check_last_detection_times(storage: &dyn Storage) {
    let t = t0();
    let (metric, other) = (unique_metric("batch_det"), unique_metric("batch_other"));
    let records = vec![
        sample_detection(&metric, "d1", t),
        sample_detection(&metric, "d1", t + Duration::minutes(10)),
        sample_detection(&metric, "d2", t + Duration::minutes(5)),
        sample_detection(&other, "d3", t + Duration::hours(1)),
    ];
    storage.upsert_detections(&records).await.unwrap();
    let last = storage.last_detection_times(&metric).await.unwrap();
    let expected = HashMap::from([
        ("d1".to_string(), t + Duration::minutes(10)),
        ("d2".to_string(), t + Duration::minutes(5)),
    ]);
    assert_eq!(last, expected);
    let none = unique_metric("batch_no_detections");
    assert!(
        storage
            .last_detection_times(&none)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Alert rows of `[from, to)`, any status, by time then key, with their detector IDs.
async fn check_load_alerts(storage: &dyn Storage) {
    let t = t0();
    let metric = unique_metric("batch_alerts");
    let claim = |key: &str, at| {
        AlertClaim::new(
            &metric,
            key,
            AlertKind::Anomaly,
            at,
            format!("token-{key}"),
            t,
            t - Duration::hours(1),
        )
        .detectors(vec!["d1".into(), format!("d-{key}")])
    };
    for (key, at) in [
        ("b", t),
        ("a", t),
        ("c", t + Duration::minutes(30)),
        ("before", t - Duration::minutes(1)),
        ("after", t + Duration::hours(1)),
    ] {
        assert!(storage.claim_alert(&claim(key, at)).await.unwrap(), "{key}");
    }
    let sent = AlertOutcome::new(AlertStatus::Sent, t + Duration::minutes(1), "sent");
    let finish = FinishAlert::new(&metric, "b", "token-b", sent);
    storage.finish_alert(&finish).await.unwrap();

    let op = LoadAlerts::new(&metric, t, t + Duration::hours(1));
    let alerts = storage.load_alerts(&op).await.unwrap();
    let got: Vec<(&str, AlertStatus)> = alerts.iter().map(|a| (a.key.as_str(), a.status)).collect();
    assert_eq!(
        got,
        [
            ("a", AlertStatus::Pending),
            ("b", AlertStatus::Sent),
            ("c", AlertStatus::Pending),
        ]
    );
    assert_eq!(alerts[1].sent_at, Some(t + Duration::minutes(1)));
    assert_eq!(alerts[0].sent_at, None);
    assert_eq!(alerts[2].timestamp, t + Duration::minutes(30));
    assert_eq!(alerts[2].detector_ids, ["d1", "d-c"]);
    assert!(alerts.iter().all(|a| a.metric == metric));
    let empty = LoadAlerts::new(&metric, t + Duration::hours(2), t + Duration::hours(3));
    assert!(storage.load_alerts(&empty).await.unwrap().is_empty());
}

/// Every batch read on a migrated storage of `type_name` built from `params`.
async fn check_batch_reads(type_name: &str, params: serde_json::Value) {
    let storage = common::storage(&SqlFactory::new(), type_name, &common::params(params)).await;
    check_last_datapoint_times(storage.as_ref()).await;
    check_last_detection_times(storage.as_ref()).await;
    check_load_alerts(storage.as_ref()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reads_on_sqlite() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("dtk.db");
    check_batch_reads("sqlite", json!({"path": path.to_str().unwrap()})).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reads_on_postgres() {
    let params = json!({"host": "127.0.0.1", "port": 5432, "user": "postgres",
        "database": "test", "schema": "dtk_sql_tests"});
    check_batch_reads("postgres", params).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reads_on_mysql() {
    use sqlx::Connection;
    let mut admin = sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306/test")
        .await
        .expect("MariaDB on 127.0.0.1:3306 (run scripts/services/mariadb.sh)");
    sqlx::raw_sql("CREATE DATABASE IF NOT EXISTS dtk_sql_tests")
        .execute(&mut admin)
        .await
        .unwrap();
    let params = json!({"host": "127.0.0.1", "port": 3306, "user": "root",
        "database": "dtk_sql_tests"});
    check_batch_reads("mysql", params).await;
}
