//! Scale-out: several `dtk run --shard` processes with overlapping shards over one
//! fleet process every metric exactly once per tick (the run lease), store every row
//! once, and a worker killed with SIGKILL while holding a metric's run lease blocks
//! that metric only until the lease expires; the next run then takes it over.
//!
//! "Processed" means the run did the tick's work: collected the new point
//! (`range.points > 0` in `--format json`). A second run of the same tick finds the
//! metric up to date (points 0) or held (skipped), never collects it again.
//!
//! Needs PostgreSQL of `scripts/test.sh`.

#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use detectk_core::config::LoadOptions;
use detectk_core::fleet::{Shard, run_lease_key};
use detectk_core::pipeline::{MetricPlan, build_plan};
use detectk_core::traits::{LoadDatapoints, LoadDetections};

const EXECUTION_TIME: &str = "2024-03-01 12:00:00";
/// The points a threshold detector's first run at [`EXECUTION_TIME`] collects: the
/// two newest complete 10-minute intervals.
const FIRST_RUN: [&str; 2] = ["2024-03-01 11:40:00", "2024-03-01 11:50:00"];

fn time(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Postgres,
    Sqlite,
}

/// A project with a SQLite source (`series`: one point per 10 minutes on 2024-03-01,
/// value = minutes since midnight) and `n` metrics `<prefix>_<i>` reading it.
fn fleet(n: usize, backend: Backend) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    let mut rows = Vec::new();
    for i in 0..144 {
        let t = time("2024-03-01 00:00:00") + TimeDelta::minutes(10 * i);
        rows.push(format!("('{}', {})", t.format("%Y-%m-%d %H:%M:%S"), 10 * i));
    }
    common::sqlite_exec(
        &source,
        &[
            "CREATE TABLE series (ts TEXT NOT NULL, v REAL NOT NULL)",
            &format!("INSERT INTO series VALUES {}", rows.join(", ")),
        ],
    );
    let storage = match backend {
        Backend::Postgres => "storage: {type: postgres, params: {connection_string: \"postgresql://postgres@127.0.0.1:5432/test\"}}".to_string(),
        Backend::Sqlite => format!(
            "storage: {{type: sqlite, params: {{connection_string: \"sqlite:///{}/store.db\"}}}}",
            dir.path().display()
        ),
    };
    let prefix = detectk_core::testkit::unique_metric("shard").replace('.', "_");
    let metrics = dir.path().join("metrics");
    std::fs::create_dir_all(&metrics).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}_{i}")).collect();
    for name in &names {
        let yaml = format!(
            "name: {name}\n\
             collector:\n  type: sqlite\n  params:\n    connection_string: \"sqlite:///{}\"\n    \
             query: \"SELECT ts AS period_time, v AS value FROM series WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts\"\n\
             {storage}\n\
             detector: {{type: threshold, params: {{threshold: 100000}}}}\n\
             schedule: {{interval: 10 minutes}}\n",
            source.display()
        );
        std::fs::write(metrics.join(format!("{name}.yaml")), yaml).unwrap();
    }
    (dir, names)
}

