//! The alert policy across separate cron-style runs, with its state in a real SQLite
//! storage and alerts delivered to a real HTTP server on 127.0.0.1.
//!
//! Each "run" opens its own storage (its own connection pool, as a separate `dtk run`
//! process would), stores the run's detections, and calls `alert::process` the way
//! the pipeline does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use detectk_alerters_mattermost::MattermostAlerter;
use detectk_core::alert::{
    AlertJob, AlertReport, AlertSettings, DetectorInfo, RetryPolicy, WebhookParams, process,
};
use detectk_core::config::Params;
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::traits::{AlertKind, AlertStatus, LoadDetections};
use detectk_core::{
    Context, Detection, DetectionRecord, Direction, Error, Registry, Secret, Storage,
};
use serde_json::{Map, Value, json};

const METRIC: &str = "sessions_10min";
const STEP: TimeDelta = TimeDelta::minutes(10);

fn t(i: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap() + STEP * i
}

fn detector() -> DetectorInfo {
    DetectorInfo {
        id: "a1b2c3d4".into(),
        kind: "mad".into(),
        params: json!({"n_sigma": 3.0}),
    }
}

/// The detection of point `i`: anomalous (far above the range) or normal.
fn detection(i: i32, anomalous: bool) -> DetectionRecord {
    let value = if anomalous { 180.0 } else { 101.0 };
    DetectionRecord {
        metric: METRIC.into(),
        detector_id: detector().id,
        detector_type: detector().kind,
        detector_params: detector().params,
        detection: Detection {
            timestamp: t(i),
            value: Some(value),
            is_anomaly: anomalous,
            score: Some(if anomalous { 9.1 } else { 0.2 }),
            lower_bound: Some(90.0),
            upper_bound: Some(110.0),
            direction: anomalous.then_some(Direction::Up),
            percent_deviation: Some(value - 100.0),
            skipped: None,
            stats: Map::new(),
        },
        alert_sent: false,
        context: Context::new(),
    }
}

fn settings(conditions: Value) -> AlertSettings {
    let params = Map::new();
    let conditions = conditions.as_object().cloned().unwrap_or_default();
    let mut p = Params::new(&params, "alerter.params");
    let mut c = Params::new(&conditions, "alerter.conditions");
    let s = AlertSettings::parse(true, &mut p, &mut c);
    assert!(c.finish().issues.is_empty());
    s
}

struct Env {
    _dir: tempfile::TempDir,
    db: PathBuf,
    server: WebhookServer,
}

impl Env {
    fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        Self {
            _dir: dir,
            db,
            server: WebhookServer::with_replies(replies),
        }
    }

    fn alerter(&self) -> MattermostAlerter {
        MattermostAlerter::new(WebhookParams {
            retry: RetryPolicy {
                max_retries: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(40),
                max_retry_after: Duration::from_secs(2),
            },
            timeout: Duration::from_secs(2),
            ..WebhookParams::new(Secret::new(self.server.url()))
        })
    }

    /// One `dtk run` at point `i`: store the fresh detection (unless a dry run) and alert.
    async fn run(
        &self,
        i: i32,
        anomalous: bool,
        settings: &AlertSettings,
        dry_run: bool,
    ) -> Result<AlertReport, Error> {
        let storage = open_storage(&self.db).await;
        let fresh = vec![detection(i, anomalous)];
        if !dry_run {
            storage.upsert_detections(&fresh).await.unwrap();
        }
        let alerter = self.alerter();
        process(AlertJob {
            metric: METRIC,
            state_key: METRIC,
            settings,
            alerter: &alerter,
            storage: storage.as_ref(),
            detectors: &[detector()],
            fresh: &fresh,
            newest: t(i),
            interval: STEP,
            dry_run,
        })
        .await
    }

    async fn storage(&self) -> Arc<dyn Storage> {
        open_storage(&self.db).await
    }
}

