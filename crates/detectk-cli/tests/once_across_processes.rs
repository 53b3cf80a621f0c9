//! Exactly one alert per round, with separate `dtk run` processes racing on every
//! storage backend: 2 and 8 concurrent runs of one point, overlapping runs of
//! neighbouring points inside the cooldown, and a run killed between claim and send.
//! A real webhook receiver counts what was delivered; storage must record as sent
//! exactly what it received. Also: a failed delivery keeps the run report and is
//! delivered by the next run even when that run's newest point is normal.
//!
//! Needs the servers of `scripts/test.sh` (PostgreSQL, MariaDB, ClickHouse).

#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "clickhouse",
    feature = "mattermost"
))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use detectk_core::alert::format_time;
use detectk_core::config::LoadOptions;
use detectk_core::pipeline::build_plan;
use detectk_core::testkit::webhook_server::{Reply, WebhookServer};
use detectk_core::traits::{AlertKind, AlertStatus};

/// First point of the source series; values are anomalous from [`ANOMALY_FROM`] on.
const SERIES_START: &str = "2024-03-01 00:00:00";
const ANOMALY_FROM: &str = "2024-03-02 12:00:00";
const SERIES_POINTS: i64 = 288;

fn time(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
}

fn text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A project directory with a SQLite source series: 100 before [`ANOMALY_FROM`], 500 after.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("source.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE series (ts TEXT NOT NULL, v REAL NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        for i in 0..SERIES_POINTS {
            let t = time(SERIES_START) + TimeDelta::minutes(10 * i);
            let v = if t >= time(ANOMALY_FROM) {
                500.0
            } else {
                100.0
            };
            sqlx::query("INSERT INTO series VALUES (?1, ?2)")
                .bind(text(t))
                .bind(v)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
    dir
}

/// Where a metric is stored.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
    Mysql,
    /// ClickHouse datapoints with `state:` in a SQLite file.
    ClickHouseWithState,
    /// ClickHouse without `state:`: the default local SQLite state file.
    ClickHouseLocalState,
}

impl Backend {
    fn storage_yaml(self, dir: &Path) -> String {
        let ch =
            "storage: {type: clickhouse, params: {host: 127.0.0.1, port: 8123, database: default}}";
        match self {
            Backend::Sqlite => format!(
                "storage: {{type: sqlite, params: {{connection_string: \"sqlite:///{}/store.db\"}}}}",
                dir.display()
            ),
            Backend::Postgres => "storage: {type: postgres, params: {connection_string: \"postgresql://postgres@127.0.0.1:5432/test\"}}".into(),
            Backend::Mysql => "storage: {type: mysql, params: {connection_string: \"mysql://root@127.0.0.1:3306/test\"}}".into(),
            Backend::ClickHouseWithState => format!(
                "{ch}\nstate: {{type: sqlite, params: {{connection_string: \"sqlite:///{}/state.db\"}}}}",
                dir.display()
            ),
            Backend::ClickHouseLocalState => ch.into(),
        }
    }
}

/// Writes `metrics/<name>.yaml` and returns its path.
fn metric(dir: &Path, name: &str, backend: Backend, webhook: &str) -> PathBuf {
    let source = dir.join("source.db");
    let yaml = format!(
        "name: {name}\n\
         collector:\n  type: sqlite\n  params:\n    connection_string: \"sqlite:///{}\"\n    \
         query: \"SELECT ts AS period_time, v AS value FROM series WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts\"\n\
         {}\n\
         detector: {{type: threshold, params: {{threshold: 300}}}}\n\
         alerter:\n  type: mattermost\n  params: {{webhook_url: \"{webhook}\", max_retries: 0}}\n  \
         conditions: {{cooldown_minutes: 60}}\n\
         schedule: {{interval: 10 minutes, batch_load_days: 3}}\n",
        source.display(),
        backend.storage_yaml(dir)
    );
    let metrics = dir.join("metrics");
    std::fs::create_dir_all(&metrics).unwrap();
    let path = metrics.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A metric name no other test or round uses.
fn unique(label: &str) -> String {
    detectk_core::testkit::unique_metric(label).replace('.', "_")
}

/// Starts `dtk run <file> --execution-time <at>` in `dir`.
fn spawn(dir: &Path, file: &Path, at: &str, env: &[(&str, &str)]) -> Child {
    let mut cmd = common::dtk();
    cmd.current_dir(dir)
        .args(["run", file.to_str().unwrap(), "--execution-time", at])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("dtk starts")
}

/// Waits for every child; panics with its output when one failed.
fn finish_all(children: Vec<Child>) {
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dtk run failed:\n{}\n{}",
            common::stdout(&out),
            common::stderr(&out)
        );
    }
}

