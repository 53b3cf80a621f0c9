//! Several alerters per metric through real `dtk run` processes: each alerter has its
//! own conditions (score, severity), its own claims (a failing channel neither blocks
//! nor repeats another), and `alerter:` keeps the state key it always had.

#![cfg(all(feature = "sqlite", feature = "webhook"))]

mod common;

use std::path::Path;
use std::process::Output;

use common::{dtk, series_metric_yaml, sqlite_rows, stderr, write_series_source};
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};

/// A project whose source has 100 every 10 minutes and 500 at 02:00 (threshold 300:
/// the anomaly scores 200).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f64> = (0..=12)
        .map(|i| if i == 12 { 500.0 } else { 100.0 })
        .collect();
    write_series_source(dir.path(), &values);
    dir
}

fn run(dir: &Path, alerting: &str) -> Output {
    let yaml = series_metric_yaml(&format!(
        "storage: {{type: sqlite, params: {{connection_string: \"sqlite:///store.db\"}}}}\n{alerting}"
    ));
    std::fs::write(dir.join("m.yaml"), yaml).unwrap();
    dtk()
        .current_dir(dir)
        .args(["run", "m.yaml", "--execution-time", "2024-03-01 02:10:00"])
        .output()
        .unwrap()
}

fn hook(name: Option<&str>, server: &WebhookServer, conditions: &str) -> String {
    let name = name.map(|n| format!("name: {n}, ")).unwrap_or_default();
    format!(
        "{{{name}type: webhook, params: {{url: \"{}\", max_retries: 0}}, conditions: {{{conditions}}}}}",
        server.url()
    )
}

#[test]
fn each_alerter_routes_by_its_own_conditions_and_claims() {
    let dir = project();
    let chat = WebhookServer::start();
    let quiet = WebhookServer::start();
    let pager = WebhookServer::start();
    let flaky = WebhookServer::with_replies([Reply::Status(500)]);
    let alerting = format!(
        "alerter: {}\nalerters:\n  - {}\n  - {}\n  - {}",
        hook(None, &chat, ""),
        hook(Some("quiet"), &quiet, "min_score: 1000"),
        hook(Some("pager"), &pager, "severity: critical"),
        hook(Some("flaky"), &flaky, ""),
    );
    let out = run(dir.path(), &alerting);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the flaky channel failed: {}",
        stderr(&out)
    );
    assert_eq!(chat.request_count(), 1);
    assert_eq!(
        quiet.request_count(),
        0,
        "score 200 is below min_score 1000"
    );
    assert_eq!(pager.request_count(), 1, "score 200 is critical");
    assert_eq!(pager.requests()[0].json()["severity"], "critical");
    assert_eq!(flaky.request_count(), 1);

    // A second process for the same point: only the failed channel sends again.
    let again = run(dir.path(), &alerting);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        (
            chat.request_count(),
            quiet.request_count(),
            pager.request_count(),
            flaky.request_count()
        ),
        (1, 0, 1, 2)
    );
    let keys = sqlite_rows(
        &dir.path().join("store.db"),
        "SELECT metric_name, status FROM dtk_alerts ORDER BY metric_name",
    );
    assert_eq!(
        keys,
        ["orders|sent", "orders#flaky|sent", "orders#pager|sent"],
        "alerter: keeps the metric's own key; alerters: entries their own"
    );
}

