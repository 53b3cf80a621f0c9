//! The storage against ClickHouse 18.16: the table contract, migrations, claims
//! under real concurrency (alert state in a `state:` storage), and faults. The conformance suite covers the rest.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use detectk_collectors_clickhouse::{ClickHouseStorage, latest_schema_version};
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLedger, AlertOutcome, AlertStatus, CheckpointStore, DetectionStore,
    FinishAlert, LoadDatapoints, LoadDetections, SeriesStore,
};
use detectk_core::{
    BackendErrorKind, DataPoint, Detection, DetectionRecord, SplitStorage, Storage,
};
use serde_json::json;
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

async fn migrated(db: &str) -> ClickHouseStorage {
    let s = common::factory().storage(&common::config(db));
    s.migrate().await.expect("migrate");
    s
}

async fn rows_of(db: &str, sql: &str) -> Vec<String> {
    let client = clickhouse::Client::default()
        .with_url(common::config(db).url())
        .with_database(db)
        .with_validation(false);
    client
        .query(sql)
        .fetch_all::<String>()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn tables_follow_the_column_contract() {
    let db = common::TempDb::new("schema");
    let s = migrated(&db).await;
    let columns = |table: &'static str| {
        let db = db.to_string();
        async move {
            rows_of(
                &db,
                &format!(
                    "SELECT name FROM system.columns WHERE database = '{db}' AND table = '{table}'"
                ),
            )
            .await
        }
    };
    assert_eq!(
        columns("dtk_datapoints").await,
        [
            "metric_name",
            "collected_at",
            "value",
            "is_missing",
            "context",
            "loaded_at",
            "version"
        ]
    );
    let detections = columns("dtk_detections").await;
    for name in [
        "metric_name",
        "detector_id",
        "detected_at",
        "value",
        "is_anomaly",
        "score",
        "lower_bound",
        "upper_bound",
        "direction",
        "percent_deviation",
        "detector_type",
        "detector_params",
        "alert_sent",
        "context",
    ] {
        assert!(
            detections.iter().any(|c| c == name),
            "dtk_detections lacks {name}"
        );
    }
    let engines = rows_of(
        &db,
        &format!(
            "SELECT concat(name, ' ', engine_full, ' | ', sorting_key) FROM system.tables \
             WHERE database = '{db}' AND name LIKE 'dtk_%' ORDER BY name"
        ),
    )
    .await;
    assert_eq!(
        engines,
        [
            "dtk_alerts ReplacingMergeTree(version) ORDER BY (metric_name, alert_key, token) SETTINGS index_granularity = 8192 | metric_name, alert_key, token",
            "dtk_checkpoints ReplacingMergeTree(version) ORDER BY (metric_name, job) SETTINGS index_granularity = 8192 | metric_name, job",
            "dtk_datapoints ReplacingMergeTree(version) ORDER BY (metric_name, collected_at) SETTINGS index_granularity = 8192 | metric_name, collected_at",
            "dtk_detections ReplacingMergeTree(version) ORDER BY (metric_name, detector_id, detected_at) SETTINGS index_granularity = 8192 | metric_name, detector_id, detected_at",
            "dtk_schema_version ReplacingMergeTree ORDER BY version SETTINGS index_granularity = 8192 | version",
        ]
    );
    assert_eq!(s.schema_version().await.unwrap(), latest_schema_version());
}

#[tokio::test]
async fn migrate_is_concurrent_safe_and_refuses_a_newer_schema() {
    let db = common::TempDb::new("migrate");
    let storages: Vec<ClickHouseStorage> = (0..4)
        .map(|_| common::factory().storage(&common::config(&db)))
        .collect();
    let results = futures::future::join_all(storages.iter().map(|s| s.migrate())).await;
    for r in results {
        r.expect("concurrent migrate");
    }
    storages[0].migrate().await.expect("second migrate");
    assert_eq!(
        storages[1].schema_version().await.unwrap(),
        latest_schema_version()
    );

    common::exec(
        &db,
        "INSERT INTO dtk_schema_version (version, description) VALUES (999, 'from the future')",
    )
    .await;
    let err = storages[2].migrate().await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Schema);
    assert!(err.message.contains("schema version 999"), "{err}");
    assert!(err.message.contains("upgrade DetectK"), "{err}");
}

#[tokio::test]
async fn reloads_replace_rows_for_users_querying_with_final() {
    let db = common::TempDb::new("final");
    let s = migrated(&db).await;
    let points: Vec<DataPoint> = (0..3)
        .map(|i| DataPoint::new(t0() + Duration::minutes(10 * i), i as f64))
        .collect();
    s.upsert_datapoints("m", &points).await.unwrap();
    let mut changed = points[1].clone();
    changed.value = Some(42.0);
    s.upsert_datapoints("m", &[changed]).await.unwrap();
    let values = rows_of(
        &db,
        "SELECT ifNull(toString(value), 'NULL') FROM dtk_datapoints FINAL WHERE metric_name = 'm' ORDER BY collected_at",
    )
    .await;
    assert_eq!(values, ["0", "42", "2"]);
}

