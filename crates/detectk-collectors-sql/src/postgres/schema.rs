//! The `dtk_*` tables in PostgreSQL and their forward migrations.

use crate::schema::{LEGACY_TABLES, check_version, legacy_name, log_legacy_rename};

/// Migration scripts; script `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS dtk_datapoints (
    metric_name  TEXT             NOT NULL,
    collected_at TIMESTAMPTZ      NOT NULL,
    value        DOUBLE PRECISION,
    is_missing   BOOLEAN          NOT NULL DEFAULT FALSE,
    context      JSONB,
    loaded_at    TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (metric_name, collected_at)
);

CREATE TABLE IF NOT EXISTS dtk_detections (
    metric_name       TEXT             NOT NULL,
    detector_id       TEXT             NOT NULL,
    detected_at       TIMESTAMPTZ      NOT NULL,
    value             DOUBLE PRECISION,
    is_anomaly        BOOLEAN          NOT NULL,
    score             DOUBLE PRECISION,
    lower_bound       DOUBLE PRECISION,
    upper_bound       DOUBLE PRECISION,
    direction         TEXT,
    percent_deviation DOUBLE PRECISION,
    detector_type     TEXT             NOT NULL,
    detector_params   JSONB,
    alert_sent        BOOLEAN          NOT NULL DEFAULT FALSE,
    context           JSONB,
    PRIMARY KEY (metric_name, detector_id, detected_at)
);
CREATE INDEX IF NOT EXISTS dtk_detections_by_time ON dtk_detections (metric_name, detected_at);

CREATE TABLE IF NOT EXISTS dtk_checkpoints (
    metric_name TEXT        NOT NULL,
    job         TEXT        NOT NULL,
    position    TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (metric_name, job)
);

CREATE TABLE IF NOT EXISTS dtk_alerts (
    metric_name  TEXT        NOT NULL,
    alert_key    TEXT        NOT NULL,
    kind         TEXT        NOT NULL,
    alert_time   TIMESTAMPTZ NOT NULL,
    status       TEXT        NOT NULL,
    token        TEXT        NOT NULL,
    claimed_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    sent_at      TIMESTAMPTZ,
    detector_ids JSONB       NOT NULL,
    message      TEXT,
    error        TEXT,
    PRIMARY KEY (metric_name, alert_key)
);
CREATE INDEX IF NOT EXISTS dtk_alerts_by_status ON dtk_alerts (metric_name, status, alert_time);
"#,
    r#"
CREATE TABLE IF NOT EXISTS dtk_alert_leases (
    metric_name TEXT        NOT NULL PRIMARY KEY,
    token       TEXT        NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
"#,
];

/// Creates or migrates the tables (and the schema, when one is configured) in one
/// transaction holding an advisory lock, so concurrent processes migrate once.
pub(crate) async fn migrate(
    conn: &mut sqlx::PgConnection,
    schema: Option<&str>,
) -> Result<Result<(), String>, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('detectk.migrate'))")
        .execute(&mut *tx)
        .await?;
    if let Some(schema) = schema {
        // `schema` is a validated identifier (settings::resolve).
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS dtk_schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await?;
    let current: Option<i32> = sqlx::query_scalar("SELECT MAX(version) FROM dtk_schema_version")
        .fetch_one(&mut *tx)
        .await?;
    let current = i64::from(current.unwrap_or(0));
    if let Err(message) = check_version(current, MIGRATIONS.len()) {
        return Ok(Err(message));
    }
    if current == 0 {
        rename_legacy_tables(&mut tx).await?;
    }
    for (i, script) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        sqlx::raw_sql(*script).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO dtk_schema_version (version) VALUES ($1)")
            .bind(i as i32 + 1)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Ok(()))
}

async fn rename_legacy_tables(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    for (table, marker) in LEGACY_TABLES {
        let (exists, has_marker): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
                            WHERE table_schema = current_schema() AND table_name = $1), \
                    EXISTS (SELECT 1 FROM information_schema.columns \
                            WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2)",
        )
        .bind(*table)
        .bind(*marker)
        .fetch_one(&mut *conn)
        .await?;
        if exists && !has_marker {
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