/// The newest anomaly alert row (point, status) and the point of the newest sent one.
type Recorded = (Option<(DateTime<Utc>, AlertStatus)>, Option<DateTime<Utc>>);

/// What storage recorded: the newest anomaly alert row and the newest sent one.
/// Without `state:`, ClickHouse alert state is in `detectk_state.db` in the directory
/// dtk ran in: it is read from there.
fn recorded(dir: &Path, file: &Path, backend: Backend) -> Recorded {
    let mut yaml = std::fs::read_to_string(file).unwrap();
    if let Backend::ClickHouseLocalState = backend {
        let state = dir.join(detectk_core::config::LOCAL_STATE_FILE);
        assert!(state.exists(), "no local state file {}", state.display());
        yaml.push_str(&format!(
            "state: {{type: sqlite, params: {{connection_string: \"sqlite:///{}\"}}}}\n",
            state.display()
        ));
    }
    let config = detectk_core::config::parse_config(&yaml, None, &LoadOptions::default())
        .unwrap()
        .config;
    let metric = config.name.clone();
    let plan = build_plan(&detectk_cli::registry(), config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let latest = plan
            .storage
            .latest_alert(&metric, AlertKind::Anomaly)
            .await
            .unwrap();
        let sent = plan
            .storage
            .last_sent_alert(&metric, Some(AlertKind::Anomaly))
            .await
            .unwrap();
        (
            latest.map(|a| (a.timestamp, a.status)),
            sent.map(|a| a.timestamp),
        )
    })
}

/// The receiver got exactly one alert, and storage recorded exactly that one as sent
/// (the newest anomaly alert row is it, with status sent). Returns its point.
fn assert_exactly_one(
    dir: &Path,
    file: &Path,
    backend: Backend,
    server: &WebhookServer,
    round: &str,
) -> DateTime<Utc> {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{round}: alerts received {requests:#?}");
    let (latest, sent) = recorded(dir, file, backend);
    let sent = sent.unwrap_or_else(|| panic!("{round}: storage records no sent alert"));
    assert_eq!(
        latest,
        Some((sent, AlertStatus::Sent)),
        "{round}: newest alert row"
    );
    let body = requests[0].json().to_string();
    assert!(
        body.contains(&format_time(sent)),
        "{round}: the received alert is not the recorded one ({}): {body}",
        format_time(sent)
    );
    sent
}

/// 2 and 8 concurrent runs of one point, then overlapping runs of neighbouring points.
fn races(backend: Backend) {
    let dir = project();
    let root = dir.path();
    for (round, runs) in [("two", 2), ("eight", 8), ("two-again", 2)] {
        let server = WebhookServer::start();
        let name = unique(&format!("once_{round}"));
        let file = metric(root, &name, backend, &server.url());
        let children = (0..runs)
            .map(|_| spawn(root, &file, "2024-03-02 14:10:00", &[]))
            .collect();
        finish_all(children);
        let point = assert_exactly_one(
            root,
            &file,
            backend,
            &server,
            &format!("{backend:?} {round}"),
        );
        assert_eq!(point, time("2024-03-02 14:00:00"));
    }
    for round in ["neighbours-1", "neighbours-2"] {
        let server = WebhookServer::start();
        let name = unique(&format!("once_{round}"));
        let file = metric(root, &name, backend, &server.url());
        let children = [
            "2024-03-02 14:10:00",
            "2024-03-02 14:20:00",
            "2024-03-02 14:10:00",
            "2024-03-02 14:20:00",
        ]
        .iter()
        .map(|at| spawn(root, &file, at, &[]))
        .collect();
        finish_all(children);
        let point = assert_exactly_one(
            root,
            &file,
            backend,
            &server,
            &format!("{backend:?} {round}"),
        );
        assert!(
            point == time("2024-03-02 14:00:00") || point == time("2024-03-02 14:10:00"),
            "{point}"
        );
    }
}

/// A run killed after claiming, before sending: once its run lease and alert lease have
/// expired the next run takes over, and the round still ends with exactly one alert.
fn killed_between_claim_and_send(backend: Backend) {
    let dir = project();
    let root = dir.path();
    let server = WebhookServer::start();
    let name = unique("once_killed");
    let file = metric(root, &name, backend, &server.url());
    let lease = [
        (detectk_core::alert::LEASE_TTL_ENV, "2"),
        (detectk_core::fleet::RUN_LEASE_TTL_ENV, "2"),
    ];
    let mut paused = spawn(
        root,
        &file,
        "2024-03-02 14:10:00",
        &[
            lease[0],
            lease[1],
            (detectk_core::alert::PAUSE_BEFORE_SEND_ENV, "600"),
        ],
    );
    let stderr = paused.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("dtk exited before pausing"))
            .unwrap();
        if line.contains(detectk_core::alert::PAUSE_BEFORE_SEND_ENV) {
            break;
        }
    }
    paused.kill().unwrap();
    paused.wait().unwrap();
    // The killed run also held the metric's run lease (see docs/scale-out.md): runs
    // skip the metric until that lease expires; the first that is not skipped waits
    // for the alert lease, takes over, and sends.
    let started = std::time::Instant::now();
    loop {
        let out = spawn(root, &file, "2024-03-02 14:10:00", &lease)
            .wait_with_output()
            .unwrap();
        let stdout = common::stdout(&out);
        assert!(out.status.success(), "{stdout}\n{}", common::stderr(&out));
        if !stdout.contains("skipped: held by another worker") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the killed run's run lease never expired"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.wait_for_requests(1, Duration::from_secs(5)).len() == 1);
    assert_exactly_one(
        root,
        &file,
        backend,
        &server,
        &format!("{backend:?} killed"),
    );
}

