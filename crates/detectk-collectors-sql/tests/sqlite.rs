//! SQLite collector and storage against real database files in temporary directories.

#![cfg(feature = "sqlite")]

mod common;

use std::sync::Arc;

use detectk_collectors_sql::SqlFactory;
use detectk_core::model::Cell;
use detectk_core::testkit::{CollectorFixture, SampleKind, StorageSetup};
use detectk_core::{BackendErrorKind, Collector, async_trait};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use common::{collector, params, sample_columns, storage, storage_setup};

/// Two handles (two pools) on one new database file.
async fn sqlite_storage() -> StorageSetup {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dtk.db");
    let p = params(json!({"path": path.to_str().unwrap()}));
    storage_setup("sqlite", "sqlite", &p).await.keep(dir)
}

detectk_core::storage_tests!(storage, sqlite_storage);

struct SqliteFixture {
    _dir: TempDir,
    url: String,
    collector: Arc<dyn Collector>,
}

impl SqliteFixture {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("source.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let dsn = format!("sqlite:///{}", path.display());
        let collector = collector(
            &SqlFactory::new(),
            "sql",
            &params(json!({"connection_string": dsn})),
        );
        Self {
            _dir: dir,
            url,
            collector,
        }
    }
}

#[async_trait]
impl CollectorFixture for SqliteFixture {
    fn collector(&self) -> &dyn Collector {
        self.collector.as_ref()
    }

    async fn setup(&self) -> Result<(), String> {
        let mut conn = SqliteConnection::connect(&self.url)
            .await
            .map_err(|e| e.to_string())?;
        let sql = format!(
            "CREATE TABLE samples (id INTEGER, ts DATETIME, ts_tz TIMESTAMP, d DATE, small INTEGER, \
             big BIGINT, dbl DOUBLE, num NUMERIC(12,3), txt TEXT, flag BOOLEAN);
             INSERT INTO samples VALUES (1, '{}', '{}+00:00', '{}', {}, {}, {}, {}, '{}', 1);
             INSERT INTO samples (id) VALUES (2);",
            SampleKind::Timestamp.literal(),
            SampleKind::TimestampTz.literal(),
            SampleKind::Date.literal(),
            SampleKind::SmallInt.literal(),
            SampleKind::BigInt.literal(),
            SampleKind::Double.literal(),
            SampleKind::Decimal.literal(),
            SampleKind::Text.literal(),
        );
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
            ("flag", SampleKind::Bool),
        ])
    }

    fn select_samples(&self) -> String {
        "SELECT ts, ts_tz, d, small, big, dbl, num, txt, flag FROM samples ORDER BY id".into()
    }

    fn select_empty(&self) -> String {
        "SELECT ts AS period_time, dbl AS value FROM samples WHERE 1 = 0".into()
    }
}

async fn sqlite_collector() -> SqliteFixture {
    SqliteFixture::new()
}

detectk_core::collector_tests!(collector, sqlite_collector);

#[tokio::test]
async fn expression_columns_decode_by_each_values_storage_class() {
    let fixture = SqliteFixture::new();
    fixture.setup().await.unwrap();
    let table = fixture
        .collector()
        .query(
            "SELECT strftime('%Y-%m-%d %H:00:00', ts) AS period_time, COUNT(*) AS value, \
             AVG(dbl) AS mean, date(ts) AS day, typeof(ts) AS t \
             FROM samples WHERE ts IS NOT NULL GROUP BY 1",
        )
        .await
        .unwrap();
    assert_eq!(table.columns, ["period_time", "value", "mean", "day", "t"]);
    let naive = chrono::NaiveDate::from_ymd_opt(2024, 3, 10)
        .unwrap()
        .and_hms_opt(2, 0, 0)
        .unwrap();
    assert_eq!(
        table.rows,
        vec![vec![
            Cell::DateTime(naive),
            Cell::Int(1),
            Cell::Float(2.5),
            Cell::Date(naive.date()),
            Cell::Text("text".into()),
        ]]
    );
}

#[tokio::test]
async fn a_missing_database_file_is_a_connect_error_and_is_not_created() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("absent.db");
    let c = collector(
        &SqlFactory::new(),
        "sqlite",
        &params(json!({"path": path.to_str().unwrap()})),
    );
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert!(err.server.contains("absent.db"), "{}", err.server);
    assert!(!path.exists(), "the collector created the file");
}

#[tokio::test]
async fn storage_creates_the_file_in_wal_mode_with_a_schema_version() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("new.db");
    let p = params(json!({"connection_string": format!("sqlite:///{}", path.display())}));
    let s = storage(&SqlFactory::new(), "sql", &p).await;
    s.migrate().await.unwrap();
    assert!(path.exists());
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM dtk_schema_version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'dtk_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "dtk_alert_holds",
            "dtk_alert_leases",
            "dtk_alerts",
            "dtk_checkpoints",
            "dtk_datapoint_days",
            "dtk_datapoints",
            "dtk_detections",
            "dtk_schema_version"
        ]
    );
}

