//! The DetectK pipeline end to end on ClickHouse 18.16: a metric config whose
//! collector and storage are both `clickhouse`, backfilled and run through the core.

mod common;

use chrono::{DateTime, Utc};
use detectk_core::config::{LoadOptions, parse_config};
use detectk_core::pipeline::{BackfillOptions, RunOptions, Runner, build_plan};
use detectk_core::traits::{DetectionStore, LoadDatapoints, LoadDetections, SeriesStore};
use detectk_core::{Error, Registry};

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    detectk_collectors_clickhouse::register(&mut r);
    detectk_collectors_sql::register(&mut r);
    detectk_detectors::register(&mut r);
    r
}

fn at(text: &str) -> DateTime<Utc> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
}

/// A metric over `db.site`: `value_expr` is the value column expression.
fn config_yaml(db: &str, name: &str, value_expr: &str, value_column: &str) -> String {
    let c = common::config(db);
    format!(
        r#"
name: {name}
collector:
  type: clickhouse
  params:
    host: "{host}"
    port: {port}
    database: {db}
    query: |
      SELECT toDateTime(intDiv(toUInt32(ts), 600) * 600, 'UTC') AS period_time,
             {value_expr} AS value, toHour(period_time) AS hour_of_day
      FROM site
      WHERE ts >= toDateTime('{{{{ period_start }}}}', 'UTC') AND ts < toDateTime('{{{{ period_finish }}}}', 'UTC')
      GROUP BY period_time ORDER BY period_time
    value_column: {value_column}
    context_columns: [hour_of_day]
storage:
  type: clickhouse
  params: {{host: "{host}", port: {port}, database: {db}}}
state:
  type: sqlite
  params: {{connection_string: "sqlite:///{state}"}}
detector:
  type: mad
  params: {{window_size: 1 days, n_sigma: 5.0}}
alerter:
  type: console
schedule:
  interval: 10 minutes
  start_time: "2024-01-01"
  end_time: "2024-01-04"
  batch_load_days: 1
"#,
        host = c.host,
        port = c.port,
        // Alert state beside ClickHouse: a SQLite file in the temp directory.
        state = std::env::temp_dir()
            .join(format!("{db}_state.db"))
            .display(),
    )
}

async fn seeded_database() -> common::TempDb {
    let db = common::TempDb::create("pipeline").await;
    common::exec(
        &db,
        "CREATE TABLE site (ts DateTime('UTC'), sessions UInt32) ENGINE = MergeTree ORDER BY ts",
    )
    .await;
    // Four days of per-minute sessions with a daily cycle; 2024-01-03 12:00-12:10 is an outage.
    common::exec(
        &db,
        "INSERT INTO site SELECT toDateTime('2024-01-01 00:00:00', 'UTC') + number * 60 AS ts, \
         toUInt32(if(ts >= toDateTime('2024-01-03 12:00:00', 'UTC') AND ts < toDateTime('2024-01-03 12:10:00', 'UTC'), \
                     1, 100 + 20 * sin(2 * pi() * toHour(ts) / 24) + number % 3)) \
         FROM system.numbers LIMIT 5760",
    )
    .await;
    db
}

#[tokio::test]
async fn backfill_and_run_store_points_and_detections_in_clickhouse() {
    let db = seeded_database().await;
    let options = LoadOptions {
        execution_time: at("2024-01-04 00:05:00"),
        ..LoadOptions::default()
    };
    let loaded = parse_config(
        &config_yaml(&db, "sessions", "sum(sessions)", "value"),
        None,
        &options,
    )
    .expect("config");
    let plan = build_plan(&registry(), loaded.config).expect("plan");
    let runner = Runner::new();
    let report = runner
        .backfill(
            &plan,
            BackfillOptions {
                execution_time: at("2024-01-04 00:05:00"),
                dry_run: false,
                force: false,
                detect: true,
            },
            |_| {},
        )
        .await
        .expect("backfill");
    assert_eq!(report.range.points, 3 * 144);
    assert_eq!(report.range.missing, 0);
    let outage = at("2024-01-03 12:00:00");
    assert!(
        report
            .range
            .anomalies
            .iter()
            .any(|a| a.detection.timestamp == outage),
        "the outage was not flagged: {:?}",
        report
            .range
            .anomalies
            .iter()
            .map(|a| a.detection.timestamp)
            .collect::<Vec<_>>()
    );

    let storage = common::factory().storage(&common::config(&db));
    let points = storage
        .load_datapoints(&LoadDatapoints::new(
            "sessions",
            at("2024-01-01 00:00:00"),
            at("2024-01-04 00:00:00"),
        ))
        .await
        .unwrap();
    assert_eq!(points.len(), 432);
    assert_eq!(points[0].context["hour_of_day"], 0);
    let stored = storage
        .load_detections(&LoadDetections::new(
            "sessions",
            outage,
            outage + chrono::Duration::minutes(10),
        ))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].detection.is_anomaly);

    // A cron run the next morning collects only the new intervals.
    let run = runner
        .run(
            &plan,
            RunOptions {
                execution_time: at("2024-01-04 01:07:00"),
                dry_run: false,
            },
        )
        .await
        .expect("run");
    assert_eq!(run.range.points, 6, "{run:?}");
    assert_eq!(
        storage.last_datapoint_time("sessions").await.unwrap(),
        Some(at("2024-01-04 00:50:00"))
    );
}

#[tokio::test]
async fn wrong_value_column_and_text_values_name_the_metric_and_the_column() {
    let db = seeded_database().await;
    let options = LoadOptions {
        execution_time: at("2024-01-04 00:05:00"),
        ..LoadOptions::default()
    };
    let run_options = RunOptions {
        execution_time: at("2024-01-02 00:05:00"),
        dry_run: false,
    };
    let cases = [
        (
            "wrong_column",
            "sum(sessions)",
            "sessions_total",
            "sessions_total",
        ),
        ("text_value", "toString(sum(sessions))", "value", "text"),
    ];
    for (name, expr, column, expected) in cases {
        let loaded = parse_config(&config_yaml(&db, name, expr, column), None, &options).unwrap();
        let plan = build_plan(&registry(), loaded.config).unwrap();
        let err = Runner::new().run(&plan, run_options).await.unwrap_err();
        assert!(matches!(err, Error::Data { .. }), "{name}: {err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("metric `{name}`")), "{text}");
        assert!(text.contains(expected), "{name}: {text}");
    }
}