#[test]
fn sqlite_sends_exactly_once() {
    races(Backend::Sqlite);
    killed_between_claim_and_send(Backend::Sqlite);
}

#[test]
fn postgres_sends_exactly_once() {
    races(Backend::Postgres);
    killed_between_claim_and_send(Backend::Postgres);
}

#[test]
fn mariadb_sends_exactly_once() {
    races(Backend::Mysql);
    killed_between_claim_and_send(Backend::Mysql);
}

#[test]
fn clickhouse_with_state_sends_exactly_once() {
    races(Backend::ClickHouseWithState);
    killed_between_claim_and_send(Backend::ClickHouseWithState);
}

#[test]
fn clickhouse_without_state_uses_a_local_state_file_and_sends_once() {
    races(Backend::ClickHouseLocalState);
}

/// A rejected alert: the run report is still printed (text and JSON), the exit code is
/// 1, and the next run, whose newest point is normal, delivers the failed alert once.
#[test]
fn a_failed_alert_keeps_the_report_and_is_delivered_by_the_next_run() {
    let dir = project();
    let root = dir.path();
    let server = WebhookServer::with_replies([Reply::Status(400), Reply::Status(400)]);
    let name = unique("once_failed");
    let file = metric(root, &name, Backend::Sqlite, &server.url());
    let f = file.to_str().unwrap();

    let out = common::run_in(root, &["run", f, "--execution-time", "2024-03-02 12:10:00"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let stdout = common::stdout(&out);
    assert!(
        stdout.contains(&format!("{name}: ")),
        "report missing: {stdout}"
    );
    assert!(stdout.contains("0 ok, 1 failed"), "{stdout}");
    assert!(
        common::stderr(&out).contains("HTTP 400"),
        "{}",
        common::stderr(&out)
    );

    let out = common::run_in(
        root,
        &[
            "run",
            f,
            "--execution-time",
            "2024-03-02 12:10:00",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &doc["metrics"][0];
    assert_eq!(m["status"], "failed", "{doc:#}");
    assert_eq!(m["report"]["metric"], name.as_str(), "{doc:#}");
    assert!(m["error"].to_string().contains("400"), "{doc:#}");
    assert_eq!(server.request_count(), 2);
    let (latest, sent) = recorded(root, &file, Backend::Sqlite);
    assert_eq!(latest, Some((time(ANOMALY_FROM), AlertStatus::Failed)));
    assert_eq!(sent, None);

    // 12:10 turns out normal: the next run's newest point is normal, and the failed
    // alert of 12:00 is delivered (once) instead of being lost.
    set_value(root, "2024-03-02 12:10:00", 100.0);
    set_value(root, "2024-03-02 12:20:00", 100.0);
    let out = common::run_in(root, &["run", f, "--execution-time", "2024-03-02 12:20:00"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("alert sent"),
        "{}",
        common::stdout(&out)
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert!(
        requests[2]
            .json()
            .to_string()
            .contains(&format_time(time(ANOMALY_FROM)))
    );
    let (latest, sent) = recorded(root, &file, Backend::Sqlite);
    assert_eq!(latest, Some((time(ANOMALY_FROM), AlertStatus::Sent)));
    assert_eq!(sent, Some(time(ANOMALY_FROM)));

    // Delivered once: the run after that sends nothing more.
    let out = common::run_in(root, &["run", f, "--execution-time", "2024-03-02 12:30:00"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(server.request_count(), 3);
}

/// Overwrites the source value at `ts`.
fn set_value(dir: &Path, ts: &str, v: f64) {
    let db = dir.join("source.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let done = sqlx::query("UPDATE series SET v = ?1 WHERE ts = ?2")
            .bind(v)
            .bind(ts)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        pool.close().await;
    });
}