#[tokio::test]
async fn a_newer_schema_than_this_build_knows_is_a_schema_error() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("future.db");
    let p = params(json!({"path": path.to_str().unwrap()}));
    let s = storage(&SqlFactory::new(), "sqlite", &p).await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO dtk_schema_version VALUES (99, 'later')")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = s.migrate().await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Schema);
    assert!(err.message.contains("99"), "{err}");
}

#[tokio::test]
async fn python_detectk_tables_are_kept_aside_and_replaced() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("python.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    for statement in common::python_detectk_tables("INTEGER PRIMARY KEY AUTOINCREMENT") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let s = storage(
        &SqlFactory::new(),
        "sqlite",
        &params(json!({"path": path.to_str().unwrap()})),
    )
    .await;
    common::check_works_after_python_tables(s.as_ref()).await;
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dtk_datapoints_python")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, 1);
    s.migrate().await.unwrap();
}

/// A SQLite file stores a run's detections and points in one transaction: when the
/// points cannot be written (a trigger refuses them), the detections written before
/// them in the same call are rolled back too, and a later call stores both.
#[tokio::test]
async fn scored_detections_and_points_commit_together() {
    use detectk_core::model::{DataPoint, Detection, DetectionRecord};
    use detectk_core::traits::{LoadDatapoints, LoadDetections};

    let dir = TempDir::new().unwrap();
    let path = dir.path().join("scored.db");
    let p = params(json!({"path": path.to_str().unwrap()}));
    let s = storage(&SqlFactory::new(), "sqlite", &p).await;
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_points BEFORE INSERT ON dtk_datapoints \
         BEGIN SELECT RAISE(ABORT, 'points refused'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let points = vec![DataPoint::new(t0, 1.5)];
    let records = vec![DetectionRecord {
        metric: "m".into(),
        detector_id: "a1b2c3d4".into(),
        detector_type: "zscore".into(),
        detector_params: json!({}),
        detection: Detection::skipped(t0, Some(1.5), "too little history"),
        alert_sent: false,
        context: Default::default(),
    }];
    let far = t0 + chrono::TimeDelta::days(1);
    let stored = |s: Arc<dyn detectk_core::Storage>| async move {
        let detections = s
            .load_detections(&LoadDetections::new("m", t0, far))
            .await
            .unwrap();
        let points = s
            .load_datapoints(&LoadDatapoints::new("m", t0, far))
            .await
            .unwrap();
        (detections.len(), points.len())
    };

    let err = s.store_scored("m", &points, &records).await.unwrap_err();
    assert!(err.message.contains("points refused"), "{err}");
    assert_eq!(
        stored(Arc::clone(&s)).await,
        (0, 0),
        "nothing of the run is stored"
    );

    sqlx::raw_sql("DROP TRIGGER refuse_points")
        .execute(&mut conn)
        .await
        .unwrap();
    s.store_scored("m", &points, &records).await.unwrap();
    assert_eq!(stored(Arc::clone(&s)).await, (1, 1));
}

/// The SQL storage acts on the `anomalies_only_before` hint: before the point it reads
/// only anomalous detections (the alert step's lookback skips the normal rows).
#[tokio::test]
async fn normal_detections_before_the_hint_are_not_read() {
    use detectk_core::testkit::sample_detection;
    use detectk_core::traits::LoadDetections;

    let dir = TempDir::new().unwrap();
    let path = dir.path().join("hint.db");
    let s = storage(
        &SqlFactory::new(),
        "sqlite",
        &params(json!({"path": path.to_str().unwrap()})),
    )
    .await;
    s.migrate().await.unwrap();
    let t = |minute: i64| {
        chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc()
            + chrono::TimeDelta::minutes(minute)
    };
    let mut records = Vec::new();
    for minute in [0, 10, 20, 30] {
        let mut r = sample_detection("m", "a1b2c3d4", t(minute));
        r.detection.is_anomaly = minute == 10;
        records.push(r);
    }
    s.upsert_detections(&records).await.unwrap();
    for op in [
        LoadDetections::new("m", t(0), t(40)).anomalies_only_before(t(20)),
        LoadDetections::new("m", t(0), t(40))
            .detector("a1b2c3d4")
            .anomalies_only_before(t(20)),
    ] {
        let read: Vec<_> = s
            .load_detections(&op)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.detection.timestamp)
            .collect();
        assert_eq!(read, vec![t(10), t(20), t(30)], "{op:?}");
    }
}
