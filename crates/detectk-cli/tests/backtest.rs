//! `dtk backtest` replays the alert policy exactly as consecutive `dtk run`s send it.
//!
//! A small SQLite project (two metrics, real detectors, Mattermost alerters pointing at
//! recording webhook servers on 127.0.0.1) is backtested first (nothing written), then
//! the real binary runs tick by tick over the same day, and the alerts the servers
//! received are compared with the backtest's, point by point; a backtest over the
//! stored history afterwards gives the same alerts again.

#![cfg(all(feature = "sqlite", feature = "mattermost"))]

mod common;

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use common::{run_in, sqlite_rows, stderr, stdout};
use detectk_core::testkit::webhook_server::WebhookServer;
use serde_json::Value;

const STEP_MIN: i64 = 10;
/// History before the replayed day, and the replayed day, in points.
const HISTORY: i64 = 144;
const TICKS: i64 = 144;

fn start() -> DateTime<Utc> {
    NaiveDateTime::parse_from_str("2024-05-02 00:00:00", "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
}

fn at(i: i64) -> DateTime<Utc> {
    start() + TimeDelta::minutes(STEP_MIN * i)
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A daily wave with deterministic noise, and incidents of 1, 2, 3 and 7 points.
fn value(i: i64) -> f64 {
    let wave = 100.0 + 10.0 * (std::f64::consts::TAU * i as f64 / 144.0).sin();
    let noise = ((i * 7919).rem_euclid(13) - 6) as f64 * 0.5;
    let incident = match i {
        20 => 60.0,
        40..=41 => 45.0,
        60..=62 => -50.0,
        90..=96 => 55.0,
        120 => 25.0,
        _ => 0.0,
    };
    wave + noise + incident
}

fn make_source(db: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE src (ts TEXT NOT NULL, value REAL)")
            .execute(&pool)
            .await
            .unwrap();
        for i in -HISTORY..TICKS {
            sqlx::query("INSERT INTO src VALUES (?, ?)")
                .bind(fmt(at(i)))
                .bind(value(i))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
}

fn config(name: &str, detectors: &str, conditions: &str, webhook: &str) -> String {
    format!(
        r#"name: {name}
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///../data.db"
    query: |
      SELECT ts AS period_time, value FROM src
      WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts
detectors:
{detectors}
alerter:
  type: mattermost
  params: {{webhook_url: "{webhook}", max_retries: 0}}
  conditions: {conditions}
schedule:
  interval: 10 minutes
  start_time: "{start}"
  end_time: "{end}"
"#,
        start = fmt(at(0)),
        end = fmt(at(TICKS)),
    )
}

/// (kind, point, consecutive) of every message a server received, in order.
fn received(server: &WebhookServer) -> Vec<(String, String, u64)> {
    server
        .requests()
        .iter()
        .map(|r| {
            let text = r.json()["text"].as_str().unwrap_or_default().to_string();
            let kind = if text.starts_with("ANOMALY") {
                "anomaly"
            } else if text.starts_with("RECOVERED") {
                "recovery"
            } else {
                panic!("unexpected message: {text}")
            };
            let line = |prefix: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(prefix))
                    .map(str::to_string)
            };
            let time = line("Time: ").expect("a Time line");
            let consecutive = line("Anomalous points in a row: ").map_or(1, |n| n.parse().unwrap());
            (kind.to_string(), time[..19].to_string(), consecutive)
        })
        .collect()
}

/// The same triples from `dtk backtest --format json`, per metric name.
fn replayed(doc: &Value, metric: &str) -> Vec<(String, String, u64)> {
    let m = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == metric)
        .unwrap_or_else(|| panic!("{metric} missing in {doc}"));
    m["alert"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let t: DateTime<Utc> = a["timestamp"].as_str().unwrap().parse().unwrap();
            (
                a["kind"].as_str().unwrap().to_string(),
                fmt(t),
                a["consecutive"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn backtest(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "backtest",
        "metrics",
        "--labels",
        "labels.yaml",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args);
    assert!(out.status.success(), "backtest failed: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn backtest_alerts_equal_what_consecutive_runs_sent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    make_source(&root.join("data.db"));
    let basic_server = WebhookServer::start();
    let share_server = WebhookServer::start();
    std::fs::create_dir(root.join("metrics")).unwrap();
    std::fs::write(root.join("detectk_profiles.yaml"), "profiles: {}\n").unwrap();
    std::fs::write(
        root.join("metrics/bt_basic.yaml"),
        config(
            "bt_basic",
            "  - {type: zscore, params: {use_weighted: false, window_size: 1 day, n_sigma: 3.0}}\n  - {type: mad, params: {use_weighted: false, window_size: 1 day, n_sigma: 4.0}}",
            "{consecutive_anomalies: 1, cooldown_minutes: 30, notify_recovery: true}",
            &basic_server.url(),
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("metrics/bt_share.yaml"),
        config(
            "bt_share",
            "  - {type: zscore, params: {use_weighted: false, window_size: 1 day, n_sigma: 3.0}}",
            "{min_anomaly_share: {k: 2, n: 3}, cooldown_minutes: 0, min_abs_deviation: 5, direction: up}",
            &share_server.url(),
        ),
    )
    .unwrap();
    let labels = format!(
        "bt_basic:\n  - ['{}', '{}']\n  - ['{}', '{}']\nbt_share:\n  - ['{}', '{}']\n",
        fmt(at(19)),
        fmt(at(22)),
        fmt(at(89)),
        fmt(at(99)),
        fmt(at(88)),
        fmt(at(100)),
    );
    std::fs::write(root.join("labels.yaml"), labels).unwrap();

    // Backtest from the source: nothing is written, nothing is sent.
    let before = backtest(root, &["--collect"]);
    assert_eq!(
        sqlite_rows(
            &root.join("data.db"),
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'dtk_%'"
        ),
        ["0"],
        "backtest must not create or write DetectK tables"
    );
    assert_eq!(
        basic_server.request_count() + share_server.request_count(),
        0
    );

    // The real binary, one cron tick per interval.
    for i in 0..TICKS {
        let t = fmt(at(i + 1));
        let out = run_in(root, &["-q", "run", "metrics", "--execution-time", &t]);
        assert!(out.status.success(), "run at {t}: {}", stderr(&out));
    }
    let sent_basic = received(&basic_server);
    let sent_share = received(&share_server);
    assert!(
        sent_basic.iter().filter(|a| a.0 == "anomaly").count() >= 3
            && sent_basic.iter().any(|a| a.0 == "recovery")
            && sent_basic.iter().any(|a| a.2 > 1),
        "the scenario should exercise alerts, recoveries and runs: {sent_basic:?}"
    );
    assert!(!sent_share.is_empty(), "{sent_share:?}");

    assert_eq!(replayed(&before, "bt_basic"), sent_basic);
    assert_eq!(replayed(&before, "bt_share"), sent_share);

    // From the stored history the runs left behind: the same alerts.
    let after = backtest(root, &[]);
    assert_eq!(replayed(&after, "bt_basic"), sent_basic);
    assert_eq!(replayed(&after, "bt_share"), sent_share);

    // The labelled windows are counted and the scores are sums over both metrics.
    let totals = &after["totals"]["alert"]["tally"];
    assert_eq!(totals["windows"], 3);
    let hits = after["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["alert"]["tally"]["hits"].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(totals["hits"].as_u64().unwrap(), hits);
}

#[test]
fn bad_labels_are_a_usage_error_naming_the_file_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("metrics")).unwrap();
    std::fs::write(
        root.join("labels.yaml"),
        "m1:\n  - ['2024-01-01', 'later']\n",
    )
    .unwrap();
    let out = run_in(root, &["backtest", "metrics", "--labels", "labels.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("labels.yaml"), "{err}");
    assert!(err.contains("m1[0].end: invalid time \"later\""), "{err}");
}

/// One project with one metric and a console alerter, for `dtk tune`.
fn tune_project(root: &Path, detectors: &str, conditions: &str) {
    make_source(&root.join("data.db"));
    std::fs::create_dir_all(root.join("metrics")).unwrap();
    std::fs::write(root.join("detectk_profiles.yaml"), "profiles: {}\n").unwrap();
    let text = config("bt_tune", detectors, conditions, "unused")
        .replace("type: mattermost", "type: console")
        .replace(
            "params: {webhook_url: \"unused\", max_retries: 0}",
            "params: {}",
        );
    std::fs::write(root.join("metrics/bt_tune.yaml"), text).unwrap();
    let labels = format!(
        "bt_tune:\n  - ['{}', '{}']\n  - ['{}', '{}']\n  - ['{}', '{}']\n",
        fmt(at(19)),
        fmt(at(22)),
        fmt(at(59)),
        fmt(at(64)),
        fmt(at(89)),
        fmt(at(99)),
    );
    std::fs::write(root.join("labels.yaml"), labels).unwrap();
}

#[test]
fn tune_ranks_settings_with_the_scores_backtest_gives_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tune_project(root, "  - {type: mad}", "{cooldown_minutes: 60}");
    let grid = "{detectors: [{type: zscore, params: {use_weighted: false, window_size: 1 day, n_sigma: [2.5, 3.0, 4.0]}}], conditions: {cooldown_minutes: [0, 60], consecutive_anomalies: [1, 2]}}";
    let out = run_in(
        root,
        &[
            "tune",
            "metrics",
            "--labels",
            "labels.yaml",
            "--collect",
            "--grid",
            grid,
            "--top",
            "50",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "tune failed: {}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["candidates"], 12);
    // The ranking, ties included, does not depend on how many threads searched.
    for threads in ["1", "3"] {
        let again = run_in(
            root,
            &[
                "tune",
                "metrics",
                "--labels",
                "labels.yaml",
                "--collect",
                "--grid",
                grid,
                "--top",
                "50",
                "--format",
                "json",
                "--threads",
                threads,
            ],
        );
        assert!(again.status.success(), "tune failed: {}", stderr(&again));
        let other: Value = serde_json::from_str(&stdout(&again)).unwrap();
        assert_eq!(other["results"], doc["results"], "--threads {threads}");
    }
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    let f1s: Vec<f64> = results
        .iter()
        .map(|r| r["scores"]["f1"].as_f64().unwrap())
        .collect();
    assert!(
        f1s.windows(2).all(|w| w[0] >= w[1]),
        "ranked by F1: {f1s:?}"
    );

    // Every ranked setting, written into the config and backtested, scores the same.
    for r in results.iter().step_by(5) {
        let params = serde_json::to_string(&r["detector"]["params"]).unwrap();
        let conditions = serde_json::to_string(&r["policy"]["conditions"]).unwrap();
        let other = tempfile::tempdir().unwrap();
        tune_project(
            other.path(),
            &format!("  - {{type: zscore, params: {params}}}"),
            &conditions,
        );
        let bt = backtest(other.path(), &["--collect"]);
        assert_eq!(
            bt["metrics"][0]["alert"]["tally"], r["tally"],
            "setting {params} {conditions}"
        );
    }
    let best_yaml = doc["best_yaml"].as_str().unwrap();
    assert!(
        best_yaml.contains("detectors:") && best_yaml.contains("conditions:"),
        "{best_yaml}"
    );
}

#[test]
fn a_bad_grid_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tune_project(root, "  - {type: mad}", "{}");
    let grid = "{detectors: [{type: zscroe}, {type: zscore, params: {n_sigma: [-1]}}], conditions: {cooldown_minutes: [-5], consecutive: [2]}}";
    let out = run_in(
        root,
        &["tune", "metrics", "--labels", "labels.yaml", "--grid", grid],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for expected in [
        "detectors[0].type",
        "detectors[1].params.n_sigma",
        "conditions.cooldown_minutes",
        "conditions.consecutive: unknown key",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
}