#[tokio::test]
async fn detection_context_column_holds_stats_and_skipped() {
    let db = common::TempDb::new("detctx");
    let s = migrated(&db).await;
    let mut detection = Detection::skipped(t0(), Some(3.0), "not enough history: 1 of 3 points");
    detection.stats.insert("n".into(), json!(1));
    let record = DetectionRecord {
        metric: "m".into(),
        detector_id: "abcd0123".into(),
        detector_type: "mad".into(),
        detector_params: json!({"window_size": "30 days"}),
        detection,
        alert_sent: false,
        context: detectk_core::Context::from_iter([("hour_of_day".to_string(), json!(0))]),
    };
    s.upsert_detections(std::slice::from_ref(&record))
        .await
        .unwrap();
    let stored = rows_of(&db, "SELECT context FROM dtk_detections FINAL").await;
    let stored: serde_json::Value = serde_json::from_str(&stored[0]).unwrap();
    assert_eq!(
        stored,
        json!({"hour_of_day": 0, "stats": {"n": 1}, "skipped": "not enough history: 1 of 3 points"})
    );
    let params = rows_of(&db, "SELECT detector_params FROM dtk_detections FINAL").await;
    assert_eq!(params, [r#"{"window_size":"30 days"}"#]);
    let loaded = s
        .load_detections(&LoadDetections::new("m", t0(), t0() + Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!(loaded, [record]);
}

#[tokio::test]
async fn sub_second_and_pre_1970_timestamps_are_refused_with_a_reason() {
    let db = common::TempDb::new("subsec");
    let s = migrated(&db).await;
    for bad in [
        t0() + Duration::milliseconds(250),
        Utc.with_ymd_and_hms(1969, 12, 31, 0, 0, 0).unwrap(),
    ] {
        let err = s
            .upsert_datapoints("m", &[DataPoint::new(t0(), 1.0), DataPoint::new(bad, 2.0)])
            .await
            .unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Unsupported);
        assert!(err.message.contains("metric `m`"), "{err}");
        assert!(err.message.contains("whole seconds from 1970"), "{err}");
    }
    assert_eq!(
        s.last_datapoint_time("m").await.unwrap(),
        None,
        "nothing was written"
    );
}

fn claim(key: &str, token: String) -> AlertClaim {
    let now = Utc::now();
    AlertClaim::new(
        "m",
        key,
        AlertKind::Anomaly,
        t0(),
        token,
        now,
        now - Duration::minutes(10),
    )
    .detectors(vec!["abcd0123".into()])
}

/// Races `n` claims of `key` from spawned tasks over several independent storages.
async fn race(storages: &[Arc<SplitStorage>], key: &str, round: &str, n: usize) -> Vec<String> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = storages[i % storages.len()].clone();
            let c = claim(key, format!("{round}-{i}-{}", rand::random::<u64>()));
            tokio::spawn(async move { (s.claim_alert(&c).await.expect("claim"), c.token) })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (won, token) = t.await.unwrap();
        if won {
            winners.push(token);
        }
    }
    winners
}

#[tokio::test]
async fn clickhouse_alone_refuses_alert_state_instead_of_guessing() {
    let db = common::TempDb::new("noclaims");
    let s = migrated(&db).await;
    assert!(!s.keeps_alert_state());
    let err = s
        .claim_alert(&claim("anomaly:k", "t".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Unsupported);
    assert!(err.message.contains("`state:`"), "{err}");
    let lease = detectk_core::traits::AlertLease::new(
        "m",
        "t",
        Utc::now(),
        Utc::now() + Duration::seconds(30),
    );
    let err = s.acquire_alert_lease(&lease).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Unsupported);
}

/// ClickHouse datapoints with alert state in a `state:` storage: claims from four
/// independent handles (four "processes") have exactly one winner per round, without
/// any dependence on timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_concurrent_claimers_wins() {
    let db = common::TempDb::new("claims");
    migrated(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.db");
    let mut storages = Vec::new();
    for _ in 0..4 {
        let data = common::factory().storage(&common::config(&db));
        let state = common::sqlite_state(&state_file).await;
        storages.push(Arc::new(common::split(data, state)));
    }
    let outcome = |status| AlertOutcome::new(status, Utc::now(), "m is anomalous");
    for round in 0..3 {
        let winners = race(&storages, "anomaly:k", &format!("r{round}"), 24).await;
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        storages[round % 4]
            .finish_alert(&FinishAlert::new(
                "m",
                "anomaly:k",
                &winners[0],
                outcome(AlertStatus::Failed),
            ))
            .await
            .unwrap();
    }
    let winners = race(&storages, "anomaly:k", "final", 24).await;
    assert_eq!(winners.len(), 1);
    storages[1]
        .finish_alert(&FinishAlert::new(
            "m",
            "anomaly:k",
            &winners[0],
            outcome(AlertStatus::Sent),
        ))
        .await
        .unwrap();
    assert!(race(&storages, "anomaly:k", "after", 8).await.is_empty());
    let last = storages[3]
        .last_sent_alert("m", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (last.key.as_str(), last.status),
        ("anomaly:k", AlertStatus::Sent)
    );
}

#[tokio::test]
async fn storage_on_a_stopped_server_fails_with_a_transient_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut config = common::config("anything");
    config.port = port;
    let s = common::factory().storage(&config);
    let err = s.migrate().await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert!(err.transient);
    assert_eq!(err.server, format!("127.0.0.1:{port}"));
    let err = s
        .load_datapoints(&LoadDatapoints::new("m", t0(), t0() + Duration::days(1)))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
}

#[tokio::test]
async fn missing_tables_are_reported_before_migrate() {
    let db = common::TempDb::create("nomigrate").await;
    let s = common::factory().storage(&common::config(&db));
    let err = s.last_datapoint_time("m").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Query);
    assert!(err.message.contains("dtk_datapoints"), "{err}");
    assert!(err.message.contains("doesn't exist"), "{err}");
}

#[tokio::test]
async fn read_only_user_cannot_migrate_and_is_told_why() {
    let db = common::TempDb::new("ro");
    let mut config = db.config();
    config.user = "readonly".into(); // Debian's built-in readonly = 1 user
    let err = common::factory()
        .storage(&config)
        .migrate()
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Schema, "{err}");
    assert!(err.message.contains("readonly"), "{err}");
    assert!(!err.transient);
}
