//! MySQL and MariaDB's spelling of the `dtk_*` storage: UTC `DATETIME(6)` times
//! (no 2038 limit, no session time zone conversion), JSON held as text,
//! `ON DUPLICATE KEY UPDATE c = VALUES(c)` upserts (the form MariaDB accepts), no
//! NaN or infinities, alert claims as an insert or a guarded update, and migrations
//! under a named server lock (MySQL DDL is not transactional).

use chrono::{DateTime, NaiveDateTime, Utc};
use detectk_core::model::Context;
use serde_json::Value;
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySqlArguments, MySqlRow};
use sqlx::{Arguments, MySql, MySqlConnection, Row};

use crate::records::Contexts;
use crate::storage::Dialect;

/// The MySQL/MariaDB dialect.
#[derive(Debug)]
pub(crate) struct Mysql;

/// Options of every table: text compares exactly (`utf8mb4_bin`), so metric names do.
macro_rules! table_options {
    () => {
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    };
}

const DATAPOINTS: &str = concat!(
    "CREATE TABLE IF NOT EXISTS dtk_datapoints (
        metric_name  VARCHAR(255) NOT NULL,
        collected_at DATETIME(6)  NOT NULL,
        value        DOUBLE       NULL,
        is_missing   BOOLEAN      NOT NULL DEFAULT FALSE,
        context      JSON         NULL,
        loaded_at    DATETIME(6)  NOT NULL,
        PRIMARY KEY (metric_name, collected_at)
    )",
    table_options!()
);

const DETECTIONS: &str = concat!(
    "CREATE TABLE IF NOT EXISTS dtk_detections (
        metric_name       VARCHAR(255) NOT NULL,
        detector_id       VARCHAR(128) NOT NULL,
        detected_at       DATETIME(6)  NOT NULL,
        value             DOUBLE       NULL,
        is_anomaly        BOOLEAN      NOT NULL,
        score             DOUBLE       NULL,
        lower_bound       DOUBLE       NULL,
        upper_bound       DOUBLE       NULL,
        direction         VARCHAR(8)   NULL,
        percent_deviation DOUBLE       NULL,
        detector_type     VARCHAR(64)  NOT NULL,
        detector_params   JSON         NULL,
        alert_sent        BOOLEAN      NOT NULL DEFAULT FALSE,
        context           JSON         NULL,
        PRIMARY KEY (metric_name, detector_id, detected_at),
        KEY dtk_detections_by_time (metric_name, detected_at)
    )",
    table_options!()
);

const CHECKPOINTS: &str = concat!(
    "CREATE TABLE IF NOT EXISTS dtk_checkpoints (
        metric_name VARCHAR(255) NOT NULL,
        job         VARCHAR(64)  NOT NULL,
        position    DATETIME(6)  NOT NULL,
        updated_at  DATETIME(6)  NOT NULL,
        PRIMARY KEY (metric_name, job)
    )",
    table_options!()
);

const ALERTS: &str = concat!(
    "CREATE TABLE IF NOT EXISTS dtk_alerts (
        metric_name  VARCHAR(255) NOT NULL,
        alert_key    VARCHAR(255) NOT NULL,
        kind         VARCHAR(16)  NOT NULL,
        alert_time   DATETIME(6)  NOT NULL,
        status       VARCHAR(16)  NOT NULL,
        token        VARCHAR(128) NOT NULL,
        claimed_at   DATETIME(6)  NOT NULL,
        finished_at  DATETIME(6)  NULL,
        sent_at      DATETIME(6)  NULL,
        detector_ids JSON         NOT NULL,
        message      TEXT         NULL,
        error        TEXT         NULL,
        PRIMARY KEY (metric_name, alert_key),
        KEY dtk_alerts_by_status (metric_name, status, alert_time)
    )",
    table_options!()
);

const ALERT_LEASES: &str = concat!(
    "CREATE TABLE IF NOT EXISTS dtk_alert_leases (
        metric_name VARCHAR(255) NOT NULL PRIMARY KEY,
        token       VARCHAR(128) NOT NULL,
        expires_at  DATETIME(6)  NOT NULL
    )",
    table_options!()
);

