//! PostgreSQL collector and storage against the real server on 127.0.0.1:5432
//! (started by `scripts/services/postgres.sh`). These tests fail, never skip, when the
//! server is absent.

#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;

use detectk_collectors_sql::SqlFactory;
use detectk_core::testkit::{CollectorFixture, SampleKind, StorageSetup};
use detectk_core::traits::LoadDatapoints;
use detectk_core::{BackendErrorKind, Collector, async_trait};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use common::{
    collector, merged_params, params, sample_columns, storage, storage_setup, unique_name,
};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn server_params(extra: Value) -> serde_json::Map<String, Value> {
    merged_params(
        json!({"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"}),
        extra,
    )
}

async fn admin() -> PgConnection {
    PgConnection::connect(URL)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run scripts/services/postgres.sh)")
}

async fn drop_schema(schema: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut admin().await)
    .await
    .unwrap();
}

/// Two handles on schema `dtk_sql_tests` (checks isolate themselves by metric name).
async fn postgres_storage() -> StorageSetup {
    let p = server_params(json!({"schema": "dtk_sql_tests"}));
    storage_setup("postgres", "postgresql", &p).await
}

detectk_core::storage_tests!(storage, postgres_storage);

/// Two handles configured by a SQLAlchemy URL, on schema `dtk_sql_url_tests`.
async fn url_storage() -> StorageSetup {
    let p = params(json!({
        "connection_string": "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
        "schema": "dtk_sql_url_tests",
        "pool_size": 5,
    }));
    storage_setup("sql", "sql", &p)
        .await
        .large_batch_rows(10_000)
}

detectk_core::storage_tests!(storage_through_a_sqlalchemy_url, url_storage);

struct PgFixture {
    schema: String,
    collector: Arc<dyn Collector>,
}

#[async_trait]
impl CollectorFixture for PgFixture {
    fn collector(&self) -> &dyn Collector {
        self.collector.as_ref()
    }

    async fn teardown(&self) {
        drop_schema(&self.schema).await;
    }

    async fn setup(&self) -> Result<(), String> {
        let k = |kind: SampleKind| kind.literal();
        let sql = format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.samples (id INT, ts TIMESTAMP, ts_tz TIMESTAMPTZ, d DATE, small SMALLINT,
               big BIGINT, dbl DOUBLE PRECISION, num NUMERIC(12,3), txt TEXT, vc VARCHAR(40), js JSON,
               jb JSONB, flag BOOLEAN, real4 REAL);
             INSERT INTO {schema}.samples VALUES (1, '{ts}', '{ts}+00', '{d}', {small}, {big}, {dbl}, {num},
               '{txt}', '{txt}', '{json}', '{json}', {flag}, {dbl});
             INSERT INTO {schema}.samples (id) VALUES (2);",
            schema = self.schema,
            ts = k(SampleKind::Timestamp),
            d = k(SampleKind::Date),
            small = k(SampleKind::SmallInt),
            big = k(SampleKind::BigInt),
            dbl = k(SampleKind::Double),
            num = k(SampleKind::Decimal),
            txt = k(SampleKind::Text),
            json = k(SampleKind::Json),
            flag = k(SampleKind::Bool),
        );
        let mut conn = PgConnection::connect(URL)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn sample_columns(&self) -> Vec<(String, SampleKind)> {
        sample_columns(&[
            ("ts", SampleKind::Timestamp),
            ("ts_tz", SampleKind::TimestampTz),
            ("d", SampleKind::Date),
            ("small", SampleKind::SmallInt),
            ("big", SampleKind::BigInt),
            ("dbl", SampleKind::Double),
            ("num", SampleKind::Decimal),
            ("txt", SampleKind::Text),
            ("vc", SampleKind::Text),
            ("js", SampleKind::Json),
            ("jb", SampleKind::Json),
            ("flag", SampleKind::Bool),
            ("real4", SampleKind::Double),
        ])
    }

    fn select_samples(&self) -> String {
        "SELECT ts, ts_tz, d, small, big, dbl, num, txt, vc, js, jb, flag, real4 FROM samples ORDER BY id".into()
    }

