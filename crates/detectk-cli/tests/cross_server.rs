//! A metric read from one server and stored in another: every pair of a ring over the
//! four backends (ClickHouse -> PostgreSQL -> MariaDB -> SQLite -> ClickHouse).
//!
//! The source series is written with the source backend's own storage into its
//! `dtk_datapoints` table under a separate metric name, so each server is set up through
//! the same trait and read with the same SQL. Needs the servers of `scripts/test.sh`.

#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "clickhouse"
))]

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::DataPoint;
use detectk_core::config::{LoadOptions, parse_config};
use detectk_core::pipeline::{BackfillOptions, MetricPlan, Runner, build_plan};
use detectk_core::traits::{LoadDatapoints, LoadDetections};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

const POINTS: i64 = 432;

fn connection(backend: &str, dir: &std::path::Path) -> String {
    match backend {
        "sqlite" => format!("{{type: sqlite, params: {{connection_string: \"sqlite:///{}/cross.db\"}}}}", dir.display()),
        "postgres" => "{type: postgres, params: {connection_string: \"postgresql://postgres@127.0.0.1:5432/test\"}}".into(),
        "mysql" => "{type: mysql, params: {connection_string: \"mysql://root@127.0.0.1:3306/test\"}}".into(),
        "clickhouse" => "{type: clickhouse, params: {host: 127.0.0.1, port: 8123, database: default}}".into(),
        other => panic!("unknown backend {other}"),
    }
}

fn metric_plan(
    source: &str,
    store: &str,
    dir: &std::path::Path,
    metric: &str,
    source_metric: &str,
) -> MetricPlan {
    let collector = connection(source, dir);
    // `{type: x, params: {...}}` with the query added to the params.
    let collector = collector.replacen(
        "params: {",
        &format!(
            "params: {{query: \"SELECT collected_at AS period_time, value FROM dtk_datapoints WHERE metric_name = '{source_metric}' AND collected_at >= '{{{{ period_start }}}}' AND collected_at < '{{{{ period_finish }}}}' ORDER BY collected_at\", "
        ),
        1,
    );
    let yaml = format!(
        "name: {metric}\ncollector: {collector}\nstorage: {}\ndetector: {{type: zscore, params: {{window_size: 1 day, use_weighted: false}}}}\nschedule: {{interval: 10 minutes, start_time: \"2024-05-01\", batch_load_days: 1}}\n",
        connection(store, dir)
    );
    let config = parse_config(&yaml, None, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
        .config;
    build_plan(&detectk_cli::registry(), config).unwrap_or_else(|e| panic!("{e}"))
}

fn series() -> Vec<DataPoint> {
    (0..POINTS)
        .map(|i| {
            DataPoint::new(
                start() + TimeDelta::minutes(10 * i),
                100.0 + (i % 17) as f64 * 1.5,
            )
        })
        .collect()
}

async fn source_into(backend: &str, dir: &std::path::Path, source_metric: &str) {
    // A plan whose storage is the source backend gives that backend's storage.
    let p = metric_plan(backend, backend, dir, "cross_setup", source_metric);
    p.storage.migrate().await.unwrap();
    p.storage
        .upsert_datapoints(source_metric, &series())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metric_can_be_read_from_one_server_and_stored_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ["clickhouse", "postgres", "mysql", "sqlite", "clickhouse"];
    let run = std::process::id();
    for pair in ring.windows(2) {
        let (source, store) = (pair[0], pair[1]);
        let source_metric = format!("cross_src_{source}_{run}");
        let metric = format!("cross_{source}_to_{store}_{run}");
        source_into(source, dir.path(), &source_metric).await;

        let plan = metric_plan(source, store, dir.path(), &metric, &source_metric);
        let end = start() + TimeDelta::minutes(10 * POINTS);
        let options = BackfillOptions {
            execution_time: end,
            dry_run: false,
            force: false,
            detect: true,
        };
        let report = Runner::new()
            .backfill(&plan, options, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{source} -> {store}: {e:?}"));
        assert_eq!(report.range.points as i64, POINTS, "{source} -> {store}");
        assert_eq!(report.range.missing, 0, "{source} -> {store}");

        let stored = plan
            .storage
            .load_datapoints(&LoadDatapoints::new(&metric, start(), end))
            .await
            .unwrap();
        let expected = series();
        assert_eq!(stored.len(), expected.len(), "{source} -> {store}");
        for (got, want) in stored.iter().zip(&expected) {
            assert_eq!(
                (got.timestamp, got.value),
                (want.timestamp, want.value),
                "{source} -> {store}"
            );
        }
        let detections = plan
            .storage
            .load_detections(&LoadDetections::new(&metric, start(), end))
            .await
            .unwrap();
        assert_eq!(detections.len() as i64, POINTS, "{source} -> {store}");

        let far = end + TimeDelta::days(3650);
        plan.storage.apply_retention(&metric, far).await.unwrap();
        let source_storage =
            metric_plan(source, source, dir.path(), "cross_setup", &source_metric).storage;
        source_storage
            .apply_retention(&source_metric, far)
            .await
            .unwrap();
    }
}
