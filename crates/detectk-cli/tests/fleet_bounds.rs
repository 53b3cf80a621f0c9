//! The fleet's per-storage bound (`FleetOptions::per_storage`): at most N metrics of one
//! storage run at once, on real SQLite sources and storages.
//!
//! Each metric's collector is wrapped in a gate that counts the metrics of its storage
//! inside a query and lets them go only in groups of `group` (the k-th arrival waits
//! until `group * (k / group + 1)` metrics of that storage have arrived), and then
//! keeps them a while longer in case the storage's other metrics join. With the bound
//! at 2 and groups of 2, the most metrics of one storage seen at once must be exactly 2:
//! more would break the bound, and fewer would mean the fleet never ran two at once. A
//! control run without the bound lets a whole group of 4 in at once, which proves the
//! gate would see a broken bound (a fleet ignoring the bound lets the other two join a
//! group while it lingers; checked by hand by disabling the storage permits). No
//! assertion depends on timing: a correct fleet passes whatever the waits, and the
//! hang guard only turns a deadlock into a failure.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use detectk_core::config::{LoadOptions, load_file};
use detectk_core::fleet::{Fleet, FleetOptions};
use detectk_core::pipeline::{RunOptions, build_plan};
use detectk_core::{BackendError, Collector, Table, async_trait};
use tokio::sync::watch;

/// Metrics per storage; two storages.
const PER_STORAGE_METRICS: usize = 4;

/// How long a group inside the gate waits for more metrics of its storage to join.
const LINGER: std::time::Duration = std::time::Duration::from_secs(3);

/// Counts, per storage, the metrics inside a query at once, and holds them in groups.
#[derive(Debug)]
struct Gate {
    group: usize,
    arrivals: Mutex<HashMap<String, watch::Sender<usize>>>,
    inside: Mutex<HashMap<String, (usize, usize)>>,
}

impl Gate {
    fn new(group: usize) -> Arc<Self> {
        Arc::new(Self {
            group,
            arrivals: Mutex::new(HashMap::new()),
            inside: Mutex::new(HashMap::new()),
        })
    }

    /// The most metrics of `storage` that were inside a query at the same time.
    fn max_inside(&self, storage: &str) -> usize {
        self.inside.lock().unwrap().get(storage).map_or(0, |c| c.1)
    }

    async fn pass(&self, storage: &str) {
        {
            let mut inside = self.inside.lock().unwrap();
            let count = inside.entry(storage.to_string()).or_default();
            count.0 += 1;
            count.1 = count.1.max(count.0);
        }
        let (index, mut arrived) = {
            let mut arrivals = self.arrivals.lock().unwrap();
            let tx = arrivals
                .entry(storage.to_string())
                .or_insert_with(|| watch::channel(0).0);
            let mut index = 0;
            tx.send_modify(|n| {
                index = *n;
                *n += 1;
            });
            (index, tx.subscribe())
        };
        let target = self.group * (index / self.group + 1);
        arrived
            .wait_for(|n| *n >= target)
            .await
            .expect("the gate outlives its metrics");
        // Then stay a while for the storage's other metrics: a fleet that let more
        // than the bound in would have them join now. With the bound kept, none can
        // come and the wait ends empty; the assertions never depend on its length.
        let all = tokio::time::timeout(LINGER, arrived.wait_for(|n| *n >= PER_STORAGE_METRICS));
        let _ = all.await;
        self.inside
            .lock()
            .unwrap()
            .get_mut(storage)
            .expect("counted on the way in")
            .0 -= 1;
    }
}

/// A metric's real SQLite collector behind the gate of its storage.
#[derive(Debug)]
struct Gated {
    inner: Arc<dyn Collector>,
    storage: String,
    gate: Arc<Gate>,
}

#[async_trait]
impl Collector for Gated {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        self.gate.pass(&self.storage).await;
        self.inner.query(query).await
    }
}

