//! The backend-neutral conformance suites of `detectk_core::testkit`, run against
//! ClickHouse 18.16 on 127.0.0.1:8123.

mod common;

use detectk_collectors_clickhouse::{ClickHouseCollector, ConnectionConfig};
use detectk_core::async_trait;
use std::sync::Arc;

use detectk_core::testkit::{CollectorFixture, SampleKind, StorageSetup};
use detectk_core::{Collector, Storage};

/// Two independent handles (two connection pools) on a new database `db`, each with
/// its alert state in one SQLite file (ClickHouse cannot compare-and-set), reached
/// through an independent pool per handle. The database and the file live as long as
/// the check.
async fn storage_on(db: common::TempDb) -> StorageSetup {
    let dir = tempfile::tempdir().expect("temp dir");
    let state_file = dir.path().join("state.db");
    let config = db.config();
    let storage = common::split(
        common::factory().storage(&config),
        common::sqlite_state(&state_file).await,
    );
    let peer = common::split(
        common::factory().storage(&config),
        common::sqlite_state(&state_file).await,
    );
    storage.migrate().await.expect("migrate");
    peer.migrate().await.expect("migrate peer");
    StorageSetup::new(Arc::new(storage), Arc::new(peer))
        .keep(dir)
        .keep(db)
}

async fn utc_storage() -> StorageSetup {
    storage_on(common::TempDb::new("conf")).await
}

detectk_core::storage_tests!(storage, utc_storage);

/// The same checks on a server whose own time zone is not UTC.
async fn new_york_storage() -> StorageSetup {
    storage_on(common::TempDb::on(
        common::config_new_york("default"),
        "conf_ny",
    ))
    .await
}

detectk_core::storage_tests!(storage_on_a_new_york_server, new_york_storage);

struct Fixture {
    config: ConnectionConfig,
    collector: ClickHouseCollector,
    _db: common::TempDb,
}

impl Fixture {
    fn new(db: common::TempDb) -> Self {
        let config = db.config();
        Self {
            collector: common::factory().collector(config.clone()),
            config,
            _db: db,
        }
    }

    async fn exec(&self, database: &str, sql: &str) {
        let mut on = self.config.clone();
        on.database = database.to_string();
        common::exec_on(&on, sql).await;
    }
}

/// Sample columns ClickHouse 18.16 has a type for. It has no zone-less timestamp
/// (DateTime is an absolute instant), no JSON and no Bool type.
const COLUMNS: &[(&str, SampleKind, &str)] = &[
    // A column zone other than UTC: the canonical instant is 02:30:05 UTC = 21:30:05 in New York.
    (
        "ts_tz",
        SampleKind::TimestampTz,
        "Nullable(DateTime('America/New_York'))",
    ),
    ("d", SampleKind::Date, "Nullable(Date)"),
    ("small", SampleKind::SmallInt, "Nullable(Int16)"),
    ("big", SampleKind::BigInt, "Nullable(Int64)"),
    ("ubig", SampleKind::UnsignedBigInt, "Nullable(UInt64)"),
    ("dbl", SampleKind::Double, "Nullable(Float64)"),
    ("dec", SampleKind::Decimal, "Nullable(Decimal(12, 3))"),
    ("txt", SampleKind::Text, "Nullable(String)"),
];

#[async_trait]
impl CollectorFixture for Fixture {
    fn collector(&self) -> &dyn Collector {
        &self.collector
    }

    async fn setup(&self) -> Result<(), String> {
        let db = self.config.database.clone();
        self.exec("default", &format!("CREATE DATABASE {db}")).await;
        let columns: Vec<String> = COLUMNS.iter().map(|(n, _, t)| format!("{n} {t}")).collect();
        self.exec(
            &db,
            &format!(
                "CREATE TABLE samples (row UInt8, {}) ENGINE = MergeTree ORDER BY row",
                columns.join(", ")
            ),
        )
        .await;
        let values: Vec<String> = COLUMNS
            .iter()
            .map(|(_, kind, _)| match kind {
                SampleKind::TimestampTz => {
                    format!("toDateTime('{}', 'UTC')", kind.literal())
                }
                SampleKind::Date => format!("toDate('{}')", kind.literal()),
                SampleKind::Text => format!("'{}'", kind.literal()),
                _ => kind.literal().to_string(),
            })
            .collect();
        let nulls = vec!["NULL"; COLUMNS.len()].join(", ");
        self.exec(
            &db,
            &format!(
                "INSERT INTO samples VALUES (1, {}), (2, {nulls})",
                values.join(", ")
            ),
        )
        .await;
        Ok(())
    }

    fn sample_columns(&self) -> Vec<(String, SampleKind)> {
        COLUMNS
            .iter()
            .map(|(n, k, _)| (n.to_string(), *k))
            .collect()
    }

    fn select_samples(&self) -> String {
        let names: Vec<&str> = COLUMNS.iter().map(|(n, ..)| *n).collect();
        format!("SELECT {} FROM samples ORDER BY row", names.join(", "))
    }

    fn select_empty(&self) -> String {
        "SELECT now() AS period_time, 1.5 AS value FROM system.one WHERE 0".into()
    }
}

/// A collector on a new database (created by the fixture's setup, dropped with it).
async fn utc_collector() -> Fixture {
    Fixture::new(common::TempDb::new("colconf"))
}

detectk_core::collector_tests!(collector, utc_collector);

/// The same checks on a server whose own time zone is not UTC.
async fn new_york_collector() -> Fixture {
    Fixture::new(common::TempDb::on(
        common::config_new_york("default"),
        "colconf_ny",
    ))
}

detectk_core::collector_tests!(collector_on_a_new_york_server, new_york_collector);
