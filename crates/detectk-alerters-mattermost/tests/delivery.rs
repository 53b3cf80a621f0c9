//! The Mattermost alerter against a real HTTP server on 127.0.0.1.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use detectk_alerters_mattermost::MattermostAlerter;
use detectk_core::alert::{AlertSettings, RetryPolicy, WebhookParams, sample_message};
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::{AlertErrorKind, AlertMessage, Alerter, Secret};

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(80),
        max_retry_after: Duration::from_secs(5),
    }
}

fn alerter(server: &WebhookServer, max_retries: u32) -> MattermostAlerter {
    let params = WebhookParams {
        username: Some("DetectK".into()),
        retry: fast_retries(max_retries),
        timeout: Duration::from_millis(500),
        ..WebhookParams::new(Secret::new(server.url()))
    };
    MattermostAlerter::new(params)
}

fn message() -> AlertMessage {
    let at = Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap();
    sample_message("sessions_10min", &AlertSettings::default(), &[], at)
}

#[tokio::test]
async fn posts_the_message_as_json_with_overrides() {
    let server = WebhookServer::start();
    let params = WebhookParams {
        username: Some("Metrics Bot".into()),
        icon_url: Some("https://example.com/bot.png".into()),
        icon_emoji: Some(":bell:".into()),
        channel: Some("ops-alerts".into()),
        ..WebhookParams::new(Secret::new(server.url()))
    };
    MattermostAlerter::new(params)
        .send(&message())
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hooks/test");
    assert_eq!(r.header("content-type"), Some("application/json"));
    insta::assert_json_snapshot!("mattermost_payload", r.json());
}

#[tokio::test]
async fn retries_server_errors_then_delivers_once() {
    let server = WebhookServer::with_replies([Reply::Status(500), Reply::Status(500)]);
    alerter(&server, 3).send(&message()).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "two failures, then one delivery");
    assert!(requests.iter().all(|r| r.json() == requests[0].json()));
}

#[tokio::test]
async fn a_rejected_message_is_not_retried_and_hides_the_url() {
    let server =
        WebhookServer::with_replies([Reply::Body(400, "Unable to parse incoming data".into())]);
    let a = alerter(&server, 3);
    let err = a.send(&message()).await.unwrap_err();
    assert_eq!(server.request_count(), 1);
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    assert_eq!(err.status, Some(400));
    assert_eq!(
        err.to_string(),
        "mattermost: the endpoint rejected the message with HTTP 400: Unable to parse incoming data"
    );
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{a:?}"),
        a.describe(),
    ] {
        assert!(!shown.contains("/hooks/test"), "URL leaked: {shown}");
    }
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let server = WebhookServer::with_replies([Reply::RateLimited {
        retry_after: "1".into(),
    }]);
    let started = Instant::now();
    alerter(&server, 2).send(&message()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_silent_endpoint_times_out_after_the_retries() {
    let server = WebhookServer::start();
    server.set_fallback(Reply::Hang);
    let started = Instant::now();
    let err = alerter(&server, 1).send(&message()).await.unwrap_err();
    assert_eq!(err.kind, AlertErrorKind::Timeout);
    assert_eq!(err.attempts, 2);
    assert_eq!(server.wait_for_requests(2, Duration::from_secs(2)).len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_reported_without_the_url() {
    let server = WebhookServer::start();
    let url = server.url();
    drop(server);
    let params = WebhookParams {
        retry: fast_retries(1),
        ..WebhookParams::new(Secret::new(url.clone()))
    };
    let err = MattermostAlerter::new(params)
        .send(&message())
        .await
        .unwrap_err();
    assert_eq!(err.kind, AlertErrorKind::Unavailable);
    assert_eq!(err.attempts, 2);
    assert!(err.message.contains("connection failed"), "{}", err.message);
    assert!(!err.message.contains(&url), "{}", err.message);
}
