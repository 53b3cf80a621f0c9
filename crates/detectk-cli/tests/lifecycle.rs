//! Snoozes and acks through separate `dtk` processes over one SQLite storage and a
//! recording webhook server: they hold across processes, expire, and the run reports
//! what they suppressed and why.

#![cfg(all(feature = "sqlite", feature = "webhook"))]

mod common;

use std::path::Path;
use std::process::Output;

use common::{
    dtk, series_metric_yaml, sqlite_rows, stderr, stdout, two_incidents, write_series_source,
};
use detectk_core::testkit::webhook_server::WebhookServer;

/// A project over [`two_incidents`] (threshold 300).
fn project(server: &WebhookServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_series_source(dir.path(), &two_incidents());
    let yaml = series_metric_yaml(&format!(
        "storage: {{type: sqlite, params: {{connection_string: \"sqlite:///store.db\"}}}}\n\
         alerter: {{type: webhook, params: {{url: \"{}\", max_retries: 0}}, \
         conditions: {{cooldown_minutes: 10, notify_recovery: true}}}}",
        server.url()
    ));
    std::fs::write(dir.path().join("m.yaml"), yaml).unwrap();
    dir
}

fn dtk_in(dir: &Path, args: &[&str]) -> Output {
    let out = dtk().current_dir(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "dtk {args:?} failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// `dtk run` as of `time` (a separate process each time).
fn run_at(dir: &Path, time: &str) -> String {
    stdout(&dtk_in(dir, &["run", "m.yaml", "--execution-time", time]))
}

/// `key|status|error` of every row of `dtk_alerts`, by key.
fn alert_rows(dir: &Path) -> Vec<String> {
    sqlite_rows(
        &dir.join("store.db"),
        "SELECT alert_key, status, error FROM dtk_alerts ORDER BY alert_key",
    )
}

fn kinds(server: &WebhookServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.json()["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_snooze_holds_across_processes_until_removed_or_expired() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    let out = dtk_in(
        dir,
        &[
            "snooze",
            "orders",
            "--configs",
            "m.yaml",
            "--for",
            "2h",
            "--reason",
            "deploy",
        ],
    );
    assert!(
        stdout(&out).starts_with("snoozed `orders` until "),
        "{}",
        stdout(&out)
    );
    let listed = stdout(&dtk_in(dir, &["snoozes", "m.yaml"]));
    assert!(
        listed.contains("orders  snoozed until ") && listed.contains("(deploy)"),
        "{listed}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&dtk_in(
        dir,
        &["snoozes", "m.yaml", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(json["holds"][0]["metric"], "orders");
    assert_eq!(json["holds"][0]["kind"], "snooze");
    assert_eq!(json["holds"][0]["reason"], "deploy");

    // The anomaly at 02:00 is suppressed, and the report says why.
    let report = run_at(dir, "2024-03-01 02:10:00");
    assert!(
        report.contains("(reason: deploy): the anomaly alert was suppressed"),
        "{report}"
    );
    assert_eq!(server.request_count(), 0);
    // It is recorded as suppressed with the reason, once: a re-run of the same point
    // neither adds a row nor sends it.
    let rows = alert_rows(dir);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].starts_with("anomaly:2024-03-01T02:00:00Z|suppressed|snoozed until ")
            && rows[0].ends_with("(reason: deploy): the anomaly alert was suppressed"),
        "{rows:?}"
    );
    run_at(dir, "2024-03-01 02:10:00");
    assert_eq!(alert_rows(dir), rows);
    assert_eq!(server.request_count(), 0);
    // The report shows it as suppressed, with the reason.
    dtk_in(
        dir,
        &[
            "report",
            "m.yaml",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-02",
            "-o",
            "r.html",
        ],
    );
    let page = std::fs::read_to_string(dir.join("r.html")).unwrap();
    assert!(
        page.contains("not sent: snoozed until ") && page.contains("(reason: deploy)"),
        "{page}"
    );

    // Unsnoozed: the next point alerts.
    let out = dtk_in(dir, &["unsnooze", "orders", "--configs", "m.yaml"]);
    assert_eq!(stdout(&out), "unsnoozed `orders`\n");
    run_at(dir, "2024-03-01 02:20:00");
    assert_eq!(kinds(&server), ["anomaly"]);

    // A snooze that started three hours ago for two hours no longer holds anything.
    let past = (chrono::Utc::now() - chrono::TimeDelta::hours(3)).to_rfc3339();
    dtk_in(
        dir,
        &[
            "snooze",
            "orders",
            "--configs",
            "m.yaml",
            "--for",
            "2h",
            "--now",
            &past,
        ],
    );
    assert_eq!(
        stdout(&dtk_in(dir, &["snoozes", "m.yaml"])),
        "no metric is snoozed or acknowledged\n"
    );
    run_at(dir, "2024-03-01 02:30:00");
    assert_eq!(kinds(&server), ["anomaly", "anomaly"]);
}

#[test]
fn an_ack_holds_repeats_until_the_metric_recovers() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    run_at(dir, "2024-03-01 02:10:00");
    assert_eq!(kinds(&server), ["anomaly"]);
    let out = dtk_in(
        dir,
        &["ack", "orders", "--configs", "m.yaml", "--reason", "on it"],
    );
    assert!(
        stdout(&out).starts_with("acknowledged `orders` (on it)"),
        "{}",
        stdout(&out)
    );

    // After the cooldown the open incident would repeat: held, by another process each time.
    for time in [
        "2024-03-01 02:20:00",
        "2024-03-01 02:30:00",
        "2024-03-01 02:40:00",
    ] {
        let report = run_at(dir, time);
        assert!(
            report.contains("(reason: on it): the anomaly alert was suppressed"),
            "{time}: {report}"
        );
    }
    assert_eq!(kinds(&server), ["anomaly"]);
    assert!(stdout(&dtk_in(dir, &["snoozes", "m.yaml"])).contains("orders  acknowledged at "));
    let statuses: Vec<String> = alert_rows(dir)
        .iter()
        .map(|r| r.split('|').take(2).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(
        statuses,
        [
            "anomaly:2024-03-01T02:00:00Z|sent",
            "anomaly:2024-03-01T02:10:00Z|suppressed",
            "anomaly:2024-03-01T02:20:00Z|suppressed",
            "anomaly:2024-03-01T02:30:00Z|suppressed",
        ]
    );
    assert!(
        alert_rows(dir)[1].contains("acknowledged at ")
            && alert_rows(dir)[1].contains("(reason: on it)")
    );

    // 02:40 is normal: the recovery is sent and the ack is gone.
    run_at(dir, "2024-03-01 02:50:00");
    assert_eq!(kinds(&server), ["anomaly", "recovery"]);
    assert_eq!(
        stdout(&dtk_in(dir, &["snoozes", "m.yaml"])),
        "no metric is snoozed or acknowledged\n"
    );
    // A new incident alerts again.
    run_at(dir, "2024-03-01 03:00:00");
    assert_eq!(kinds(&server), ["anomaly", "recovery", "anomaly"]);
}

#[test]
fn hold_commands_name_what_is_wrong() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let out = dtk()
        .current_dir(dir.path())
        .args(["snooze", "--configs", "m.yaml", "--for", "2h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("name a metric or pass --select"),
        "{}",
        stderr(&out)
    );
    let out = dtk()
        .current_dir(dir.path())
        .args([
            "snooze",
            "orders",
            "--configs",
            "m.yaml",
            "--for",
            "3 fortnights",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--for"), "{}", stderr(&out));
    let out = dtk()
        .current_dir(dir.path())
        .args(["ack", "nothing_like_this", "--configs", "m.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no metric matches the selection"),
        "{}",
        stderr(&out)
    );
}

/// The output of the hold commands, pinned (a snooze set in the far future with the
/// hidden `--now`, so its times are fixed).
#[test]
fn hold_command_output_is_pinned() {
    let server = WebhookServer::start();
    let dir = project(&server);
    let dir = dir.path();
    let snooze = [
        "snooze",
        "--select",
        "orders",
        "--configs",
        "m.yaml",
        "--for",
        "1h 30m",
        "--reason",
        "deploy",
        "--now",
        "2099-01-01 00:00:00",
    ];
    insta::assert_snapshot!("snooze_text", stdout(&dtk_in(dir, &snooze)));
    insta::assert_snapshot!("snoozes_text", stdout(&dtk_in(dir, &["snoozes", "m.yaml"])));
    let json = stdout(&dtk_in(dir, &["snoozes", "m.yaml", "--format", "json"]));
    insta::assert_snapshot!("snoozes_json", json);
    let report = run_at(dir, "2024-03-01 02:10:00");
    insta::assert_snapshot!("snoozed_run_text", report);
    insta::assert_snapshot!(
        "unsnooze_text",
        stdout(&dtk_in(dir, &["unsnooze", "orders", "--configs", "m.yaml"]))
    );
    insta::assert_snapshot!(
        "unsnooze_again_text",
        stdout(&dtk_in(dir, &["unsnooze", "orders", "--configs", "m.yaml"]))
    );
}
