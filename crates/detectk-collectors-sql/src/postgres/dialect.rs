//! PostgreSQL's spelling of the `dtk_*` storage: TIMESTAMPTZ times, JSONB documents,
//! an advisory lock around migrations, and bulk writes of points and detections
//! (binary `COPY`, or `UNNEST` upserts: see [`super::bulk`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use detectk_core::model::{Context, DataPoint, DetectionRecord};
use serde_json::Value;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgRow, PgValueFormat};
use sqlx::{Arguments, PgConnection, Postgres, Row, TypeInfo, ValueRef};

use super::bulk;
use super::copy::jsonb_text;
use super::lane::PgLane;
use crate::handle::Handle;
use crate::pool::PoolCache;
use crate::records::{Contexts, context_from_value};
use crate::storage::Dialect;
use crate::storage::lane::BulkLane;

/// The PostgreSQL dialect.
#[derive(Debug)]
pub(crate) struct Pg;

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

/// A value of `column` that cannot be decoded, as sqlx reports one.
pub(crate) fn decode_error(column: &str, source: BoxDynError) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: format!("{column:?}"),
        source,
    }
}

/// A point's context from the JSON text of its `column`; the points of one read that
/// store the same text share one context, decoded once, through `contexts`.
pub(crate) fn parse_context(
    text: &[u8],
    column: &str,
    contexts: &mut Contexts,
) -> Result<Context, sqlx::Error> {
    contexts.parse_with(text, |text| {
        serde_json::from_slice::<Value>(text)
            .map(|value| context_from_value(Some(value)))
            .map_err(|e| decode_error(column, e.into()))
    })
}

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

    fn context(row: &PgRow, column: &str, contexts: &mut Contexts) -> Result<Context, sqlx::Error> {
        let raw = row.try_get_raw(column)?;
        if raw.is_null() {
            return Ok(Context::new());
        }
        let mut bytes = raw.as_bytes().map_err(|e| decode_error(column, e))?;
        if raw.format() == PgValueFormat::Binary && raw.type_info().name() == "JSONB" {
            bytes = jsonb_text(bytes)
                .ok_or_else(|| decode_error(column, "unsupported JSONB format version".into()))?;
        }
        parse_context(bytes, column, contexts)
    }

    const NOW: Option<&'static str> = Some("now()");

    const MAX_BINDS: usize = 65_535;

    async fn write_points(
        conn: &mut PgConnection,
        metric: &str,
        points: &[&DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        bulk::write_points(conn, metric, points, loaded_at).await
    }

    async fn write_detections(
        conn: &mut PgConnection,
        records: &[&DetectionRecord],
    ) -> Result<(), sqlx::Error> {
        bulk::write_detections(conn, records).await
    }

    /// Every PostgreSQL storage has one: writes that need no transaction skip it.
    fn bulk_lane(handle: &Handle<Postgres>, _cache: &PoolCache) -> Option<Arc<dyn BulkLane>> {
        Some(Arc::new(PgLane::new(handle.clone())))
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
