//! The core's layers over real storages: the dry-run overlay on a SQLite file (reads
//! see the store plus the dry run's writes; the store never changes), and the retry
//! layer against a PostgreSQL port where nothing listens (one retry of the transient
//! connect failure, logged).

#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use detectk_collectors_sql::{Role, SqlFactory};
use detectk_core::layers::{DryRunAlerter, DryRunStorage, RetryCollector, RetryStorage};
use detectk_core::testkit::sample_detection;
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertLedger, AlertMessage, AlertOutcome, AlertStatus,
    CheckpointStore, DetectionStore, FinishAlert, LoadAlerts, LoadDatapoints, LoadDetections,
    MarkAlertSent, SeriesStore,
};
use detectk_core::{Alerter, BackendErrorKind, Collector, DataPoint, Storage};
use serde_json::json;
use tempfile::TempDir;

use common::{collector, params, settings, storage};

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

async fn sqlite(dir: &TempDir) -> Arc<dyn Storage> {
    let path = dir.path().join("dtk.db");
    storage(
        &SqlFactory::new(),
        "sqlite",
        &params(json!({"path": path.to_str().unwrap()})),
    )
    .await
}

fn claim(key: &str, minute: i64, token: &str) -> AlertClaim {
    let now = Utc::now();
    AlertClaim::new("m", key, AlertKind::Anomaly, at(minute), token, now, now)
}

#[tokio::test]
async fn dry_run_reads_see_the_store_overlaid_with_its_writes_and_the_store_never_changes() {
    let dir = TempDir::new().unwrap();
    let real = sqlite(&dir).await;
    real.upsert_datapoints(
        "m",
        &[DataPoint::new(at(0), 1.0), DataPoint::new(at(10), 2.0)],
    )
    .await
    .unwrap();
    real.upsert_detections(&[sample_detection("m", "det00001", at(0))])
        .await
        .unwrap();
    real.set_checkpoint("m", "backfill", at(10)).await.unwrap();
    assert!(
        real.claim_alert(&claim("anomaly:sent", 0, "t0"))
            .await
            .unwrap()
    );
    let sent = AlertOutcome::new(AlertStatus::Sent, Utc::now(), "sent for real");
    real.finish_alert(&FinishAlert::new("m", "anomaly:sent", "t0", sent))
        .await
        .unwrap();
    let other = Utc::now();
    real.acquire_alert_lease(&AlertLease::new(
        "m",
        "real-run",
        other,
        other + Duration::hours(1),
    ))
    .await
    .unwrap();

    let dry = DryRunStorage::new(real.as_ref());
    dry.migrate().await.unwrap();
    dry.upsert_datapoints(
        "m",
        &[DataPoint::new(at(10), 20.0), DataPoint::new(at(20), 3.0)],
    )
    .await
    .unwrap();
    let range = LoadDatapoints::new("m", at(0), at(60));
    assert_eq!(
        dry.load_datapoints(&range).await.unwrap(),
        [
            DataPoint::new(at(0), 1.0),
            DataPoint::new(at(10), 20.0),
            DataPoint::new(at(20), 3.0)
        ]
    );
    assert_eq!(dry.last_datapoint_time("m").await.unwrap(), Some(at(20)));
    assert_eq!(
        dry.last_datapoint_times(&["m".into(), "none".into()])
            .await
            .unwrap(),
        [("m".to_string(), at(20))].into()
    );

    let fresh = sample_detection("m", "det00002", at(20));
    dry.upsert_detections(std::slice::from_ref(&fresh))
        .await
        .unwrap();
    dry.mark_alert_sent(&MarkAlertSent::new("m", vec!["det00002".into()], at(20)))
        .await
        .unwrap();
    let detections = dry
        .load_detections(&LoadDetections::new("m", at(0), at(60)))
        .await
        .unwrap();
    assert_eq!(detections.len(), 2);
    assert!(detections[1].alert_sent, "marked in the overlay");
    assert_eq!(
        dry.last_detection_times("m").await.unwrap(),
        [
            ("det00001".to_string(), at(0)),
            ("det00002".to_string(), at(20))
        ]
        .into()
    );

    dry.clear_checkpoint("m", "backfill").await.unwrap();
    assert_eq!(dry.get_checkpoint("m", "backfill").await.unwrap(), None);

    // The lease is the dry run's own; a sent key stays sent; a new key is claimed.
    let now = Utc::now();
    assert!(
        dry.acquire_alert_lease(&AlertLease::new("m", "dry", now, now + Duration::hours(1)))
            .await
            .unwrap()
    );
    assert!(
        !dry.claim_alert(&claim("anomaly:sent", 0, "d1"))
            .await
            .unwrap()
    );
    assert!(
        dry.claim_alert(&claim("anomaly:new", 20, "d1"))
            .await
            .unwrap()
    );
    let outcome = AlertOutcome::new(AlertStatus::Sent, Utc::now(), "dry");
    dry.finish_alert(&FinishAlert::new("m", "anomaly:new", "d1", outcome))
        .await
        .unwrap();
    let last = dry.last_sent_alert("m", None).await.unwrap().unwrap();
    assert_eq!(
        (last.key.as_str(), last.status),
        ("anomaly:new", AlertStatus::Sent)
    );
    let keys: Vec<_> = dry
        .load_alerts(&LoadAlerts::new("m", at(0), at(60)))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, ["anomaly:sent", "anomaly:new"]);

    assert_eq!(dry.apply_retention("m", at(10)).await.unwrap(), 0);
    assert_eq!(
        dry.load_datapoints(&range).await.unwrap().len(),
        2,
        "retention hides the old point from the dry run"
    );

    // The store is exactly as before.
    assert_eq!(
        real.load_datapoints(&range).await.unwrap(),
        [DataPoint::new(at(0), 1.0), DataPoint::new(at(10), 2.0)]
    );
    let stored = real
        .load_detections(&LoadDetections::new("m", at(0), at(60)))
        .await
        .unwrap();
    assert_eq!(stored, [sample_detection("m", "det00001", at(0))]);
    assert_eq!(
        real.get_checkpoint("m", "backfill").await.unwrap(),
        Some(at(10))
    );
    let stored_keys: Vec<_> = real
        .load_alerts(&LoadAlerts::new("m", at(0), at(60)))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(stored_keys, ["anomaly:sent"]);
    let later = Utc::now();
    assert!(
        !real
            .acquire_alert_lease(&AlertLease::new("m", "third", later, later))
            .await
            .unwrap(),
        "the real run still holds its lease"
    );
}