async fn open_storage(db: &Path) -> Arc<dyn Storage> {
    let mut registry = Registry::new();
    detectk_collectors_sql::register(&mut registry);
    let map = json!({"path": db.to_string_lossy()});
    let params = Params::new(map.as_object().unwrap(), "storage.params");
    let storage = registry
        .storage("sqlite")
        .unwrap()
        .build("sqlite", params)
        .expect("sqlite storage")
        .part;
    storage.migrate().await.unwrap();
    storage
}

fn texts(server: &WebhookServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_anomaly_over_three_runs_alerts_once_within_the_cooldown() {
    let env = Env::new([]);
    let s = settings(json!({"cooldown_minutes": 60}));
    let first = env.run(0, true, &s, false).await.unwrap();
    assert_eq!(first.sent.len(), 1);
    for i in 1..3 {
        let report = env.run(i, true, &s, false).await.unwrap();
        assert!(report.sent.is_empty());
        let why = report.held_back.unwrap();
        assert!(
            why.starts_with("cooldown: the last alert was for 2024-05-01 08:00:00 UTC"),
            "{why}"
        );
    }
    assert_eq!(env.server.request_count(), 1);
    // Re-running the first point sends nothing twice.
    let again = env.run(0, true, &s, false).await.unwrap();
    assert!(again.sent.is_empty(), "{again:?}");
    // Once the cooldown has passed (60 minutes between point timestamps), it alerts again.
    let later = env.run(6, true, &s, false).await.unwrap();
    assert_eq!(later.sent.len(), 1);
    assert_eq!(env.server.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_of_one_metric_send_one_alert() {
    // A slow endpoint keeps the first sender busy while the second run decides.
    let env = Env::new([]);
    env.server
        .set_fallback(Reply::Delayed(Duration::from_millis(300), 200));
    let s = settings(json!({"cooldown_minutes": 0}));
    for (round, point) in [3, 4, 5].into_iter().enumerate() {
        let (a, b) = tokio::join!(
            env.run(point, true, &s, false),
            env.run(point, true, &s, false)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.sent.len() + b.sent.len(), 1, "point {point}: {a:?} {b:?}");
        let loser = if a.sent.is_empty() { a } else { b };
        assert!(loser.held_back.is_some());
        assert_eq!(env.server.request_count(), round + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_then_success_deliver_one_alert_recorded_as_sent() {
    let env = Env::new([Reply::Status(500), Reply::Status(500), Reply::Status(200)]);
    let report = env.run(2, true, &settings(json!({})), false).await.unwrap();
    assert_eq!(report.sent.len(), 1);
    assert_eq!(env.server.request_count(), 3);
    let storage = env.storage().await;
    let last = storage
        .last_sent_alert(METRIC, Some(AlertKind::Anomaly))
        .await
        .unwrap()
        .expect("the alert is recorded");
    assert_eq!(last.status, AlertStatus::Sent);
    assert_eq!(last.timestamp, t(2));
    assert_eq!(last.detector_ids, [detector().id]);
    let stored = storage
        .load_detections(&LoadDetections::new(METRIC, t(2), t(3)))
        .await
        .unwrap();
    assert!(stored[0].alert_sent, "dtk_detections.alert_sent is set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_alert_is_reported_not_retried_and_not_recorded_as_sent() {
    let env = Env::new([Reply::Status(400)]);
    let s = settings(json!({}));
    let err = env.run(4, true, &s, false).await.unwrap_err();
    assert_eq!(err.metric(), Some(METRIC));
    assert_eq!(
        err.to_string(),
        "metric `sessions_10min`: sending the alert failed"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(
        cause,
        "mattermost: the endpoint rejected the message with HTTP 400: invalid_payload"
    );
    assert_eq!(env.server.request_count(), 1, "no hammering");
    let storage = env.storage().await;
    assert_eq!(storage.last_sent_alert(METRIC, None).await.unwrap(), None);
    let stored = storage
        .load_detections(&LoadDetections::new(METRIC, t(4), t(5)))
        .await
        .unwrap();
    assert!(!stored[0].alert_sent);
    // The next run for the same point may try again, and succeeds.
    let retry = env.run(4, true, &s, false).await.unwrap();
    assert_eq!(retry.sent.len(), 1);
    assert_eq!(env.server.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_anomalies_alert_on_the_third_point_then_recover() {
    let env = Env::new([]);
    let s = settings(
        json!({"consecutive_anomalies": 3, "notify_recovery": true, "cooldown_minutes": 0}),
    );
    assert!(env.run(0, false, &s, false).await.unwrap().sent.is_empty());
    let mut held = Vec::new();
    for i in [1, 2] {
        let report = env.run(i, true, &s, false).await.unwrap();
        assert!(report.sent.is_empty(), "point {i}");
        held.push(report.held_back.unwrap());
    }
    assert_eq!(
        held,
        [
            "1 of 3 consecutive anomalous points",
            "2 of 3 consecutive anomalous points"
        ]
    );
    let third = env.run(3, true, &s, false).await.unwrap();
    assert_eq!(third.sent.len(), 1);
    assert!(third.sent[0].text.contains("Anomalous points in a row: 3"));
    assert_eq!(env.server.request_count(), 1);
    let recovered = env.run(4, false, &s, false).await.unwrap();
    assert_eq!(recovered.sent.len(), 1);
    assert_eq!(recovered.sent[0].kind, AlertKind::Recovery);
    let still_normal = env.run(5, false, &s, false).await.unwrap();
    assert!(still_normal.sent.is_empty());
    let sent = texts(&env.server);
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].starts_with("ANOMALY: sessions_10min\nTime: 2024-05-01 08:30:00 UTC"),
        "{}",
        sent[0]
    );
    assert!(
        sent[1].starts_with("RECOVERED: sessions_10min\nTime: 2024-05-01 08:40:00 UTC"),
        "{}",
        sent[1]
    );
    assert!(sent[1].contains("after the anomaly alert for 2024-05-01 08:30:00 UTC"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_recovery_enabled_no_recovery_message_is_sent() {
    let env = Env::new([]);
    let s = settings(json!({}));
    assert_eq!(env.run(0, true, &s, false).await.unwrap().sent.len(), 1);
    assert!(env.run(1, false, &s, false).await.unwrap().sent.is_empty());
    assert_eq!(env.server.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_renders_but_neither_sends_nor_writes() {
    let env = Env::new([]);
    let s = settings(json!({"consecutive_anomalies": 2}));
    let first = env.run(6, true, &s, false).await.unwrap();
    assert_eq!(
        first.held_back.as_deref(),
        Some("1 of 2 consecutive anomalous points")
    );
    // The dry run's own detection is not stored; it counts with the stored one.
    let dry = env.run(7, true, &s, true).await.unwrap();
    assert_eq!(dry.would_send.len(), 1);
    assert!(
        dry.would_send[0]
            .text
            .contains("Anomalous points in a row: 2")
    );
    assert!(dry.sent.is_empty());
    assert_eq!(env.server.request_count(), 0);
    let storage = env.storage().await;
    assert_eq!(storage.last_sent_alert(METRIC, None).await.unwrap(), None);
    let stored = storage
        .load_detections(&LoadDetections::new(METRIC, t(0), t(9)))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "only the real run's detection is stored");
    // Nothing was claimed: a real run afterwards sends.
    assert_eq!(env.run(7, true, &s, false).await.unwrap().sent.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_alerter_never_sends() {
    let env = Env::new([]);
    let s = AlertSettings {
        enabled: false,
        ..settings(json!({}))
    };
    let report = env.run(0, true, &s, false).await.unwrap();
    assert_eq!(
        report.held_back.as_deref(),
        Some("alerting is disabled (alerter.enabled: false)")
    );
    assert_eq!(env.server.request_count(), 0);
}