    fn select_empty(&self) -> String {
        "SELECT ts AS period_time, dbl AS value FROM samples WHERE false".into()
    }
}

/// A collector on a new schema, dropped by `teardown`.
async fn postgres_collector() -> PgFixture {
    let schema = unique_name("collect");
    PgFixture {
        collector: collector(
            &SqlFactory::new(),
            "postgres",
            &server_params(json!({"schema": schema})),
        ),
        schema,
    }
}

detectk_core::collector_tests!(collector, postgres_collector);

#[tokio::test]
async fn session_time_zone_does_not_shift_timestamptz() {
    let c = collector(&SqlFactory::new(), "postgres", &server_params(json!({})));
    let table = c
        .query("SELECT TIMESTAMPTZ '2024-03-10 05:30:05+03' AS t, date_trunc('hour', TIMESTAMP '2024-03-10 02:30:05') AS h, 1.5::numeric * 2 AS n")
        .await
        .unwrap();
    let utc = chrono::NaiveDate::from_ymd_opt(2024, 3, 10)
        .unwrap()
        .and_hms_opt(2, 30, 5)
        .unwrap();
    assert_eq!(
        table.rows[0][0],
        detectk_core::model::Cell::DateTimeUtc(utc.and_utc())
    );
    assert_eq!(
        table.rows[0][1],
        detectk_core::model::Cell::DateTime(utc.date().and_hms_opt(2, 0, 0).unwrap())
    );
    assert_eq!(table.rows[0][2], detectk_core::model::Cell::Float(3.0));
}

#[tokio::test]
async fn a_server_that_is_down_is_a_transient_connect_error_without_the_password() {
    let p = server_params(json!({"port": 1, "password": "s3cr3t-pw", "timeout": 5}));
    let c = collector(&SqlFactory::new(), "postgres", &p);
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert!(err.transient, "{err}");
    assert_eq!(err.server, "127.0.0.1:1");
    let shown = format!("{err} {err:?} {c:?} {}", c.describe());
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
}

#[tokio::test]
async fn an_unknown_database_is_a_connect_error() {
    let c = collector(
        &SqlFactory::new(),
        "postgres",
        &server_params(json!({"database": "dtk_no_such_db"})),
    );
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert!(!err.transient);
}

#[tokio::test]
async fn a_query_running_past_the_timeout_is_a_transient_timeout() {
    let c = collector(
        &SqlFactory::new(),
        "postgres",
        &server_params(json!({"timeout": 1})),
    );
    let err = c.query("SELECT pg_sleep(5)").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Timeout, "{err}");
    assert!(err.transient);
}

#[tokio::test]
async fn migrate_creates_the_schema_tables_and_version() {
    let schema = unique_name("migrate");
    let s = storage(
        &SqlFactory::new(),
        "postgres",
        &server_params(json!({"schema": schema})),
    )
    .await;
    s.migrate().await.unwrap();
    let mut conn = admin().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let versions: Vec<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {schema}.dtk_schema_version"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    drop_schema(&schema).await;
    assert_eq!(
        tables,
        [
            "dtk_alert_holds",
            "dtk_alert_leases",
            "dtk_alerts",
            "dtk_checkpoints",
            "dtk_datapoints",
            "dtk_detections",
            "dtk_schema_version"
        ]
    );
    assert_eq!(versions, vec![1, 2, 3]);
}

