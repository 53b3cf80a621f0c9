//! The PagerDuty alerter against a real HTTP server on 127.0.0.1 standing in for
//! the Events API v2: triggers and resolves as PagerDuty documents them, severity
//! from the score, and the routing key never shown.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use detectk_alerters_pagerduty::{PagerDutyAlerter, PagerDutyParams};
use detectk_core::alert::{MessageInput, RetryPolicy, SeverityCutoffs, build_message};
use detectk_core::config::Params;
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::traits::AlertKind;
use detectk_core::{
    AlertErrorKind, AlertMessage, Alerter, Context, Detection, DetectionRecord, Direction,
    Registry, Secret,
};
use serde_json::{Map, Value, json};

const KEY: &str = "R0UTINGKEYsecret0123456789abcdef";

fn record(score: f64) -> DetectionRecord {
    let at = Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap();
    DetectionRecord {
        metric: "orders".into(),
        detector_id: "a1b2c3d4".into(),
        detector_type: "mad".into(),
        detector_params: json!({}),
        detection: Detection {
            timestamp: at,
            value: Some(180.0),
            is_anomaly: true,
            score: Some(score),
            lower_bound: Some(90.0),
            upper_bound: Some(110.0),
            direction: Some(Direction::Up),
            percent_deviation: Some(80.0),
            skipped: None,
            stats: Map::new(),
        },
        alert_sent: false,
        context: Context::new(),
    }
}

fn message(kind: AlertKind, score: f64) -> AlertMessage {
    let records = [record(score)];
    let at = records[0].detection.timestamp;
    let mut message = build_message(
        &MessageInput {
            metric: "orders",
            kind,
            timestamp: at,
            detections: &records,
            consecutive: 1,
            recovered_from: (kind == AlertKind::Recovery).then_some(at),
            severity: SeverityCutoffs::default().classify(kind, &records),
        },
        None,
    );
    // The process step sets the incident start; here the alert opens the incident.
    message.incident_start = Some(at);
    message
}

fn alerter(server: &WebhookServer) -> PagerDutyAlerter {
    let mut p = PagerDutyParams::new(Secret::new(KEY));
    p.url = Secret::new(server.url_with_path("/v2/enqueue"));
    p.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    };
    PagerDutyAlerter::new(p)
}

#[tokio::test]
async fn an_anomaly_triggers_and_a_recovery_resolves_the_same_dedup_key() {
    let server = WebhookServer::with_replies([
        Reply::Body(
            202,
            r#"{"status":"success","message":"Event processed","dedup_key":"detectk/orders/2024-11-02T14:30:00Z"}"#
                .into(),
        ),
        Reply::Status(202),
    ]);
    let a = alerter(&server);
    a.send(&message(AlertKind::Anomaly, 7.5)).await.unwrap();
    a.send(&message(AlertKind::Recovery, 0.1)).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v2/enqueue");
    let trigger = requests[0].json();
    assert_eq!(trigger["routing_key"], KEY);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "detectk/orders/2024-11-02T14:30:00Z");
    assert_eq!(trigger["client"], "DetectK");
    let payload = &trigger["payload"];
    assert_eq!(
        payload["summary"],
        "Anomaly in orders: value 180, expected 90 .. 110, score 7.50"
    );
    assert_eq!(payload["source"], "detectk");
    assert_eq!(payload["severity"], "critical", "score 7.5 >= 6");
    assert_eq!(payload["timestamp"], "2024-11-02T14:30:00Z");
    assert_eq!(payload["component"], "orders");
    assert_eq!(payload["custom_details"]["upper_bound"], 110.0);
    assert_eq!(
        requests[1].json(),
        json!({"event_action": "resolve", "dedup_key": "detectk/orders/2024-11-02T14:30:00Z", "routing_key": KEY})
    );
}

#[tokio::test]
async fn severity_follows_the_score() {
    let server = WebhookServer::start();
    let a = alerter(&server);
    a.send(&message(AlertKind::Anomaly, 4.0)).await.unwrap();
    a.send(&message(AlertKind::Anomaly, 1.0)).await.unwrap();
    let r = server.requests();
    assert_eq!(r[0].json()["payload"]["severity"], "warning");
    assert_eq!(r[1].json()["payload"]["severity"], "info");
}

#[tokio::test]
async fn an_invalid_event_is_not_retried_and_the_key_never_shows() {
    let server = WebhookServer::with_replies([Reply::Body(
        400,
        format!(
            r#"{{"status":"invalid event","message":"Event object is invalid","errors":["bad key {KEY}"]}}"#
        ),
    )]);
    let a = alerter(&server);
    let err = a.send(&message(AlertKind::Anomaly, 7.0)).await.unwrap_err();
    assert_eq!(server.request_count(), 1);
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    assert!(err.to_string().contains("Event object is invalid"), "{err}");
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{a:?}"),
        a.describe(),
    ] {
        assert!(!shown.contains("R0UTINGKEY"), "routing key leaked: {shown}");
    }
}

#[tokio::test]
async fn rate_limits_are_retried() {
    let server = WebhookServer::with_replies([Reply::RateLimited {
        retry_after: "0".into(),
    }]);
    alerter(&server)
        .send(&message(AlertKind::Anomaly, 7.0))
        .await
        .unwrap();
    assert_eq!(server.request_count(), 2);
}

#[test]
fn params_are_checked_all_at_once() {
    let mut registry = Registry::new();
    detectk_alerters_pagerduty::register(&mut registry);
    let map: Map<String, Value> = json!({"routing_key": "has space", "url": "events.pagerduty.com",
        "source": ""})
    .as_object()
    .cloned()
    .unwrap();
    let p = Params::new(&map, "alerter.params");
    let Err(e) = registry.alerter("pagerduty").unwrap().build(p) else {
        panic!("built with bad params");
    };
    let issues: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        issues,
        [
            "alerter.params.url: must start with https:// or http://",
            "alerter.params.source: must not be empty",
            "alerter.params.routing_key: must be the integration key of an Events API v2 integration (no spaces)",
        ]
    );
}
