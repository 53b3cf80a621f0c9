//! The email alerter against a real SMTP server on 127.0.0.1 that records messages:
//! login, several recipients, text and HTML parts, retries of transient replies only,
//! and the password never shown.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use detectk_alerters_email::EmailAlerter;
use detectk_alerters_email::EmailParams;
use detectk_core::alert::{AlertSettings, RetryPolicy, sample_message};
use detectk_core::config::Params;
use detectk_core::testkit::smtp_server::{SmtpReply, SmtpServer};
use detectk_core::{AlertErrorKind, AlertMessage, Alerter, Registry};
use serde_json::{Map, Value, json};

const PASSWORD: &str = "pa55-SMTP-secret";

fn message() -> AlertMessage {
    let at = Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap();
    let mut m = sample_message("orders_eu", &AlertSettings::default(), &[], at);
    m.text = "ANOMALY: orders_eu\nValue: 180 <above> 110 & rising".into();
    m
}

fn params(server: &SmtpServer, extra: Value) -> Value {
    let mut p = json!({
        "smtp_host": "127.0.0.1",
        "smtp_port": server.addr().port(),
        "security": "none",
        "from": "DetectK <alerts@example.com>",
        "to": ["oncall@example.com", "Data Team <data@example.com>"],
        "timeout": 2,
    });
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap());
    p
}

fn parse(v: Value) -> (Option<EmailParams>, Vec<String>) {
    let map: Map<String, Value> = v.as_object().cloned().unwrap();
    let mut p = Params::new(&map, "alerter.params");
    let parsed = EmailParams::parse(&mut p);
    (
        parsed,
        p.finish().issues.iter().map(|i| i.to_string()).collect(),
    )
}

fn alerter(server: &SmtpServer, extra: Value) -> EmailAlerter {
    let (parsed, issues) = parse(params(server, extra));
    assert!(issues.is_empty(), "{issues:?}");
    let mut parsed = parsed.unwrap();
    parsed.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    };
    EmailAlerter::new(parsed).unwrap()
}

#[tokio::test]
async fn logs_in_and_sends_text_and_html_to_every_recipient() {
    let server = SmtpServer::with_auth("alerts@example.com", PASSWORD);
    let a = alerter(
        &server,
        json!({"username": "alerts@example.com", "password": PASSWORD}),
    );
    a.send(&message()).await.unwrap();
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.accepted);
    assert_eq!(mail.user.as_deref(), Some("alerts@example.com"));
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, ["oncall@example.com", "data@example.com"]);
    assert_eq!(
        mail.header("subject").as_deref(),
        Some("[DetectK] Test alert for orders_eu")
    );
    assert_eq!(
        mail.header("from").as_deref(),
        Some("DetectK <alerts@example.com>")
    );
    let to = mail.header("to").unwrap();
    assert!(
        to.contains("oncall@example.com") && to.contains("data@example.com"),
        "{to}"
    );
    assert!(
        mail.header("content-type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{:?}",
        mail.header("content-type")
    );
    let data = &mail.data;
    assert!(
        data.contains("Content-Type: text/plain; charset=utf-8"),
        "{data}"
    );
    assert!(
        data.contains("Content-Type: text/html; charset=utf-8"),
        "{data}"
    );
    assert!(data.contains("Value: 180 <above> 110 & rising"), "{data}");
    assert!(
        data.contains("Value: 180 &lt;above&gt; 110 &amp; rising"),
        "{data}"
    );
    assert!(!data.contains(PASSWORD));
}

#[tokio::test]
async fn transient_replies_are_retried_and_permanent_ones_are_not() {
    let server = SmtpServer::with_replies([SmtpReply::Code(451, "4.3.0 try again later".into())]);
    alerter(&server, json!({})).send(&message()).await.unwrap();
    let mails = server.mails();
    assert_eq!(mails.len(), 2);
    assert!(!mails[0].accepted && mails[1].accepted);

    let server =
        SmtpServer::with_replies([SmtpReply::Code(550, "5.1.1 mailbox unavailable".into())]);
    let err = alerter(&server, json!({}))
        .send(&message())
        .await
        .unwrap_err();
    assert_eq!(server.mails().len(), 1);
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    assert!(err.to_string().contains("mailbox unavailable"), "{err}");
}

#[tokio::test]
async fn a_refused_login_is_not_retried_and_never_shows_the_password() {
    let server = SmtpServer::with_auth("alerts@example.com", "the-right-one");
    let a = alerter(
        &server,
        json!({"username": "alerts@example.com", "password": PASSWORD}),
    );
    let err = a.send(&message()).await.unwrap_err();
    assert_eq!(
        server.failed_logins(),
        ["alerts@example.com"],
        "one attempt"
    );
    assert!(server.mails().is_empty());
    assert_eq!(err.kind, AlertErrorKind::Rejected);
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{a:?}"),
        a.describe(),
    ] {
        assert!(!shown.contains(PASSWORD), "password leaked: {shown}");
    }
    assert_eq!(
        a.describe(),
        format!("email (127.0.0.1:{}, 2 recipients)", server.addr().port())
    );
}

#[tokio::test]
async fn starttls_is_required_when_configured() {
    let server = SmtpServer::start();
    let a = alerter(&server, json!({"security": "starttls"}));
    let err = a.send(&message()).await.unwrap_err();
    assert!(server.mails().is_empty(), "nothing is sent in the clear");
    assert_ne!(err.kind, AlertErrorKind::Timeout);
}

#[tokio::test]
async fn check_connects_and_logs_in_without_sending() {
    let server = SmtpServer::with_auth("u", PASSWORD);
    let a = alerter(&server, json!({"username": "u", "password": PASSWORD}));
    assert!(a.check().await.unwrap().unwrap().contains("accepted"));
    assert!(server.mails().is_empty());
}

#[test]
fn params_are_checked_all_at_once() {
    let mut registry = Registry::new();
    detectk_alerters_email::register(&mut registry);
    let map: Map<String, Value> = json!({"smtp_host": "smtp.example.com", "security": "ssl",
        "password": "x", "from": "not an address", "to": ["ok@example.com", "bad@"]})
    .as_object()
    .cloned()
    .unwrap();
    let p = Params::new(&map, "alerter.params");
    let Err(e) = registry.alerter("email").unwrap().build(p) else {
        panic!("built with bad params");
    };
    let issues: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
    assert_eq!(issues.len(), 4, "{issues:?}");
    assert!(issues[0].starts_with("alerter.params.security: unknown value \"ssl\""));
    assert_eq!(
        issues[1],
        "alerter.params.username: is required when a password is set"
    );
    assert!(
        issues[2]
            .starts_with("alerter.params.from: \"not an address\" is not a valid email address")
    );
    assert!(issues[3].starts_with("alerter.params.to: \"bad@\" is not a valid email address"));
    let (_, issues) = parse(json!({"smtp_host": "h", "from": "a@b.c", "to": []}));
    assert_eq!(
        issues,
        ["alerter.params.to: must be an address or a non-empty list of addresses"]
    );
}