const ALERT_HOLDS: &str = concat!(
    "CREATE TABLE IF NOT EXISTS dtk_alert_holds (
        metric_name VARCHAR(255) NOT NULL,
        hold_kind   VARCHAR(16)  NOT NULL,
        created_at  DATETIME(6)  NOT NULL,
        until_at    DATETIME(6)  NULL,
        reason      TEXT         NULL,
        PRIMARY KEY (metric_name, hold_kind)
    )",
    table_options!()
);

/// The name of the migration lock, per database.
const LOCK: &str = "CONCAT('detectk.migrate.', DATABASE())";

impl Dialect for Mysql {
    async fn write_points(
        conn: &mut crate::storage::db::Conn<Self::DB>,
        metric: &str,
        points: &[&detectk_core::model::DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        crate::storage::upsert_points_chunked::<Self>(conn, metric, points, loaded_at).await
    }

    async fn write_detections(
        conn: &mut crate::storage::db::Conn<Self::DB>,
        records: &[&detectk_core::model::DetectionRecord],
    ) -> Result<(), sqlx::Error> {
        crate::storage::upsert_detections_chunked::<Self>(conn, records).await
    }

    type DB = MySql;

    fn add_time(args: &mut MySqlArguments, t: Option<DateTime<Utc>>) -> Result<(), BoxDynError> {
        args.add(t.map(|t| t.naive_utc()))
    }

    fn time(row: &MySqlRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let t: Option<NaiveDateTime> = row.try_get(column)?;
        Ok(t.map(|t| t.and_utc()))
    }

    fn add_json(args: &mut MySqlArguments, json: Option<String>) -> Result<(), BoxDynError> {
        args.add(json)
    }

    fn json(row: &MySqlRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
        // MariaDB's JSON is LONGTEXT on the wire, MySQL's its own type: read the text.
        let text: Option<&str> = row.try_get_unchecked(column)?;
        Ok(text.and_then(|t| serde_json::from_str(t).ok()))
    }

    fn context(
        row: &MySqlRow,
        column: &str,
        contexts: &mut Contexts,
    ) -> Result<Context, sqlx::Error> {
        Ok(contexts.of_text(row.try_get_unchecked(column)?))
    }

    const NOW: Option<&'static str> = Some("UTC_TIMESTAMP(6)");

    const NON_FINITE_FLOATS: bool = false;

    fn upsert(_keys: &str, columns: &str) -> String {
        let set: Vec<String> = columns
            .split(", ")
            .map(|c| format!("{c} = VALUES({c})"))
            .collect();
        format!("ON DUPLICATE KEY UPDATE {}", set.join(", "))
    }

    const CONDITIONAL_UPSERT: bool = false;

    /// 65,535 bind parameters per statement.
    const MAX_BINDS: usize = 65_000;

    const MIGRATIONS: &'static [&'static [&'static str]] = &[
        &[DATAPOINTS, DETECTIONS, CHECKPOINTS, ALERTS],
        &[ALERT_LEASES],
        &[ALERT_HOLDS],
    ];

    const VERSION_TABLE: &'static str = concat!(
        "CREATE TABLE IF NOT EXISTS dtk_schema_version (version INT PRIMARY KEY, \
         applied_at DATETIME(6) NOT NULL)",
        table_options!()
    );

    const TABLE_COUNT: &'static str = "SELECT COUNT(*) AS n FROM information_schema.tables \
        WHERE table_schema = DATABASE() AND table_name = ?";

    const COLUMN_COUNT: &'static str = "SELECT COUNT(*) AS n FROM information_schema.columns \
        WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?";

    const TRANSACTIONAL_DDL: bool = false;

    async fn lock_migrations(
        conn: &mut MySqlConnection,
        _schema: Option<&str>,
    ) -> Result<Result<(), String>, sqlx::Error> {
        let locked: Option<i64> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT GET_LOCK({LOCK}, 60)")))
                .fetch_one(&mut *conn)
                .await?;
        Ok(match locked {
            Some(1) => Ok(()),
            _ => Err("another process held the migration lock for 60 seconds".into()),
        })
    }

    async fn unlock_migrations(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT RELEASE_LOCK({LOCK})")))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_replace_each_column_with_its_new_value() {
        assert_eq!(
            Mysql::upsert("metric_name, job", "position, updated_at"),
            "ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)"
        );
    }
}
