//! Every new channel through real `dtk run` processes: a SQLite source whose newest
//! point is anomalous, the channel pointed at a recording server on 127.0.0.1 (HTTP,
//! or SMTP for email), the payload as the service documents it, and no token,
//! password or URL in stdout or stderr, also when delivery fails.

#![cfg(all(
    feature = "sqlite",
    feature = "telegram",
    feature = "email",
    feature = "webhook",
    feature = "teams",
    feature = "pagerduty"
))]

mod common;

use std::path::Path;
use std::process::Output;

use common::{dtk, series_metric_yaml, stderr, stdout, write_series_source};
use detectk_core::testkit::smtp_server::SmtpServer;
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};

/// The execution time: the newest complete point is 02:00, the anomalous one.
const NEWEST: &str = "2024-03-01 02:10:00";

/// A project with `source.db`: 100 every 10 minutes, and 500 at 02:00.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f64> = (0..=12)
        .map(|i| if i == 12 { 500.0 } else { 100.0 })
        .collect();
    write_series_source(dir.path(), &values);
    dir
}

/// Writes `m.yaml` with this `alerter:` block (indented YAML) and runs it.
fn run(dir: &Path, alerter: &str) -> Output {
    let yaml = series_metric_yaml(&format!("alerter:\n{alerter}"));
    std::fs::write(dir.join("m.yaml"), yaml).unwrap();
    dtk()
        .current_dir(dir)
        .args(["run", "m.yaml", "--execution-time", NEWEST])
        .output()
        .unwrap()
}

fn assert_hidden(out: &Output, secrets: &[&str]) {
    for shown in [stdout(out), stderr(out)] {
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }
}

#[test]
fn telegram_sends_one_message_and_hides_the_token() {
    let dir = project();
    let server = WebhookServer::start();
    let alerter = format!(
        "  type: telegram\n  params:\n    bot_token: \"42:SECRETtoken\"\n    chat_id: -100777\n    \
         parse_mode: MarkdownV2\n    message_thread_id: 9\n    api_url: \"{}\"",
        server.url_with_path("")
    );
    let out = run(dir.path(), &alerter);
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/bot42:SECRETtoken/sendMessage");
    let body = requests[0].json();
    assert_eq!(body["chat_id"], -100777);
    assert_eq!(body["parse_mode"], "MarkdownV2");
    assert_eq!(body["message_thread_id"], 9);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("*ANOMALY: orders*\n"),
        "{body}"
    );
    assert_hidden(&out, &["SECRETtoken"]);

    // The same point again: already sent, nothing new.
    let again = run(dir.path(), &alerter);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_failed_telegram_delivery_fails_the_run_without_the_token() {
    let dir = project();
    let server = WebhookServer::with_replies([Reply::Body(
        401,
        r#"{"ok":false,"error_code":401,"description":"Unauthorized: bot42:SECRETtoken"}"#.into(),
    )]);
    let alerter = format!(
        "  type: telegram\n  params:\n    bot_token: \"42:SECRETtoken\"\n    chat_id: \"@ops\"\n    api_url: \"{}\"",
        server.url_with_path("")
    );
    let out = run(dir.path(), &alerter);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert_eq!(server.request_count(), 1, "4xx is not retried");
    assert_hidden(&out, &["SECRETtoken"]);
}

#[test]
fn email_reaches_every_recipient() {
    let dir = project();
    let server = SmtpServer::with_auth("bot@example.com", "SMTPsecret");
    let alerter = format!(
        "  type: email\n  params:\n    smtp_host: 127.0.0.1\n    smtp_port: {}\n    security: none\n    \
         username: bot@example.com\n    password: SMTPsecret\n    from: \"DetectK <bot@example.com>\"\n    \
         to: [a@example.com, b@example.com]",
        server.addr().port()
    );
    let out = run(dir.path(), &alerter);
    assert!(out.status.success(), "{}", stderr(&out));
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["a@example.com", "b@example.com"]);
    assert_eq!(
        mails[0].header("subject").as_deref(),
        Some("[DetectK] Anomaly in orders")
    );
    assert_hidden(&out, &["SMTPsecret"]);
}

#[test]
fn webhook_teams_and_pagerduty_post_their_documented_payloads() {
    let dir = project();
    let server = WebhookServer::start();
    let out = run(
        dir.path(),
        &format!(
            "  type: webhook\n  params:\n    url: \"{}\"\n    headers: {{X-Api-Key: HEADERsecret}}",
            server.url_with_path("/in?key=URLsecret")
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &server.requests()[0];
    assert_eq!(r.header("x-api-key"), Some("HEADERsecret"));
    assert_eq!(r.json()["metric_name"], "orders");
    assert_eq!(r.json()["kind"], "anomaly");
    assert_eq!(r.json()["value"], 500.0);
    assert_hidden(&out, &["HEADERsecret", "URLsecret"]);

    let dir = project();
    let server = WebhookServer::with_replies([Reply::Status(202)]);
    let out = run(
        dir.path(),
        &format!(
            "  type: teams\n  params:\n    webhook_url: \"{}\"",
            server.url_with_path("/wf?sig=SIGsecret")
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let body = server.requests()[0].json();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(body["attachments"][0]["content"]["type"], "AdaptiveCard");
    assert_hidden(&out, &["SIGsecret"]);

    let dir = project();
    let server = WebhookServer::with_replies([Reply::Status(202)]);
    let out = run(
        dir.path(),
        &format!(
            "  type: pagerduty\n  params:\n    routing_key: PDsecretKEY\n    url: \"{}\"",
            server.url_with_path("/v2/enqueue")
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let event = server.requests()[0].json();
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["dedup_key"], "detectk/orders/2024-03-01T02:00:00Z");
    assert_eq!(event["routing_key"], "PDsecretKEY");
    assert_eq!(event["payload"]["component"], "orders");
    assert_eq!(event["payload"]["timestamp"], "2024-03-01T02:00:00Z");
    assert_hidden(&out, &["PDsecretKEY"]);
}
