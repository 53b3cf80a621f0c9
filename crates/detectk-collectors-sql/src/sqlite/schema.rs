//! The `dtk_*` tables in SQLite and their forward migrations.
//!
//! Times are stored as UTC text `YYYY-MM-DD HH:MM:SS[.ffffff]` (SQLite's own date
//! format: text order is time order, and `datetime()` understands it); JSON as text.

use crate::schema::{LEGACY_TABLES, check_version, legacy_name, log_legacy_rename};

/// Migration scripts; script `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS dtk_datapoints (
    metric_name  TEXT    NOT NULL,
    collected_at TEXT    NOT NULL,
    value        REAL,
    is_missing   INTEGER NOT NULL DEFAULT 0,
    context      TEXT,
    loaded_at    TEXT    NOT NULL,
    PRIMARY KEY (metric_name, collected_at)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dtk_detections (
    metric_name       TEXT    NOT NULL,
    detector_id       TEXT    NOT NULL,
    detected_at       TEXT    NOT NULL,
    value             REAL,
    is_anomaly        INTEGER NOT NULL,
    score             REAL,
    lower_bound       REAL,
    upper_bound       REAL,
    direction         TEXT,
    percent_deviation REAL,
    detector_type     TEXT    NOT NULL,
    detector_params   TEXT,
    alert_sent        INTEGER NOT NULL DEFAULT 0,
    context           TEXT,
    PRIMARY KEY (metric_name, detector_id, detected_at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dtk_detections_by_time ON dtk_detections (metric_name, detected_at);

CREATE TABLE IF NOT EXISTS dtk_checkpoints (
    metric_name TEXT NOT NULL,
    job         TEXT NOT NULL,
    position    TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (metric_name, job)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dtk_alerts (
    metric_name  TEXT NOT NULL,
    alert_key    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    alert_time   TEXT NOT NULL,
    status       TEXT NOT NULL,
    token        TEXT NOT NULL,
    claimed_at   TEXT NOT NULL,
    finished_at  TEXT,
    sent_at      TEXT,
    detector_ids TEXT NOT NULL,
    message      TEXT,
    error        TEXT,
    PRIMARY KEY (metric_name, alert_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dtk_alerts_by_status ON dtk_alerts (metric_name, status, alert_time);
"#,
    r#"
CREATE TABLE IF NOT EXISTS dtk_alert_leases (
    metric_name TEXT NOT NULL PRIMARY KEY,
    token       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
"#,
];

/// Creates or migrates the tables, in one `BEGIN IMMEDIATE` transaction so concurrent
/// processes apply each migration once.
pub(crate) async fn migrate(
    conn: &mut sqlx::SqliteConnection,
) -> Result<Result<(), String>, sqlx::Error> {
    let mut tx = sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS dtk_schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM dtk_schema_version")
        .fetch_one(&mut *tx)
        .await?;
    let current = current.unwrap_or(0);
    if let Err(message) = check_version(current, MIGRATIONS.len()) {
        return Ok(Err(message));
    }
    if current == 0 {
        rename_legacy_tables(&mut tx).await?;
    }
    for (i, script) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        sqlx::raw_sql(*script).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO dtk_schema_version (version, applied_at) VALUES (?1, datetime('now'))",
        )
        .bind(i as i64 + 1)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(()))
}

async fn rename_legacy_tables(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    for (table, marker) in LEGACY_TABLES {
        let (exists, has_marker): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1), \
                    (SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2)",
        )
        .bind(*table)
        .bind(*marker)
        .fetch_one(&mut *conn)
        .await?;
        if exists == 1 && has_marker == 0 {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} RENAME TO {}",
                legacy_name(table)
            )))
            .execute(&mut *conn)
            .await?;
            log_legacy_rename(table);
        }
    }
    Ok(())
}
