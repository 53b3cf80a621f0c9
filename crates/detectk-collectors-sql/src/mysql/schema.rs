//! The `dtk_*` tables in MySQL/MariaDB and their forward migrations.
//!
//! Times are `DATETIME(6)` holding UTC (no 2038 limit, no session time zone
//! conversion); text uses `utf8mb4_bin` so metric names compare exactly.

use sqlx::{Connection, MySqlConnection};

use crate::schema::{LEGACY_TABLES, check_version, legacy_name, log_legacy_rename};

const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// Migration statements; entry `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&[&str]] = &[
    &[
        "CREATE TABLE IF NOT EXISTS dtk_datapoints (
        metric_name  VARCHAR(255) NOT NULL,
        collected_at DATETIME(6)  NOT NULL,
        value        DOUBLE       NULL,
        is_missing   BOOLEAN      NOT NULL DEFAULT FALSE,
        context      JSON         NULL,
        loaded_at    DATETIME(6)  NOT NULL,
        PRIMARY KEY (metric_name, collected_at)
    )",
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
        "CREATE TABLE IF NOT EXISTS dtk_checkpoints (
        metric_name VARCHAR(255) NOT NULL,
        job         VARCHAR(64)  NOT NULL,
        position    DATETIME(6)  NOT NULL,
        updated_at  DATETIME(6)  NOT NULL,
        PRIMARY KEY (metric_name, job)
    )",
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
    ],
    &["CREATE TABLE IF NOT EXISTS dtk_alert_leases (
        metric_name VARCHAR(255) NOT NULL PRIMARY KEY,
        token       VARCHAR(128) NOT NULL,
        expires_at  DATETIME(6)  NOT NULL
    )"],
];

/// Creates or migrates the tables while holding a named server lock, so concurrent
/// processes migrate once (MySQL DDL is not transactional).
pub(crate) async fn migrate(conn: &mut MySqlConnection) -> Result<Result<(), String>, sqlx::Error> {
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('detectk.migrate.', DATABASE()), 60)")
            .fetch_one(&mut *conn)
            .await?;
    if locked != Some(1) {
        return Ok(Err(
            "another process held the migration lock for 60 seconds".into(),
        ));
    }
    let result = apply(conn).await;
    let released = sqlx::query("SELECT RELEASE_LOCK(CONCAT('detectk.migrate.', DATABASE()))")
        .execute(&mut *conn)
        .await;
    let outcome = result?;
    released?;
    Ok(outcome)
}

async fn apply(conn: &mut MySqlConnection) -> Result<Result<(), String>, sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS dtk_schema_version (version INT PRIMARY KEY, \
         applied_at DATETIME(6) NOT NULL) {TABLE_OPTIONS}"
    )))
    .execute(&mut *conn)
    .await?;
    let current: Option<i32> = sqlx::query_scalar("SELECT MAX(version) FROM dtk_schema_version")
        .fetch_one(&mut *conn)
        .await?;
    let current = i64::from(current.unwrap_or(0));
    if let Err(message) = check_version(current, MIGRATIONS.len()) {
        return Ok(Err(message));
    }
    if current == 0 {
        rename_legacy_tables(conn).await?;
    }
    for (i, statements) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        for statement in *statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{statement} {TABLE_OPTIONS}")))
                .execute(&mut *conn)
                .await?;
        }
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO dtk_schema_version (version, applied_at) VALUES (?, UTC_TIMESTAMP(6))",
        )
        .bind(i as i32 + 1)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(Ok(()))
}

async fn rename_legacy_tables(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    for (table, marker) in LEGACY_TABLES {
        let (exists, has_marker): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema = DATABASE() AND table_name = ?), \
                    (SELECT COUNT(*) FROM information_schema.columns \
                     WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?)",
        )
        .bind(*table)
        .bind(*table)
        .bind(*marker)
        .fetch_one(&mut *conn)
        .await?;
        if exists == 1 && has_marker == 0 {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "RENAME TABLE {table} TO {}",
                legacy_name(table)
            )))
            .execute(&mut *conn)
            .await?;
            log_legacy_rename(table);
        }
    }
    Ok(())
}
