//! The Teams alerter against a real HTTP server on 127.0.0.1 standing in for a
//! workflow webhook: the body is the documented Adaptive Card message, Teams' 202
//! counts as delivered, and the URL never shows.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use detectk_alerters_teams::TeamsAlerter;
use detectk_core::alert::{AlertSettings, RetryPolicy, WebhookParams, sample_message};
use detectk_core::config::Params;
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::{AlertErrorKind, AlertMessage, Alerter, Registry, Secret};
use serde_json::{Map, Value, json};

fn message() -> AlertMessage {
    let at = Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap();
    sample_message("sessions_10min", &AlertSettings::default(), &[], at)
}

fn alerter(server: &WebhookServer) -> TeamsAlerter {
    let mut params = WebhookParams::new(Secret::new(
        server.url_with_path("/workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRET"),
    ));
    params.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    };
    params.timeout = Duration::from_secs(2);
    TeamsAlerter::new(params)
}

#[tokio::test]
async fn posts_an_adaptive_card_message_and_accepts_202() {
    let server = WebhookServer::with_replies([Reply::Status(202)]);
    let m = message();
    alerter(&server).send(&m).await.unwrap();
    assert_eq!(server.request_count(), 1, "202 Accepted is a delivery");
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["version"], "1.4");
    let blocks = card["body"].as_array().unwrap();
    assert_eq!(
        blocks[0],
        json!({"type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium",
               "color": "Accent", "wrap": true})
    );
    assert_eq!(blocks[1]["text"], m.text);
    let facts: Vec<(String, String)> = blocks[2]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["title"].as_str().unwrap().to_string(),
                f["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(facts[0], ("Metric".into(), "sessions_10min".into()));
    assert_eq!(facts[1], ("Time".into(), "2024-11-02 14:30:00 UTC".into()));
    assert!(facts.iter().any(|(t, _)| t == "Severity"), "{facts:?}");
}

#[tokio::test]
async fn server_errors_are_retried_and_rejections_hide_the_url() {
    let server = WebhookServer::with_replies([Reply::Status(502)]);
    alerter(&server).send(&message()).await.unwrap();
    assert_eq!(server.request_count(), 2);

    let server = WebhookServer::with_replies([Reply::Body(
        400,
        "Bad payload for /workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRET".into(),
    )]);
    let a = alerter(&server);
    let err = a.send(&message()).await.unwrap_err();
    assert_eq!(server.request_count(), 1);
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{a:?}"),
        a.describe(),
    ] {
        assert!(!shown.contains("SIGSECRET"), "URL leaked: {shown}");
    }
    assert_eq!(
        a.describe(),
        "teams (127.0.0.1:".to_string() + &server.addr().port().to_string() + ")"
    );
}

#[test]
fn only_the_teams_keys_are_accepted() {
    let mut registry = Registry::new();
    detectk_alerters_teams::register(&mut registry);
    let map: Map<String, Value> =
        json!({"webhook_url": "https://x.example/w?sig=s", "username": "bot"})
            .as_object()
            .cloned()
            .unwrap();
    let p = Params::new(&map, "alerter.params");
    let Err(e) = registry.alerter("teams").unwrap().build(p) else {
        panic!("built with an unknown key");
    };
    let issues: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(issues, ["alerter.params.username: unknown key"]);
}
