//! MySQL/MariaDB collector and storage against the real server on 127.0.0.1:3306
//! (started by `scripts/services/mariadb.sh`). These tests fail, never skip, when the
//! server is absent.

#![cfg(feature = "mysql")]

mod common;

use std::sync::Arc;

use detectk_collectors_sql::SqlFactory;
use detectk_core::model::Cell;
use detectk_core::testkit::{CollectorFixture, SampleKind, StorageSetup};
use detectk_core::{BackendErrorKind, Collector, async_trait};
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};

use common::{
    collector, merged_params, params, sample_columns, storage, storage_setup, unique_name,
};

const URL: &str = "mysql://root@127.0.0.1:3306/test";
const STORAGE_DB: &str = "dtk_sql_tests";
const URL_DB: &str = "dtk_sql_url_tests";

fn server_params(extra: Value) -> serde_json::Map<String, Value> {
    merged_params(
        json!({"host": "127.0.0.1", "port": 3306, "user": "root", "database": "test"}),
        extra,
    )
}

async fn admin(sql: &str) {
    let mut conn = MySqlConnection::connect(URL)
        .await
        .expect("MariaDB on 127.0.0.1:3306 (run scripts/services/mariadb.sh)");
    for statement in sql.split(";\n").filter(|s| !s.trim().is_empty()) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// Two handles on database `dtk_sql_tests` (checks isolate themselves by metric name).
async fn mysql_storage() -> StorageSetup {
    admin(&format!("CREATE DATABASE IF NOT EXISTS {STORAGE_DB}")).await;
    let p = server_params(json!({"database": STORAGE_DB}));
    storage_setup("mysql", "mysql", &p).await
}

detectk_core::storage_tests!(storage, mysql_storage);

/// Two handles configured by a SQLAlchemy URL, on database `dtk_sql_url_tests`.
async fn url_storage() -> StorageSetup {
    admin(&format!("CREATE DATABASE IF NOT EXISTS {URL_DB}")).await;
    let p = params(json!({
        "connection_string": format!("mysql+pymysql://root@127.0.0.1:3306/{URL_DB}?charset=utf8mb4"),
        "pool_recycle": 3600,
    }));
    storage_setup("sql", "sql", &p)
        .await
        .large_batch_rows(10_000)
}

detectk_core::storage_tests!(storage_through_a_sqlalchemy_url, url_storage);

struct MariaFixture {
    collector: Arc<dyn Collector>,
    database: String,
}

#[async_trait]
impl CollectorFixture for MariaFixture {
    fn collector(&self) -> &dyn Collector {
        self.collector.as_ref()
    }

    async fn teardown(&self) {
        admin(&format!("DROP DATABASE IF EXISTS {}", self.database)).await;
    }

    async fn setup(&self) -> Result<(), String> {
        let k = |kind: SampleKind| kind.literal();
        admin(&format!(
            "CREATE DATABASE {db};
CREATE TABLE {db}.samples (id INT, ts DATETIME, ts_tz TIMESTAMP NULL, d DATE, small SMALLINT,
  big BIGINT, ubig BIGINT UNSIGNED, dbl DOUBLE, num DECIMAL(12,3), txt TEXT, vc VARCHAR(40),
  flag BOOLEAN, tiny TINYINT, mid MEDIUMINT, f4 FLOAT, js JSON);
INSERT INTO {db}.samples VALUES (1, '{ts}', '{ts}', '{d}', {small}, {big}, {ubig}, {dbl}, {num},
  '{txt}', '{txt}', {flag}, {small}, {small}, {dbl}, '{json}');
INSERT INTO {db}.samples (id) VALUES (2)",
            db = self.database,
            ts = k(SampleKind::Timestamp),
            d = k(SampleKind::Date),
            small = k(SampleKind::SmallInt),
            big = k(SampleKind::BigInt),
            ubig = k(SampleKind::UnsignedBigInt),
            dbl = k(SampleKind::Double),
            num = k(SampleKind::Decimal),
            txt = k(SampleKind::Text),
            flag = k(SampleKind::Bool),
            json = k(SampleKind::Json),
        ))
        .await;
        Ok(())
    }

    fn sample_columns(&self) -> Vec<(String, SampleKind)> {
        sample_columns(&[
            ("ts", SampleKind::Timestamp),
            ("ts_tz", SampleKind::TimestampTz),
            ("d", SampleKind::Date),
            ("small", SampleKind::SmallInt),
            ("big", SampleKind::BigInt),
            ("ubig", SampleKind::UnsignedBigInt),
            ("dbl", SampleKind::Double),
            ("num", SampleKind::Decimal),
            ("txt", SampleKind::Text),
            ("vc", SampleKind::Text),
            ("flag", SampleKind::Bool),
            ("tiny", SampleKind::SmallInt),
            ("mid", SampleKind::SmallInt),
            ("f4", SampleKind::Double),
        ])
    }

    fn select_samples(&self) -> String {
        "SELECT ts, ts_tz, d, small, big, ubig, dbl, num, txt, vc, flag, tiny, mid, f4 FROM samples ORDER BY id"
            .into()
    }

    fn select_empty(&self) -> String {
        "SELECT ts AS period_time, dbl AS value FROM samples WHERE 1 = 0".into()
    }
}

fn fixture() -> MariaFixture {
    let database = unique_name("collect");
    MariaFixture {
        collector: collector(
            &SqlFactory::new(),
            "mysql",
            &server_params(json!({"database": database})),
        ),
        database,
    }
}

async fn mysql_collector() -> MariaFixture {
    fixture()
}

detectk_core::collector_tests!(collector, mysql_collector);

#[tokio::test]
async fn mariadb_json_columns_arrive_as_their_text() {
    let f = fixture();
    f.setup().await.unwrap();
    let table = f
        .collector()
        .query("SELECT js FROM samples ORDER BY id")
        .await
        .unwrap();
    admin(&format!("DROP DATABASE IF EXISTS {}", f.database)).await;
    let Cell::Text(text) = &table.rows[0][0] else {
        panic!("JSON column decoded as {:?}", table.rows[0][0])
    };
    let parsed: Value = serde_json::from_str(text).unwrap();
    assert_eq!(parsed, json!({"a": 1, "b": [true, null]}));
    assert_eq!(table.rows[1][0], Cell::Null);
}

/// `password: "${MYSQL_PASSWORD:-}"` with the variable unset, or an empty password in
/// the URL or the environment, means no password: root without one logs in.
#[tokio::test]
async fn an_empty_password_logs_in_as_a_user_without_one() {
    let explicit = collector(
        &SqlFactory::new(),
        "mysql",
        &server_params(json!({"password": ""})),
    );
    let table = explicit.query("SELECT 1 AS one").await.unwrap();
    assert_eq!(table.rows.len(), 1);
    let in_url = collector(
        &SqlFactory::new(),
        "sql",
        &merged_params(
            json!({"connection_string": "mysql://root:@127.0.0.1:3306/test"}),
            json!({}),
        ),
    );
    assert_eq!(in_url.query("SELECT 1 AS one").await.unwrap().rows.len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_that_does_not_show_the_password() {
    let c = collector(
        &SqlFactory::new(),
        "mysql",
        &server_params(json!({"password": "s3cr3t-pw"})),
    );
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Auth, "{err}");
    assert!(!err.transient);
    assert_eq!(err.server, "127.0.0.1:3306");
    let mut chain = format!("{err} {err:?} {c:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        source = s.source();
    }
    assert!(!chain.contains("s3cr3t-pw"), "{chain}");
}

#[tokio::test]
async fn a_server_that_is_down_is_a_transient_connect_error() {
    let c = collector(
        &SqlFactory::new(),
        "mysql",
        &server_params(json!({"port": 1, "timeout": 2})),
    );
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert!(err.transient);
    assert_eq!(err.server, "127.0.0.1:1");
}

#[tokio::test]
async fn an_unknown_database_is_a_connect_error() {
    let c = collector(
        &SqlFactory::new(),
        "mysql",
        &server_params(json!({"database": "dtk_no_such_db"})),
    );
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
}

#[tokio::test]
async fn expression_columns_decode_by_type() {
    let c = collector(&SqlFactory::new(), "mysql", &server_params(json!({})));
    let table = c
        .query(
            "SELECT TIMESTAMP('2024-03-10 02:30:05') AS t, DATE_FORMAT('2024-03-10 02:30:05', '%Y-%m-%d %H:00:00') AS h, \
             COUNT(*) AS n, SUM(1.25) AS s, CAST(5 AS UNSIGNED) AS u",
        )
        .await
        .unwrap();
    let naive = chrono::NaiveDate::from_ymd_opt(2024, 3, 10)
        .unwrap()
        .and_hms_opt(2, 30, 5)
        .unwrap();
    assert_eq!(
        table.rows[0],
        vec![
            Cell::DateTime(naive),
            Cell::Text("2024-03-10 02:00:00".into()),
            Cell::Int(1),
            Cell::Float(1.25),
            Cell::Int(5),
        ]
    );
}

#[tokio::test]
async fn python_detectk_tables_are_kept_aside_and_replaced() {
    let db = unique_name("python");
    let mut script = vec![format!("CREATE DATABASE {db}"), format!("USE {db}")];
    script.extend(common::python_detectk_tables(
        "INT AUTO_INCREMENT PRIMARY KEY",
    ));
    admin(&script.join(";\n")).await;
    let s = storage(
        &SqlFactory::new(),
        "mysql",
        &server_params(json!({"database": db})),
    )
    .await;
    common::check_works_after_python_tables(s.as_ref()).await;
    let mut conn = MySqlConnection::connect(URL).await.unwrap();
    let kept: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {db}.dtk_datapoints_python"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    admin(&format!("DROP DATABASE {db}")).await;
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn zero_dates_never_crash_the_collector() {
    let db = unique_name("zero");
    admin(&format!(
        "CREATE DATABASE {db};
SET SESSION sql_mode = '';
CREATE TABLE {db}.z (d DATE, t DATETIME);
INSERT INTO {db}.z VALUES ('0000-00-00', '0000-00-00 00:00:00')"
    ))
    .await;
    let c = collector(
        &SqlFactory::new(),
        "mysql",
        &server_params(json!({"database": db})),
    );
    let result = c.query("SELECT d, t FROM z").await;
    admin(&format!("DROP DATABASE {db}")).await;
    match result {
        Ok(table) => assert_eq!(table.rows[0], vec![Cell::Null, Cell::Null]),
        Err(e) => assert_eq!(e.kind, BackendErrorKind::Decode, "{e}"),
    }
}

#[tokio::test]
async fn a_trailing_semicolon_and_comments_are_accepted() {
    let c = collector(&SqlFactory::new(), "mysql", &server_params(json!({})));
    let table = c
        .query("-- hourly sessions\nSELECT 1 AS value; \n")
        .await
        .unwrap();
    assert_eq!(table.rows, vec![vec![detectk_core::model::Cell::Int(1)]]);
}