/// Writes a source with one hour of 10-minute points and `PER_STORAGE_METRICS` metric
/// configs for each of the storages `a.db` and `b.db` under `dir`.
fn write_fleet(dir: &Path) {
    let source = dir.join("source.db");
    let mut statements = vec!["CREATE TABLE series (ts TEXT, value REAL)".to_string()];
    for minute in (0..60).step_by(10) {
        statements.push(format!(
            "INSERT INTO series VALUES ('2024-03-01 00:{minute:02}:00', {minute})"
        ));
    }
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    common::sqlite_exec(&source, &refs);
    for storage in ["a", "b"] {
        for i in 0..PER_STORAGE_METRICS {
            let yaml = format!(
                r#"name: bound_{storage}_{i}
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///{source}"
    query: |
      SELECT ts AS period_time, value FROM series
      WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts
storage:
  type: sqlite
  params:
    connection_string: "sqlite:///{store}"
detector:
  type: threshold
  params:
    operator: greater_than
    threshold: 1000
schedule:
  interval: 10 minutes
"#,
                source = source.display(),
                store = dir.join(format!("{storage}.db")).display(),
            );
            std::fs::write(dir.join(format!("bound_{storage}_{i}.yaml")), yaml).unwrap();
        }
    }
}

/// Builds the fleet under `dir` with every collector behind `gate`.
fn gated_fleet(dir: &Path, gate: &Arc<Gate>) -> Fleet {
    let registry = detectk_cli::registry();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let plans = files
        .iter()
        .map(|file| {
            let loaded = load_file(file, &LoadOptions::default()).expect("the config loads");
            let mut plan = build_plan(&registry, loaded.config).expect("the metric builds");
            plan.collector = Arc::new(Gated {
                inner: Arc::clone(&plan.collector),
                storage: plan.storage.describe(),
                gate: Arc::clone(gate),
            });
            plan
        })
        .collect();
    Fleet::from_plans(plans)
}

/// Writes and runs the fleet under `dir` (all metrics at once, at most `per_storage` per storage
/// when set) with groups of `group`; returns each storage's most metrics at once.
fn most_at_once(dir: &Path, per_storage: Option<usize>, group: usize) -> Vec<usize> {
    write_fleet(dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_gated(dir, per_storage, group))
}

async fn run_gated(dir: &Path, per_storage: Option<usize>, group: usize) -> Vec<usize> {
    let gate = Gate::new(group);
    let fleet = gated_fleet(dir, &gate);
    let storages: Vec<String> = {
        let mut s: Vec<String> = fleet.plans().iter().map(|p| p.storage.describe()).collect();
        s.dedup();
        s
    };
    assert_eq!(storages.len(), 2, "two storages: {storages:?}");
    let mut options = FleetOptions::with_concurrency(2 * PER_STORAGE_METRICS);
    if let Some(n) = per_storage {
        options = options.per_storage(n);
    }
    let execution_time: DateTime<Utc> = "2024-03-01T01:00:00Z".parse().unwrap();
    let run = RunOptions {
        execution_time,
        dry_run: false,
    };
    let report = tokio::time::timeout(std::time::Duration::from_secs(120), fleet.run(run, options))
        .await
        .expect(
            "hang guard: the fleet never finished (a gate waited for metrics that could not start)",
        );
    for m in &report.metrics {
        assert!(m.failure().is_none(), "{}: {:?}", m.metric, m.failure());
        assert!(m.skipped().is_none(), "{}: skipped", m.metric);
    }
    assert_eq!(report.ok(), 2 * PER_STORAGE_METRICS);
    storages.iter().map(|s| gate.max_inside(s)).collect()
}

#[test]
fn per_storage_runs_at_most_n_metrics_of_one_storage_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let seen = most_at_once(dir.path(), Some(2), 2);
    assert_eq!(
        seen,
        vec![2, 2],
        "with per_storage 2, each storage must have had exactly 2 metrics running at once"
    );
}

#[test]
fn without_the_bound_a_storage_runs_more_metrics_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let seen = most_at_once(dir.path(), None, PER_STORAGE_METRICS);
    assert_eq!(
        seen,
        vec![PER_STORAGE_METRICS, PER_STORAGE_METRICS],
        "without per_storage, all metrics of a storage run at once (else the bounded test proves nothing)"
    );
}