#[tokio::test]
async fn dry_run_alerter_records_instead_of_sending() {
    #[derive(Debug)]
    struct Refusing;
    #[detectk_core::async_trait]
    impl Alerter for Refusing {
        fn describe(&self) -> String {
            "refusing".into()
        }
        async fn send(&self, _: &AlertMessage) -> Result<(), detectk_core::AlertError> {
            panic!("a dry run must not send");
        }
    }
    let inner = Refusing;
    let dry = DryRunAlerter::new(&inner);
    let message = AlertMessage {
        metric: "m".into(),
        kind: AlertKind::Anomaly,
        timestamp: at(0),
        title: "Anomaly in m".into(),
        text: "ANOMALY: m".into(),
        detections: vec![],
        severity: detectk_core::alert::Severity::Warning,
        incident_start: None,
    };
    dry.send(&message).await.unwrap();
    assert_eq!(dry.describe(), "refusing (dry run)");
    let recorded = dry.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].text, "ANOMALY: m");
}

/// Operations named by the "transient failure, retrying" warnings logged meanwhile.
#[derive(Clone, Default)]
struct RetryWarnings(Arc<Mutex<Vec<String>>>);

struct Fields(Vec<(String, String)>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
}

impl tracing::Subscriber for RetryWarnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let field = |name: &str| {
            fields
                .0
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        if field("message").as_deref() == Some("transient failure, retrying") {
            let operation = field("operation").unwrap_or_default();
            self.0.lock().unwrap().push(operation);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn retry_layers_retry_a_transient_connect_failure_once_and_say_so() {
    let warnings = RetryWarnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    let down = params(
        json!({"host": "127.0.0.1", "port": 1, "user": "postgres", "database": "test", "timeout": 5}),
    );

    let bare = collector(&SqlFactory::new(), "postgres", &down);
    let err = bare.query("SELECT 1").await.unwrap_err();
    assert_eq!(
        (err.kind, err.transient),
        (BackendErrorKind::Connect, true),
        "{err}"
    );
    assert!(warnings.0.lock().unwrap().is_empty(), "no layer, no retry");

    let retried = RetryCollector::new(bare);
    let err = retried.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert_eq!(*warnings.0.lock().unwrap(), ["query"]);

    let factory = SqlFactory::new();
    let store = factory.storage_for(&settings(&factory, "postgres", Role::Storage, &down));
    let retried = RetryStorage::new(store);
    let err = retried.last_datapoint_time("m").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert_eq!(*warnings.0.lock().unwrap(), ["query", "checkpoint"]);
}
