//! The generic webhook alerter against a real HTTP server on 127.0.0.1: method,
//! secret headers, the default JSON body and a templated one; secrets never shown.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use detectk_alerters_webhook::{GenericWebhookAlerter, GenericWebhookParams};
use detectk_core::alert::{AlertSettings, RetryPolicy, sample_message};
use detectk_core::config::Params;
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::{AlertErrorKind, AlertMessage, Alerter, Registry, Secret};
use serde_json::{Map, Value, json};

fn message() -> AlertMessage {
    let at = Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap();
    sample_message("sessions_10min", &AlertSettings::default(), &[], at)
}

fn build(v: Value) -> (Option<std::sync::Arc<dyn Alerter>>, Vec<String>) {
    let mut registry = Registry::new();
    detectk_alerters_webhook::register(&mut registry);
    let map: Map<String, Value> = v.as_object().cloned().unwrap();
    let p = Params::new(&map, "alerter.params");
    match registry.alerter("webhook").unwrap().build(p) {
        Ok(b) => (Some(b.part), Vec::new()),
        Err(e) => (None, e.issues.iter().map(|i| i.to_string()).collect()),
    }
}

#[tokio::test]
async fn the_default_body_is_json_describing_the_alert() {
    let server = WebhookServer::start();
    let (alerter, issues) = build(json!({
        "url": server.url_with_path("/ingest?token=QUERYSECRET"),
        "method": "PUT",
        "headers": {"Authorization": "Bearer HEADERSECRET", "X-Source": "detectk"},
    }));
    assert!(issues.is_empty(), "{issues:?}");
    let m = message();
    alerter.unwrap().send(&m).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path, "/ingest?token=QUERYSECRET");
    assert_eq!(r.header("authorization"), Some("Bearer HEADERSECRET"));
    assert_eq!(r.header("x-source"), Some("detectk"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["metric_name"], "sessions_10min");
    assert_eq!(body["kind"], "test");
    assert_eq!(body["timestamp"], "2024-11-02T14:30:00Z");
    assert_eq!(body["title"], m.title);
    assert_eq!(body["text"], m.text);
    assert_eq!(body["severity"], "info");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, detectk_alerters_webhook::BODY_VARIABLES);
    assert_eq!(body["detections"][0]["detector_type"], "mad");
}

#[tokio::test]
async fn a_body_template_renders_with_the_documented_variables() {
    let server = WebhookServer::start();
    let (alerter, issues) = build(json!({
        "url": server.url(),
        "body_template": "{\"summary\": {{ title | tojson }}, \"metric\": {{ metric_name | tojson }}, \"n\": {{ detections | length }}}",
    }));
    assert!(issues.is_empty(), "{issues:?}");
    alerter.unwrap().send(&message()).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.json(),
        json!({"summary": message().title, "metric": "sessions_10min", "n": 1})
    );

    let server = WebhookServer::start();
    let (alerter, _) = build(json!({
        "url": server.url(), "content_type": "text/plain",
        "body_template": "{{ metric_name }} is {{ kind }}",
    }));
    alerter.unwrap().send(&message()).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "sessions_10min is test");
}

#[tokio::test]
async fn failures_never_show_the_url_or_header_values() {
    let server = WebhookServer::with_replies([Reply::Body(
        403,
        "forbidden: Bearer HEADERSECRET for /ingest?token=QUERYSECRET".into(),
    )]);
    let mut p = GenericWebhookParams::new(Secret::new(
        server.url_with_path("/ingest?token=QUERYSECRET"),
    ));
    p.headers = vec![("Authorization".into(), Secret::new("Bearer HEADERSECRET"))];
    p.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    };
    let a = GenericWebhookAlerter::new(p);
    let err = a.send(&message()).await.unwrap_err();
    assert_eq!(server.request_count(), 1, "403 is not retried");
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{a:?}"),
        a.describe(),
    ] {
        assert!(!shown.contains("SECRET"), "secret leaked: {shown}");
    }
    assert!(
        a.describe().starts_with("webhook (POST 127.0.0.1:"),
        "{}",
        a.describe()
    );
}

#[test]
fn bad_params_are_reported_all_at_once() {
    let (built, issues) = build(json!({
        "url": "hooks.example.com/x",
        "method": "DELETE",
        "headers": {"Bad Name": "x", "Content-Type": "text/plain", "X-Multi": "a\nb"},
        "body_template": "{{ metric }}",
    }));
    assert!(built.is_none());
    assert_eq!(
        issues,
        [
            "alerter.params.method: unknown value \"DELETE\"; expected one of: POST, PUT, PATCH",
            "alerter.params.headers: \"Bad Name\" is not a valid header name",
            "alerter.params.headers: set the body's type with `content_type`, not a Content-Type header",
            "alerter.params.headers: the value of X-Multi must be a one-line string",
            "alerter.params.body_template: unknown template variable metric; available: metric_name, kind, severity, timestamp, title, text, value, score, lower_bound, upper_bound, direction, percent_deviation, detections",
            "alerter.params.url: must start with https:// or http://",
        ]
    );
    let (_, issues) = build(json!({"url": "https://x.example/h", "body_template": "{{ title }}"}));
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].starts_with("alerter.params.body_template: the template does not render JSON"),
        "{issues:?}"
    );
}
