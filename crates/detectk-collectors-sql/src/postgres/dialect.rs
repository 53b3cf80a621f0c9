//! PostgreSQL's spelling of the `dtk_*` storage: TIMESTAMPTZ times, JSONB documents,
//! an advisory lock around migrations, and bulk writes through `UNNEST` arrays (one
//! statement per 50,000 rows, no bind-parameter limit).

use chrono::{DateTime, Utc};
use detectk_core::model::{DataPoint, DetectionRecord};
use serde_json::Value;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, PgConnection, Postgres, Row};

use crate::records::{ParamsText, context_text, detection_context};
use crate::storage::Dialect;

/// The PostgreSQL dialect.
#[derive(Debug)]
pub(crate) struct Pg;

/// Rows per bulk statement: bounds statement size and server memory, not a protocol limit.
const CHUNK_ROWS: usize = 50_000;

/// Schema version 1: datapoints, detections, checkpoints, alerts.
const V1: &str = r#"
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
"#;

/// Schema version 2: the alert lease.
const V2: &str = r#"
CREATE TABLE IF NOT EXISTS dtk_alert_leases (
    metric_name TEXT        NOT NULL PRIMARY KEY,
    token       TEXT        NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
"#;

/// Schema version 3: snoozes and acknowledgements.
const V3: &str = r#"
CREATE TABLE IF NOT EXISTS dtk_alert_holds (
    metric_name TEXT        NOT NULL,
    hold_kind   TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    until_at    TIMESTAMPTZ,
    reason      TEXT,
    PRIMARY KEY (metric_name, hold_kind)
);
"#;

impl Dialect for Pg {
    type DB = Postgres;

    fn add_time(args: &mut PgArguments, t: Option<DateTime<Utc>>) -> Result<(), BoxDynError> {
        args.add(t)
    }

    fn time(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get(column)
    }

    fn add_json(args: &mut PgArguments, json: Option<String>) -> Result<(), BoxDynError> {
        args.add(
            json.map(|text| serde_json::from_str::<Value>(&text))
                .transpose()?,
        )
    }

    fn json(row: &PgRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
        row.try_get(column)
    }

    const NOW: Option<&'static str> = Some("now()");

    const MAX_BINDS: usize = 65_535;

    async fn write_points(
        conn: &mut PgConnection,
        metric: &str,
        points: &[&DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        write_points(conn, metric, points, loaded_at).await
    }

    async fn write_detections(
        conn: &mut PgConnection,
        records: &[&DetectionRecord],
    ) -> Result<(), sqlx::Error> {
        write_detections(conn, records).await
    }

    const MIGRATIONS: &'static [&'static [&'static str]] = &[&[V1], &[V2], &[V3]];

    const VERSION_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS dtk_schema_version \
        (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

    const TABLE_COUNT: &'static str = "SELECT COUNT(*) AS n FROM information_schema.tables \
        WHERE table_schema = current_schema() AND table_name = ?";

    const COLUMN_COUNT: &'static str = "SELECT COUNT(*) AS n FROM information_schema.columns \
        WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?";

    /// An advisory lock held until the migration's transaction ends; creates the
    /// configured schema.
    async fn lock_migrations(
        conn: &mut PgConnection,
        schema: Option<&str>,
    ) -> Result<Result<(), String>, sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('detectk.migrate'))")
            .execute(&mut *conn)
            .await?;
        if let Some(schema) = schema {
            // `schema` is a validated identifier (settings::resolve).
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&mut *conn)
            .await?;
        }
        Ok(Ok(()))
    }
}

/// The plain bulk insert of points; binds: metric, loaded_at, then one array per column.
macro_rules! insert_points {
    () => {
        "INSERT INTO dtk_datapoints (metric_name, collected_at, value, is_missing, context, loaded_at) \
         SELECT $1, t.collected_at, t.value, t.is_missing, t.context::jsonb, $2 \
         FROM UNNEST($3::timestamptz[], $4::float8[], $5::bool[], $6::text[]) \
         AS t(collected_at, value, is_missing, context)"
    };
}

const INSERT_POINTS: &str = insert_points!();

const UPSERT_POINTS: &str = concat!(
    insert_points!(),
    " ON CONFLICT (metric_name, collected_at) DO UPDATE SET value = EXCLUDED.value, \
     is_missing = EXCLUDED.is_missing, context = EXCLUDED.context, loaded_at = EXCLUDED.loaded_at"
);

/// Upserts points through `UNNEST` arrays. New ranges (first loads, backfills) take
/// the cheaper plain INSERT; after the first conflict the remaining chunks go straight
/// to the upsert.
async fn write_points(
    conn: &mut PgConnection,
    metric: &str,
    points: &[&DataPoint],
    loaded_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut conflicts = false;
    for chunk in points.chunks(CHUNK_ROWS) {
        let times: Vec<DateTime<Utc>> = chunk.iter().map(|p| p.timestamp).collect();
        let values: Vec<Option<f64>> = chunk.iter().map(|p| p.value).collect();
        let missing: Vec<bool> = chunk.iter().map(|p| p.is_missing).collect();
        let contexts: Vec<Option<String>> =
            chunk.iter().map(|p| context_text(&p.context)).collect();
        let insert = |sql: &'static str| {
            sqlx::query(sql)
                .bind(metric)
                .bind(loaded_at)
                .bind(times.clone())
                .bind(values.clone())
                .bind(missing.clone())
                .bind(contexts.clone())
        };
        if !conflicts {
            sqlx::query("SAVEPOINT dtk_chunk")
                .execute(&mut *conn)
                .await?;
            match insert(INSERT_POINTS).execute(&mut *conn).await {
                Ok(_) => {
                    sqlx::query("RELEASE SAVEPOINT dtk_chunk")
                        .execute(&mut *conn)
                        .await?;
                    continue;
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    conflicts = true;
                    sqlx::query("ROLLBACK TO SAVEPOINT dtk_chunk")
                        .execute(&mut *conn)
                        .await?;
                }
                Err(e) => return Err(e),
            }
        }
        insert(UPSERT_POINTS).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Upserts detections through `UNNEST` arrays.
async fn write_detections(
    conn: &mut PgConnection,
    records: &[&DetectionRecord],
) -> Result<(), sqlx::Error> {
    for chunk in records.chunks(CHUNK_ROWS) {
        let col = |f: &dyn Fn(&DetectionRecord) -> Option<f64>| -> Vec<Option<f64>> {
            chunk.iter().map(|r| f(r)).collect()
        };
        sqlx::query(
                "INSERT INTO dtk_detections (metric_name, detector_id, detected_at, value, is_anomaly, \
                 score, lower_bound, upper_bound, direction, percent_deviation, detector_type, \
                 detector_params, alert_sent, context) \
                 SELECT t.metric_name, t.detector_id, t.detected_at, t.value, t.is_anomaly, t.score, \
                 t.lower_bound, t.upper_bound, t.direction, t.percent_deviation, t.detector_type, \
                 t.detector_params::jsonb, t.alert_sent, t.context::jsonb \
                 FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::bool[], \
                 $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::float8[], $11::text[], \
                 $12::text[], $13::bool[], $14::text[]) AS t(metric_name, detector_id, detected_at, \
                 value, is_anomaly, score, lower_bound, upper_bound, direction, percent_deviation, \
                 detector_type, detector_params, alert_sent, context) \
                 ON CONFLICT (metric_name, detector_id, detected_at) DO UPDATE SET \
                 value = EXCLUDED.value, is_anomaly = EXCLUDED.is_anomaly, score = EXCLUDED.score, \
                 lower_bound = EXCLUDED.lower_bound, upper_bound = EXCLUDED.upper_bound, \
                 direction = EXCLUDED.direction, percent_deviation = EXCLUDED.percent_deviation, \
                 detector_type = EXCLUDED.detector_type, detector_params = EXCLUDED.detector_params, \
                 alert_sent = EXCLUDED.alert_sent, context = EXCLUDED.context",
            )
            .bind(chunk.iter().map(|r| r.metric.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.detector_id.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.detection.timestamp).collect::<Vec<_>>())
            .bind(col(&|r| r.detection.value))
            .bind(chunk.iter().map(|r| r.detection.is_anomaly).collect::<Vec<_>>())
            .bind(col(&|r| r.detection.score))
            .bind(col(&|r| r.detection.lower_bound))
            .bind(col(&|r| r.detection.upper_bound))
            .bind(
                chunk
                    .iter()
                    .map(|r| r.detection.direction.map(|d| d.as_str().to_string()))
                    .collect::<Vec<_>>(),
            )
            .bind(col(&|r| r.detection.percent_deviation))
            .bind(chunk.iter().map(|r| r.detector_type.clone()).collect::<Vec<_>>())
            .bind({
                let mut params = ParamsText::default();
                chunk
                    .iter()
                    .map(|r| params.of(&r.detector_params))
                    .collect::<Vec<_>>()
            })
            .bind(chunk.iter().map(|r| r.alert_sent).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| detection_context(r)).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
