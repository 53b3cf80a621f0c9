//! The Telegram alerter against a real HTTP server on 127.0.0.1 standing in for the
//! Bot API: the request is `sendMessage` as Telegram documents it, and the bot token
//! never shows in errors, `Debug` or `describe`.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use detectk_alerters_telegram::{ParseMode, TelegramAlerter, TelegramParams};
use detectk_core::alert::{AlertSettings, RetryPolicy, sample_message};
use detectk_core::config::Params;
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::{AlertErrorKind, AlertMessage, Alerter, Registry, Secret};
use serde_json::{Map, Value, json};

const TOKEN: &str = "123456:AAHsecretTOKENvalue";

fn message() -> AlertMessage {
    let at = Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap();
    let mut m = sample_message("orders_<eu>_1.5", &AlertSettings::default(), &[], at);
    m.text = format!("ANOMALY: {}\nValue: 1_000 (x*2) & more!", m.metric);
    m
}

fn params(server: &WebhookServer, mode: ParseMode) -> TelegramParams {
    let mut p = TelegramParams::new(Secret::new(TOKEN), "-1001234567890");
    p.api_url = server.url_with_path("");
    p.parse_mode = mode;
    p.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    };
    p.timeout = Duration::from_secs(2);
    p
}

#[tokio::test]
async fn send_message_as_the_bot_api_documents_it_html() {
    let server = WebhookServer::start();
    let mut p = params(&server, ParseMode::Html);
    p.message_thread_id = Some(42);
    TelegramAlerter::new(p).send(&message()).await.unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/bot{TOKEN}/sendMessage"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({
            "chat_id": "-1001234567890",
            "text": "<b>ANOMALY: orders_&lt;eu&gt;_1.5</b>\nValue: 1_000 (x*2) &amp; more!",
            "parse_mode": "HTML",
            "message_thread_id": 42,
        })
    );
}

#[tokio::test]
async fn markdown_v2_escapes_every_reserved_character() {
    let server = WebhookServer::start();
    TelegramAlerter::new(params(&server, ParseMode::MarkdownV2))
        .send(&message())
        .await
        .unwrap();
    let body = server.requests()[0].json();
    assert_eq!(body["parse_mode"], "MarkdownV2");
    assert_eq!(
        body["text"],
        r"*ANOMALY: orders\_<eu\>\_1\.5*
Value: 1\_000 \(x\*2\) & more\!"
    );
}

#[tokio::test]
async fn plain_text_is_sent_as_written_without_parse_mode() {
    let server = WebhookServer::start();
    TelegramAlerter::new(params(&server, ParseMode::None))
        .send(&message())
        .await
        .unwrap();
    let body = server.requests()[0].json();
    assert_eq!(body["text"], message().text);
    assert!(body.get("parse_mode").is_none(), "{body}");
}

#[tokio::test]
async fn rate_limits_in_the_json_body_are_waited_for() {
    let server = WebhookServer::with_replies([Reply::Body(
        429,
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#.into(),
    )]);
    let started = Instant::now();
    TelegramAlerter::new(params(&server, ParseMode::None))
        .send(&message())
        .await
        .unwrap();
    assert_eq!(server.request_count(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_rejected_token_is_not_retried_and_never_shown() {
    let server = WebhookServer::with_replies([Reply::Body(
        401,
        format!(r#"{{"ok":false,"error_code":401,"description":"Unauthorized bot{TOKEN}"}}"#),
    )]);
    let alerter = TelegramAlerter::new(params(&server, ParseMode::None));
    let err = alerter.send(&message()).await.unwrap_err();
    assert_eq!(server.request_count(), 1);
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    assert_eq!(err.status, Some(401));
    assert!(err.to_string().contains("Unauthorized"), "{err}");
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{alerter:?}"),
        alerter.describe(),
    ] {
        assert!(!shown.contains("AAHsecret"), "token leaked: {shown}");
    }
    assert_eq!(alerter.describe(), "telegram (chat -1001234567890)");
}

#[tokio::test]
async fn check_calls_get_me() {
    let server = WebhookServer::start();
    let found = TelegramAlerter::new(params(&server, ParseMode::None))
        .check()
        .await
        .unwrap();
    assert!(found.unwrap().contains("getMe"));
    let r = &server.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.clone()),
        ("GET", format!("/bot{TOKEN}/getMe"))
    );
}

fn build(v: Value) -> (bool, Vec<String>) {
    let mut registry = Registry::new();
    detectk_alerters_telegram::register(&mut registry);
    let map: Map<String, Value> = v.as_object().cloned().unwrap();
    let p = Params::new(&map, "alerter.params");
    match registry.alerter("telegram").unwrap().build(p) {
        Ok(_) => (true, Vec::new()),
        Err(e) => (false, e.issues.iter().map(|i| i.to_string()).collect()),
    }
}

#[test]
fn params_are_checked_all_at_once_without_showing_the_token() {
    let (ok, issues) = build(json!({"bot_token": "12:ab cd", "chat_id": [1],
        "parse_mode": "markdown", "api_url": "api.telegram.org"}));
    assert!(!ok);
    assert_eq!(
        issues,
        [
            "alerter.params.chat_id: must be a chat number (e.g. -1001234567890) or @channelname",
            "alerter.params.parse_mode: unknown value \"markdown\"; expected one of: none, HTML, MarkdownV2",
            "alerter.params.api_url: must start with https:// or http://",
            "alerter.params.bot_token: must be the token BotFather gave (no spaces, `/`, `?` or `#`)",
        ]
    );
    let (ok, issues) =
        build(json!({"bot_token": TOKEN, "chat_id": -100123, "message_thread_id": 7}));
    assert!(ok, "{issues:?}");
}
