//! Monitoring the monitor, end to end: `dtk run --metrics-file --pushgateway` and the
//! `heartbeat_url` pings, against recording HTTP servers on 127.0.0.1; the metrics
//! file is checked with `promtool check metrics` (Debian's `prometheus` package,
//! installed by scripts/services/promtool.sh).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{SAMPLE_END, dtk, sample_project, stderr, stdout};
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};

fn run(dir: &Path, hb: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = dtk();
    cmd.current_dir(dir)
        .env("DTK_TEST_HB", hb)
        .args(["run", "metrics", "--execution-time", SAMPLE_END])
        .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("dtk runs")
}

fn promtool_check(file: &Path) {
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .expect("promtool is installed (scripts/services/promtool.sh)");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

fn sample(text: &str, key: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {key} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn run_reports_to_the_metrics_file_the_pushgateway_and_the_heartbeats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sample_project(dir);
    let server = WebhookServer::start();
    let hb_metric = server.url_with_path("/hb/errors-secret-uuid");
    let hb_project = server.url_with_path("/hb/project-secret?create=1");
    let config = dir.join("metrics/site_errors.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\nheartbeat_url: {hb_metric}\n")).unwrap();
    std::fs::write(
        dir.join("detectk_project.yaml"),
        "version: 1\nheartbeat_url: ${DTK_TEST_HB}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.join("textfile")).unwrap();
    let prom = dir.join("textfile/dtk.prom");
    let push = server.url_with_path("/");
    let monitor_args = [
        "--metrics-file",
        "textfile/dtk.prom",
        "--pushgateway",
        push.as_str(),
    ];

    // 1. all metrics succeed: success pings, a push, a valid file
    let out = run(dir, &hb_project, &monitor_args, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let requests = server.wait_for_requests(3, Duration::from_secs(20));
    let mut seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("GET".into(), "/hb/errors-secret-uuid".into()),
            ("GET".into(), "/hb/project-secret?create=1".into()),
            ("PUT".into(), "/metrics/job/dtk".into()),
        ]
    );
    let pushed = requests.iter().find(|r| r.method == "PUT").unwrap();
    let first = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(pushed.text(), first, "the push carries the file's text");
    assert!(
        pushed
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    promtool_check(&prom);
    assert_eq!(sample(&first, r#"dtk_run_metrics{status="ok"}"#), 3.0);
    assert_eq!(
        sample(
            &first,
            r#"dtk_metric_last_run_success{metric="site_errors"}"#
        ),
        1.0
    );
    assert!(
        sample(
            &first,
            r#"dtk_metric_last_run_points{metric="site_sessions"}"#
        ) > 1000.0
    );
    assert!(
        sample(
            &first,
            r#"dtk_metric_alerts_sent_total{metric="site_sessions"}"#
        ) >= 1.0
    );
    let lag = sample(&first, r#"dtk_metric_lag_seconds{metric="site_sessions"}"#);
    assert!((0.0..=600.0).contains(&lag), "lag {lag}");
    let succeeded = sample(
        &first,
        r#"dtk_metric_last_success_timestamp_seconds{metric="site_errors"}"#,
    );
    assert!(succeeded > 1.7e9);

    // 2. site_errors fails: /fail pings, the file keeps its last success time
    let out = run(
        dir,
        &hb_project,
        &monitor_args,
        &[("DETECTK_TEST_PANIC", "site_errors")],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let requests = server.wait_for_requests(6, Duration::from_secs(20));
    let mut paths: Vec<&str> = requests[3..].iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/hb/errors-secret-uuid/fail",
            "/hb/project-secret/fail?create=1",
            "/metrics/job/dtk"
        ]
    );
    let second = std::fs::read_to_string(&prom).unwrap();
    promtool_check(&prom);
    let key = r#"dtk_metric_last_success_timestamp_seconds{metric="site_errors"}"#;
    assert_eq!(
        sample(&second, key),
        succeeded,
        "carried over from the previous file"
    );
    assert_eq!(
        sample(
            &second,
            r#"dtk_metric_last_run_success{metric="site_errors"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(
            &second,
            r#"dtk_metric_runs_total{metric="site_errors",result="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &second,
            r#"dtk_metric_runs_total{metric="site_errors",result="failed"}"#
        ),
        1.0
    );
    assert_eq!(sample(&second, r#"dtk_runs_total{result="failed"}"#), 1.0);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    for token in ["errors-secret-uuid", "project-secret"] {
        assert!(!all.contains(token), "a heartbeat URL leaked: {all}");
    }

    // 3. a failing Pushgateway fails the run; a failing heartbeat only warns, by host
    let failing = WebhookServer::start();
    failing.set_fallback(Reply::Status(500));
    let hb_down = failing.url_with_path("/hb/down-secret");
    let push_down = failing.url_with_path("/");
    let out = run(dir, &hb_down, &["--pushgateway", push_down.as_str()], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    let host = format!("http://{}/***", failing.addr());
    assert!(
        err.contains(&format!(
            "error: --pushgateway: push to {host} answered HTTP 500"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "warning: project: heartbeat ping to {host} answered HTTP 500"
        )),
        "{err}"
    );
    assert!(!err.contains("down-secret"), "{err}");

    // 4. --dry-run writes, pings and pushes nothing; a missing directory is a usage error
    let before = server.request_count();
    let written = std::fs::read_to_string(&prom).unwrap();
    let out = run(
        dir,
        &hb_project,
        &["--dry-run", "--metrics-file", "textfile/dtk.prom"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.request_count(), before);
    assert_eq!(
        std::fs::read_to_string(&prom).unwrap(),
        written,
        "a dry run writes nothing"
    );
    let out = run(dir, &hb_project, &["--metrics-file", "nope/dtk.prom"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--metrics-file") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
}