#[test]
fn duplicate_names_and_bad_conditions_are_reported_together() {
    let dir = project();
    let server = WebhookServer::start();
    let alerting = format!(
        "alerters:\n  - {}\n  - {}\n  - {}",
        hook(None, &server, "severity: urgent"),
        hook(None, &server, "min_score: -1"),
        hook(
            Some("bad name"),
            &server,
            "severity_cutoffs: {warning_score: 9, critical_score: 4}"
        ),
    );
    let out = run(dir.path(), &alerting);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for expected in [
        "alerters[0].conditions.severity: unknown severity \"urgent\"",
        "alerters[1].conditions.min_score: must be a number >= 0, got -1",
        "alerters[1].name: another alerter of this metric is named \"webhook\"",
        "alerters[2].name: \"bad name\" must be 1 to 50 letters",
        "alerters[2].conditions.severity_cutoffs.critical_score: must be at least warning_score (9), got 4",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert_eq!(server.request_count(), 0);
}

/// Writes metric `name` (with `tags`) into `dir/metrics`, alerting left to the project.
fn bare_metric(dir: &Path, name: &str, tags: &str, alerting: &str) {
    let yaml = format!(
        "name: {name}\ntags: [{tags}]\n\
         collector:\n  type: sqlite\n  params:\n    connection_string: \"sqlite:///../source.db\"\n    \
         query: \"SELECT ts AS period_time, v AS value FROM series WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts\"\n\
         storage: {{type: sqlite, params: {{connection_string: \"sqlite:///../store.db\"}}}}\n\
         detector: {{type: threshold, params: {{threshold: 300}}}}\n\
         {alerting}\n\
         schedule: {{interval: 10 minutes, batch_load_days: 1}}\n"
    );
    std::fs::create_dir_all(dir.join("metrics")).unwrap();
    std::fs::write(dir.join("metrics").join(format!("{name}.yaml")), yaml).unwrap();
}

#[test]
fn metrics_inherit_the_project_defaults_by_tag_and_may_override_them() {
    let dir = project();
    let chat = WebhookServer::start();
    let pager = WebhookServer::start();
    let own = WebhookServer::start();
    std::fs::write(
        dir.path().join("detectk_project.yaml"),
        format!(
            "version: 1\ndefaults:\n  alerters:\n    - {{name: chat, type: webhook, params: {{url: \"{}\"}}}}\n  \
             conditions: {{min_score: 50}}\n  by_tag:\n    payments:\n      alerters:\n        \
             - {{name: chat, type: webhook, params: {{url: \"{}\"}}}}\n        \
             - {{name: pager, type: webhook, params: {{url: \"{}\"}}, conditions: {{severity: critical}}}}\n",
            chat.url(),
            chat.url(),
            pager.url()
        ),
    )
    .unwrap();
    bare_metric(dir.path(), "plain", "", "");
    bare_metric(dir.path(), "checkout", "payments", "");
    bare_metric(
        dir.path(),
        "custom",
        "payments",
        &format!(
            "alerter: {{type: webhook, params: {{url: \"{}\"}}}}",
            own.url()
        ),
    );
    bare_metric(
        dir.path(),
        "strict",
        "",
        "alerters: [{type: webhook, params: {url: \"http://127.0.0.1:9/x\"}, conditions: {min_score: 100000}}]",
    );
    let out = dtk()
        .current_dir(dir.path())
        .args(["run", "metrics", "--execution-time", "2024-03-01 02:10:00"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut chat_metrics: Vec<String> = chat
        .requests()
        .iter()
        .map(|r| r.json()["metric_name"].as_str().unwrap().to_string())
        .collect();
    chat_metrics.sort();
    assert_eq!(chat_metrics, ["checkout", "plain"]);
    assert_eq!(pager.request_count(), 1);
    assert_eq!(pager.requests()[0].json()["metric_name"], "checkout");
    assert_eq!(
        own.request_count(),
        1,
        "its own alerter replaces the defaults"
    );
    assert_eq!(own.requests()[0].json()["metric_name"], "custom");
}

#[test]
fn a_bad_project_file_is_reported_whole() {
    let dir = project();
    std::fs::write(
        dir.path().join("detectk_project.yaml"),
        "version: 1\ndefaults:\n  alerter: {type: console}\n  conditions: {severity: loud}\n  by_tag:\n    x: {alerters: [{name: a}]}\n",
    )
    .unwrap();
    bare_metric(dir.path(), "plain", "", "");
    let out = dtk()
        .current_dir(dir.path())
        .args(["validate", "metrics"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for expected in [
        "detectk_project.yaml: defaults.alerter: unknown key",
        "detectk_project.yaml: defaults.conditions.severity: unknown severity \"loud\"",
        "detectk_project.yaml: defaults.by_tag.x.alerters[0].type: is required",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn a_digest_channel_gets_one_message_per_run_and_each_alert_once() {
    let dir = project();
    let digest = WebhookServer::with_replies([Reply::Status(500)]);
    let direct = WebhookServer::start();
    let alerting = format!(
        "alerter: {{type: webhook, digest: true, params: {{url: \"{}\", max_retries: 0}}}}\n\
         alerters: [{{name: direct, type: webhook, params: {{url: \"{}\"}}}}]",
        digest.url(),
        direct.url()
    );
    for name in ["orders_a", "orders_b", "orders_c"] {
        bare_metric(dir.path(), name, "", &alerting);
    }
    let run = || {
        dtk()
            .current_dir(dir.path())
            .args(["run", "metrics", "--execution-time", "2024-03-01 02:10:00"])
            .output()
            .unwrap()
    };
    // The digest endpoint fails once: the run fails, the alerts are recorded as failed.
    let first = run();
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    assert_eq!(digest.request_count(), 1);
    assert_eq!(
        direct.request_count(),
        3,
        "non-digest alerters send at once"
    );
    // The next run sends the digest again, with all three metrics, as one message.
    let second = run();
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        common::stdout(&second).contains("digest sent via webhook"),
        "{}",
        common::stdout(&second)
    );
    let requests = digest.requests();
    assert_eq!(requests.len(), 2);
    let body = requests[1].json();
    assert_eq!(
        body["title"],
        "DetectK digest: 3 anomalies, 0 recoveries in 3 metrics"
    );
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("Anomalies (3):"), "{text}");
    for name in ["orders_a", "orders_b", "orders_c"] {
        assert!(
            text.contains(&format!("- {name}: value 500 at 2024-03-01 02:00:00 UTC")),
            "{text}"
        );
    }
    // A third run for the same point: everything was sent once.
    let third = run();
    assert!(third.status.success(), "{}", stderr(&third));
    assert_eq!((digest.request_count(), direct.request_count()), (2, 3));
    let rows = sqlite_rows(
        &dir.path().join("store.db"),
        "SELECT metric_name, status FROM dtk_alerts WHERE metric_name NOT LIKE '%#%' ORDER BY metric_name",
    );
    assert_eq!(rows, ["orders_a|sent", "orders_b|sent", "orders_c|sent"]);
}

#[test]
fn racing_runs_put_each_alert_in_exactly_one_digest() {
    let dir = project();
    let digest = WebhookServer::start();
    let alerting = format!(
        "alerter: {{type: webhook, digest: true, params: {{url: \"{}\"}}}}",
        digest.url()
    );
    let names = ["race_a", "race_b", "race_c", "race_d"];
    for name in names {
        bare_metric(dir.path(), name, "", &alerting);
    }
    let children: Vec<_> = (0..3)
        .map(|_| {
            dtk()
                .current_dir(dir.path())
                .args(["run", "metrics", "--execution-time", "2024-03-01 02:10:00"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut listed: Vec<String> = digest
        .requests()
        .iter()
        .flat_map(|r| {
            r.json()["text"]
                .as_str()
                .unwrap()
                .lines()
                .filter(|l| l.starts_with("- "))
                .map(|l| {
                    l.split(':')
                        .next()
                        .unwrap()
                        .trim_start_matches("- ")
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    listed.sort();
    assert_eq!(listed, names, "every alert in exactly one digest");
}
