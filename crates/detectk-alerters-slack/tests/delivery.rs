//! The Slack alerter against a real HTTP server on 127.0.0.1.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use detectk_alerters_slack::SlackAlerter;
use detectk_core::alert::{MessageInput, RetryPolicy, WebhookParams, build_message};
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::traits::AlertKind;
use detectk_core::{
    AlertErrorKind, AlertMessage, Alerter, Context, Detection, DetectionRecord, Direction, Secret,
};
use serde_json::{Map, json};

fn alerter(server: &WebhookServer) -> SlackAlerter {
    let params = WebhookParams {
        username: Some("DetectK".into()),
        icon_emoji: Some(":warning:".into()),
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(80),
            max_retry_after: Duration::from_secs(5),
        },
        ..WebhookParams::new(Secret::new(server.url()))
    };
    SlackAlerter::new(params)
}

fn record(id: &str, kind: &str, params: serde_json::Value, score: f64) -> DetectionRecord {
    DetectionRecord {
        metric: "checkout_errors".into(),
        detector_id: id.into(),
        detector_type: kind.into(),
        detector_params: params,
        detection: Detection {
            timestamp: Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap(),
            value: Some(87.0),
            is_anomaly: true,
            score: Some(score),
            lower_bound: Some(2.0),
            upper_bound: Some(31.5),
            direction: Some(Direction::Up),
            percent_deviation: Some(190.0),
            skipped: None,
            stats: Map::new(),
        },
        alert_sent: false,
        context: Context::new(),
    }
}

fn anomaly() -> AlertMessage {
    let records = [
        record("3f2a9c1e", "mad", json!({"window_size": "7 days"}), 5.61),
        record("b07c44d2", "iqr", json!({"multiplier": 1.5}), 3.2),
    ];
    build_message(
        &MessageInput {
            metric: "checkout_errors",
            kind: AlertKind::Anomaly,
            timestamp: records[0].detection.timestamp,
            detections: &records,
            consecutive: 2,
            recovered_from: None,
            severity: detectk_core::alert::Severity::Warning,
        },
        None,
    )
}

#[tokio::test]
async fn posts_block_kit_with_a_plain_text_fallback() {
    let server = WebhookServer::start();
    alerter(&server).send(&anomaly()).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    let body = requests[0].json();
    assert_eq!(
        body["text"],
        anomaly().text,
        "the fallback is the full plain text"
    );
    insta::assert_json_snapshot!("slack_payload", body);
}

#[tokio::test]
async fn retries_server_errors_then_delivers_once() {
    let server = WebhookServer::with_replies([Reply::Status(500), Reply::Status(503)]);
    alerter(&server).send(&anomaly()).await.unwrap();
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn a_rejected_message_is_not_retried() {
    let server = WebhookServer::with_replies([Reply::Body(404, "no_service".into())]);
    let err = alerter(&server).send(&anomaly()).await.unwrap_err();
    assert_eq!(server.request_count(), 1);
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    assert_eq!(
        err.to_string(),
        "slack: the endpoint rejected the message with HTTP 404: no_service"
    );
}

#[tokio::test]
async fn rate_limits_honour_an_http_date_retry_after() {
    let later = Utc::now() + chrono::TimeDelta::seconds(2);
    let server = WebhookServer::with_replies([Reply::RateLimited {
        retry_after: later.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    }]);
    let started = Instant::now();
    alerter(&server).send(&anomaly()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.request_count(), 2);
}