/// A collector on one server and a storage on another are independent objects:
/// SQLite data stored in PostgreSQL, both built by one factory.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn collector_and_storage_on_different_servers() {
    use detectk_core::model::{Cell, DataPoint};

    let dir = tempfile::TempDir::new().unwrap();
    let source = dir.path().join("source.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", source.display()))
            .await
            .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE events (ts TEXT, n INTEGER);
         INSERT INTO events VALUES ('2024-01-01 00:00:00', 5), ('2024-01-01 00:10:00', 7);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let factory = SqlFactory::new();
    let collector = collector(
        &factory,
        "sql",
        &params(json!({"connection_string": format!("sqlite:///{}", source.display())})),
    );
    let store = storage(
        &factory,
        "postgres",
        &server_params(json!({"schema": "dtk_sql_tests"})),
    )
    .await;
    let table = collector
        .query("SELECT ts, n FROM events ORDER BY ts")
        .await
        .unwrap();
    let points: Vec<DataPoint> = table
        .rows
        .iter()
        .map(|row| match (&row[0], &row[1]) {
            (Cell::DateTime(t), Cell::Int(n)) => DataPoint::new(t.and_utc(), *n as f64),
            other => panic!("unexpected cells {other:?}"),
        })
        .collect();
    let metric = detectk_core::testkit::unique_metric("cross");
    store.upsert_datapoints(&metric, &points).await.unwrap();
    let from = points[0].timestamp;
    let loaded = store
        .load_datapoints(&LoadDatapoints::new(
            &metric,
            from,
            from + chrono::Duration::hours(1),
        ))
        .await
        .unwrap();
    assert_eq!(loaded, points);
    assert_eq!(factory.pool_count(), 2);
}

#[tokio::test]
async fn python_detectk_tables_are_kept_aside_and_replaced() {
    let schema = unique_name("python");
    let mut conn = admin().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    for statement in common::python_detectk_tables("SERIAL PRIMARY KEY") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let s = storage(
        &SqlFactory::new(),
        "postgres",
        &server_params(json!({"schema": schema})),
    )
    .await;
    common::check_works_after_python_tables(s.as_ref()).await;
    let kept: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {schema}.dtk_datapoints_python"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    drop_schema(&schema).await;
    assert_eq!(kept, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_with_equal_settings_share_one_bounded_pool() {
    use detectk_core::model::Cell;
    let factory = SqlFactory::new();
    let p = server_params(json!({"max_connections": 2}));
    let collectors: Vec<_> = (0..6)
        .map(|_| collector(&factory, "postgres", &p))
        .collect();
    assert_eq!(factory.pool_count(), 1);
    let started = std::time::Instant::now();
    let results = futures::future::join_all(
        collectors
            .iter()
            .map(|c| c.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.3)::text AS slept")),
    )
    .await;
    let elapsed = started.elapsed();
    let pids: std::collections::HashSet<i64> = results
        .into_iter()
        .map(|r| match r.unwrap().rows[0][0] {
            Cell::Int(pid) => pid,
            ref other => panic!("pid decoded as {other:?}"),
        })
        .collect();
    assert!(
        pids.len() <= 2,
        "{} server connections for max_connections 2",
        pids.len()
    );
    assert!(
        elapsed >= std::time::Duration::from_millis(850),
        "6 queries of 0.3 s over 2 connections took only {elapsed:?}"
    );
}

#[tokio::test]
async fn a_value_that_cannot_be_decoded_is_a_decode_error_naming_the_column() {
    let c = collector(&SqlFactory::new(), "postgres", &server_params(json!({})));
    let err = c
        .query("SELECT 1 AS ok, 'infinity'::timestamptz AS period_time")
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Decode, "{err}");
    assert!(err.message.contains("`period_time`"), "{err}");
    assert!(!err.transient);
    for sql in [
        "SELECT '-infinity'::timestamp AS t",
        "SELECT 'infinity'::date AS t",
    ] {
        let err = c.query(sql).await.unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Decode, "{sql}: {err}");
    }
    let table = c
        .query("SELECT '1999-12-31 23:59:59.5'::timestamp AS t, '1970-01-01'::date AS d")
        .await
        .unwrap();
    let t = chrono::NaiveDate::from_ymd_opt(1999, 12, 31)
        .unwrap()
        .and_hms_milli_opt(23, 59, 59, 500)
        .unwrap();
    assert_eq!(
        table.rows[0],
        vec![
            detectk_core::model::Cell::DateTime(t),
            detectk_core::model::Cell::Date(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        ]
    );
}

#[tokio::test]
async fn a_trailing_semicolon_and_comments_are_accepted() {
    let c = collector(&SqlFactory::new(), "postgres", &server_params(json!({})));
    let table = c
        .query("-- hourly sessions\nSELECT 1 AS value; \n")
        .await
        .unwrap();
    assert_eq!(table.rows, vec![vec![detectk_core::model::Cell::Int(1)]]);
}