/// Starts `dtk run <target> --execution-time .. --format json` plus `args` in `dir`.
fn spawn(dir: &Path, target: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = common::dtk();
    cmd.current_dir(dir)
        .args([
            "run",
            target,
            "--execution-time",
            EXECUTION_TIME,
            "--format",
            "json",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("dtk starts")
}

/// Each metric's statuses over the outputs of `children`: ("ok", points) or ("skipped", 0).
fn outcomes(children: Vec<Child>) -> HashMap<String, Vec<(String, u64)>> {
    let mut seen: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dtk run failed:\n{}\n{}",
            common::stdout(&out),
            common::stderr(&out)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for m in doc["metrics"].as_array().unwrap() {
            let status = m["status"].as_str().unwrap().to_string();
            let points = m["report"]["range"]["points"].as_u64().unwrap_or(0);
            seen.entry(m["name"].as_str().unwrap().to_string())
                .or_default()
                .push((status, points));
        }
    }
    seen
}

/// The built plan of the metric file `name` in `dir` (to read what it stored).
fn plan(dir: &Path, name: &str) -> MetricPlan {
    let file: PathBuf = dir.join("metrics").join(format!("{name}.yaml"));
    let yaml = std::fs::read_to_string(file).unwrap();
    let config = detectk_core::config::parse_config(&yaml, None, &LoadOptions::default())
        .unwrap()
        .config;
    build_plan(&detectk_cli::registry(), config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every metric has exactly the points of [`FIRST_RUN`], each equal to its source
/// value (minutes since midnight), and one detection per point.
fn assert_stored_once(dir: &Path, names: &[String]) {
    let rt = runtime();
    let (from, to) = (time("2024-02-01 00:00:00"), time("2024-04-01 00:00:00"));
    // Every metric of a fleet shares one storage: read them all through the first.
    let plan = plan(dir, &names[0]);
    for name in names {
        let (points, detections) = rt.block_on(async {
            let points = plan
                .storage
                .load_datapoints(&LoadDatapoints::new(name.clone(), from, to))
                .await
                .unwrap();
            let detections = plan
                .storage
                .load_detections(&LoadDetections::new(name.clone(), from, to))
                .await
                .unwrap();
            (points, detections)
        });
        let expected: Vec<_> = FIRST_RUN.iter().map(|t| time(t)).collect();
        let got: Vec<_> = points.iter().map(|p| p.timestamp).collect();
        assert_eq!(got, expected, "{name}");
        for p in &points {
            let minute = (p.timestamp - time("2024-03-01 00:00:00")).num_minutes() as f64;
            assert_eq!(p.value, Some(minute), "{name} at {}", p.timestamp);
        }
        let scored: Vec<_> = detections.iter().map(|d| d.detection.timestamp).collect();
        assert_eq!(scored, expected, "{name}: one detection per point");
    }
}

/// 4 workers `--shard i/4` plus 2 overlapping `--shard 0/2`, `--shard 1/2`, all at once.
fn six_overlapping_workers(n: usize, backend: Backend) {
    let (dir, names) = fleet(n, backend);
    let mut shards: Vec<String> = (0..4).map(|i| format!("{i}/4")).collect();
    shards.extend(["0/2".to_string(), "1/2".to_string()]);
    let children: Vec<Child> = shards
        .iter()
        .map(|s| {
            spawn(
                dir.path(),
                "metrics",
                &["--shard", s, "--concurrency", "8"],
                &[],
            )
        })
        .collect();
    let seen = outcomes(children);
    assert_eq!(seen.len(), n, "every metric ran in some worker");
    for name in &names {
        let runs = &seen[name];
        // Exactly two workers have it: one quarter shard and one half shard.
        let quarter = Shard::of(name, 4);
        let half = Shard::of(name, 2);
        assert_eq!(
            runs.len(),
            2,
            "{name} (shards {quarter}/4, {half}/2): {runs:?}"
        );
        let processed = runs.iter().filter(|(s, p)| s == "ok" && *p > 0).count();
        assert_eq!(processed, 1, "{name} processed once: {runs:?}");
        assert!(
            runs.iter()
                .all(|(s, p)| (s == "ok" && (*p == 0 || *p == 2)) || s == "skipped"),
            "{name}: {runs:?}"
        );
    }
    assert_stored_once(dir.path(), &names);
}

#[test]
fn overlapping_shards_process_each_metric_once_on_postgres() {
    six_overlapping_workers(1000, Backend::Postgres);
}

#[test]
fn overlapping_shards_process_each_metric_once_on_sqlite() {
    six_overlapping_workers(100, Backend::Sqlite);
}

/// Whether a worker holds `metric`'s run lease now, read from the lease table of the
/// PostgreSQL fleet. (A read, not a compare-and-set probe: a probe that took the lease
/// for a moment could make the worker it watches find the metric held and skip it.)
fn lease_held(metric: &str) -> bool {
    any_lease_held(&[metric.to_string()])
}

/// Whether any of `metrics` has a run lease that has not expired.
fn any_lease_held(metrics: &[String]) -> bool {
    let keys: Vec<String> = metrics
        .iter()
        .map(|m| format!("'{}'", run_lease_key(m).replace('\'', "''")))
        .collect();
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atc"])
        .arg(format!(
            "SELECT count(*) FROM dtk_alert_leases WHERE metric_name IN ({}) AND expires_at > now()",
            keys.join(", ")
        ))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim() != "0"
}

/// Waits (bounded) until `held(...)` is `want`.
fn wait_until(metric: &str, want: bool) {
    let started = Instant::now();
    while lease_held(metric) != want {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run lease of {metric} never became {}",
            if want { "held" } else { "free" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_workers_metric_is_taken_over_after_its_lease_expires() {
    let (dir, names) = fleet(20, Backend::Postgres);
    let stuck = names[7].clone();
    let probe_plan = plan(dir.path(), &stuck);
    let rt = runtime();
    // The probe may run before any worker created the tables.
    rt.block_on(probe_plan.storage.migrate()).unwrap();
    // Worker A holds `stuck`'s lease (renewing it every 2 s) and never finishes it.
    let a = spawn(
        dir.path(),
        "metrics",
        &["--concurrency", "4"],
        &[
            ("DETECTK_TEST_HOLD_RUN", stuck.as_str()),
            ("DETECTK_RUN_LEASE_SECONDS", "6"),
        ],
    );
    /// Kills the worker even when the test fails before it would.
    struct KillOnDrop(Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let a = KillOnDrop(a);
    wait_until(&stuck, true);
    drop(a); // SIGKILL: no release, no cleanup

    // The lease outlives the dead worker: a run now skips the metric, not fails it.
    let file = format!("metrics/{stuck}.yaml");
    let skipped = outcomes(vec![spawn(dir.path(), &file, &[], &[])]);
    if lease_held(&stuck) {
        // (Only assertable while the lease still stands: checked after the run.)
        assert_eq!(skipped[&stuck], vec![("skipped".to_string(), 0)]);
    }

    // After expiry the next tick takes the metric over; the others are not redone.
    // The killed worker may also have died inside other metrics' runs (it runs 4 at a
    // time), whose leases it renewed later than `stuck`'s: wait for every lease of the
    // fleet, or the next tick rightly skips those metrics and they stay half done.
    let started = Instant::now();
    while any_lease_held(&names) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the fleet's run leases never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = outcomes(vec![spawn(dir.path(), "metrics", &[], &[])]);
    assert_eq!(seen[&stuck], vec![("ok".to_string(), 2)], "taken over");
    assert_stored_once(dir.path(), &names);
}

/// The `dtk run` arguments of a recipe command, without `dtk run` and the metrics path.
fn recipe_args(command: &[&str], metrics: &str) -> Vec<String> {
    assert_eq!(&command[..3], &["dtk", "run", metrics], "{command:?}");
    command[3..].iter().map(|s| s.to_string()).collect()
}

/// Runs one worker per recipe command over a SQLite fleet; each metric must be
/// processed exactly once and stored once.
/// One worker of a recipe: its `dtk run` arguments and environment.
type Worker = (Vec<String>, Vec<(String, String)>);

fn run_recipe(workers: Vec<Worker>) {
    let (dir, names) = fleet(60, Backend::Sqlite);
    let children: Vec<Child> = workers
        .iter()
        .map(|(args, env)| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            spawn(dir.path(), "metrics", &args, &env)
        })
        .collect();
    let seen = outcomes(children);
    for name in &names {
        let processed = seen[name]
            .iter()
            .filter(|(s, p)| s == "ok" && *p > 0)
            .count();
        assert_eq!(processed, 1, "{name}: {:?}", seen[name]);
    }
    assert_stored_once(dir.path(), &names);
}

fn example(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/examples/scale-out")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_kubernetes_indexed_job_recipe_covers_the_fleet() {
    let doc: serde_yaml::Value = serde_yaml::from_str(&example("kubernetes-cronjob.yaml")).unwrap();
    let job = &doc["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"].as_str(), Some("Indexed"));
    let completions = job["completions"].as_u64().unwrap();
    let container = &job["template"]["spec"]["containers"][0];
    let mut command: Vec<&str> = vec![container["command"][0].as_str().unwrap()];
    command.extend(
        container["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
    );
    let args = recipe_args(&command, "/etc/detectk/metrics");
    let count_at = args.iter().position(|a| a == "--shard-count").unwrap();
    assert_eq!(
        args[count_at + 1],
        completions.to_string(),
        "--shard-count = completions"
    );
    assert!(
        args.windows(2)
            .any(|w| w == ["--shard-index-env", "JOB_COMPLETION_INDEX"])
    );
    // One pod per completion index, as Kubernetes starts them.
    run_recipe(
        (0..completions)
            .map(|i| {
                let env = vec![("JOB_COMPLETION_INDEX".to_string(), i.to_string())];
                (args.clone(), env)
            })
            .collect(),
    );
}

#[test]
fn the_airflow_and_cron_recipes_cover_the_fleet() {
    // Airflow: the mapped commands are `dtk run {METRICS} --shard {i}/{SHARDS}` for
    // i in range(SHARDS); read both constants and the command template from the DAG.
    let dag = example("airflow_dag.py");
    let constant = |name: &str| {
        dag.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{name} in the DAG"))
            .trim_matches('"')
            .to_string()
    };
    let shards: u64 = constant("SHARDS").parse().unwrap();
    let metrics = constant("METRICS");
    assert!(dag.contains("[f\"dtk run {METRICS} --shard {i}/{SHARDS}\" for i in range(SHARDS)]"));
    assert!(dag.contains(".expand("));
    let airflow: Vec<_> = (0..shards)
        .map(|i| {
            let command = format!("dtk run {metrics} --shard {i}/{shards}");
            let words: Vec<&str> = command.split(' ').collect();
            (recipe_args(&words, &metrics), Vec::new())
        })
        .collect();
    run_recipe(airflow);

    // Cron: every non-comment line is `<5 schedule fields> dtk run ...`.
    let crontab = example("crontab");
    let hosts: Vec<_> = crontab
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().skip(5).collect();
            (recipe_args(&words, "/etc/detectk/metrics"), Vec::new())
        })
        .collect();
    assert_eq!(hosts.len(), 3);
    run_recipe(hosts);
}

#[test]
fn a_metric_over_its_timeout_fails_alone_with_a_clear_message() {
    let (dir, names) = fleet(6, Backend::Sqlite);
    let stuck = names[2].clone();
    // The stuck metric never finishes (it waits forever holding its lease).
    let out = common::dtk()
        .current_dir(dir.path())
        .args(["run", "metrics", "--execution-time", EXECUTION_TIME])
        .args(["--metric-timeout", "1", "--concurrency", "2"])
        .env("DETECTK_TEST_HOLD_RUN", &stuck)
        .output()
        .unwrap();
    let (stdout, stderr) = (common::stdout(&out), common::stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("metric `{stuck}`: timed out after 1s")),
        "{stderr}"
    );
    assert!(stdout.contains("6 metric(s): 5 ok, 1 failed"), "{stdout}");
    // Its lease was released when it timed out: the next run processes it at once.
    let seen = outcomes(vec![spawn(dir.path(), "metrics", &[], &[])]);
    assert_eq!(seen[&stuck], vec![("ok".to_string(), 2)]);
}

#[test]
fn bad_shards_name_the_flag_and_the_value() {
    let (dir, _) = fleet(1, Backend::Sqlite);
    /// Arguments, environment, and what stderr must say.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &["--shard", "4/4"],
            &[],
            "--shard: shard `4/4`: the index must be below",
        ),
        (
            &["--shard", "x"],
            &[],
            "--shard: shard `x`: expected INDEX/COUNT",
        ),
        (
            &[
                "--shard-index-env",
                "DTK_TEST_UNSET_INDEX",
                "--shard-count",
                "4",
            ],
            &[],
            "--shard-index-env: environment variable `DTK_TEST_UNSET_INDEX` is not set",
        ),
        (
            &["--shard-index-env", "DTK_TEST_INDEX", "--shard-count", "4"],
            &[("DTK_TEST_INDEX", "two")],
            "environment variable `DTK_TEST_INDEX` is `two`, not a shard index",
        ),
    ];
    for (args, env, expected) in cases {
        let mut cmd = common::dtk();
        cmd.current_dir(dir.path())
            .args(["run", "metrics"])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // DETECTK_SHARD is read like --shard.
    let out = common::dtk()
        .current_dir(dir.path())
        .args(["run", "metrics", "--execution-time", EXECUTION_TIME])
        .env("DETECTK_SHARD", "0/1")
        .output()
        .unwrap();
    assert!(
        common::stdout(&out).contains("(shard 0/1)"),
        "{}",
        common::stdout(&out)
    );
}

#[test]
fn backfill_with_concurrency_loads_every_metric_exactly() {
    let (dir, names) = fleet(12, Backend::Sqlite);
    for name in &names {
        let file = dir.path().join("metrics").join(format!("{name}.yaml"));
        let yaml = std::fs::read_to_string(&file).unwrap().replace(
            "schedule: {interval: 10 minutes}",
            "schedule: {interval: 10 minutes, start_time: \"2024-03-01\", batch_load_days: 1}",
        );
        std::fs::write(&file, yaml).unwrap();
    }
    let out = common::dtk()
        .current_dir(dir.path())
        .args(["backfill", "metrics", "--execution-time", EXECUTION_TIME])
        .args(["--concurrency", "4", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let rt = runtime();
    let plan = plan(dir.path(), &names[0]);
    let (from, to) = (time("2024-02-01 00:00:00"), time("2024-04-01 00:00:00"));
    for name in &names {
        let points = rt
            .block_on(
                plan.storage
                    .load_datapoints(&LoadDatapoints::new(name.clone(), from, to)),
            )
            .unwrap();
        // 00:00 .. 11:50: every source point before the newest complete interval's end.
        assert_eq!(points.len(), 72, "{name}");
        for (i, p) in points.iter().enumerate() {
            assert_eq!(
                p.timestamp,
                time("2024-03-01 00:00:00") + TimeDelta::minutes(10 * i as i64)
            );
            assert_eq!(p.value, Some(10.0 * i as f64), "{name} at {}", p.timestamp);
        }
        let detections = rt
            .block_on(
                plan.storage
                    .load_detections(&LoadDetections::new(name.clone(), from, to)),
            )
            .unwrap();
        assert_eq!(detections.len(), 72, "{name}: one detection per point");
    }
}
