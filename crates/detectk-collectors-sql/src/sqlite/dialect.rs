//! SQLite's spelling of the `dtk_*` storage: times as UTC text
//! `YYYY-MM-DD HH:MM:SS[.ffffff]` (SQLite's own date format: text order is time order,
//! and `datetime()` understands it), JSON as text, and `BEGIN IMMEDIATE` for every
//! write so concurrent writers queue for the file's lock.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use detectk_core::model::Context;
use serde_json::Value;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row, Sqlite};

use super::lane::LiteLane;
use super::time_text::{not_a_time, parse_time_text, time_text};
use crate::handle::Handle;
use crate::pool::PoolCache;
use crate::records::Contexts;
use crate::settings::{ConnectionSettings, Role, SqliteFile};
use crate::storage::Dialect;
use crate::storage::lane::BulkLane;

/// The SQLite dialect.
#[derive(Debug)]
pub(crate) struct Lite;

/// Schema version 1: datapoints, detections, checkpoints, alerts.
const V1: &str = r#"
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
"#;

/// Schema version 2: the alert lease.
const V2: &str = r#"
CREATE TABLE IF NOT EXISTS dtk_alert_leases (
    metric_name TEXT NOT NULL PRIMARY KEY,
    token       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// Schema version 3: snoozes and acknowledgements.
const V3: &str = r#"
CREATE TABLE IF NOT EXISTS dtk_alert_holds (
    metric_name TEXT NOT NULL,
    hold_kind   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    until_at    TEXT,
    reason      TEXT,
    PRIMARY KEY (metric_name, hold_kind)
) WITHOUT ROWID;
"#;

/// Schema version 4: the day blocks of the points (see `sqlite::window`), dropped by
/// triggers whenever any writer changes a row of their day.
const V4: &str = r#"
CREATE TABLE IF NOT EXISTS dtk_datapoint_days (
    metric_name TEXT NOT NULL,
    day         TEXT NOT NULL,
    block       BLOB NOT NULL,
    PRIMARY KEY (metric_name, day)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS dtk_datapoints_day_insert AFTER INSERT ON dtk_datapoints
BEGIN
    DELETE FROM dtk_datapoint_days
    WHERE metric_name = NEW.metric_name AND day = substr(NEW.collected_at, 1, 10);
END;

CREATE TRIGGER IF NOT EXISTS dtk_datapoints_day_update AFTER UPDATE ON dtk_datapoints
BEGIN
    DELETE FROM dtk_datapoint_days
    WHERE metric_name = OLD.metric_name AND day = substr(OLD.collected_at, 1, 10);
    DELETE FROM dtk_datapoint_days
    WHERE metric_name = NEW.metric_name AND day = substr(NEW.collected_at, 1, 10);
END;

CREATE TRIGGER IF NOT EXISTS dtk_datapoints_day_delete AFTER DELETE ON dtk_datapoints
BEGIN
    DELETE FROM dtk_datapoint_days
    WHERE metric_name = OLD.metric_name AND day = substr(OLD.collected_at, 1, 10);
END;
"#;

impl Dialect for Lite {
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

    type DB = Sqlite;

    /// A storage FILE reads and writes in bulk through rusqlite (see `sqlite::lane`),
    /// one lane per file and settings; `:memory:` keeps sqlx.
    fn bulk_lane(handle: &Handle<Sqlite>, cache: &PoolCache) -> Option<Arc<dyn BulkLane>> {
        let settings = handle.settings();
        let ConnectionSettings::Sqlite(s) = settings else {
            return None;
        };
        let SqliteFile::Path(path) = &s.file else {
            return None;
        };
        if s.role != Role::Storage {
            return None;
        }
        let key = format!("{} bulk lane", settings.pool_key());
        let lane = cache.get_or_insert(key, || {
            LiteLane::new(path.clone(), s.max_connections as usize, s.timeout)
        });
        Some(lane)
    }

    fn add_time(args: &mut SqliteArguments, t: Option<DateTime<Utc>>) -> Result<(), BoxDynError> {
        args.add(t.map(time_text))
    }

    fn time(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let text: Option<&str> = row.try_get(column)?;
        text.map(|t| {
            parse_time_text(t).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: format!("{column:?}"),
                source: not_a_time(t).into(),
            })
        })
        .transpose()
    }

    fn add_json(args: &mut SqliteArguments, json: Option<String>) -> Result<(), BoxDynError> {
        args.add(json)
    }

    fn json(row: &SqliteRow, column: &str) -> Result<Option<Value>, sqlx::Error> {
        let text: Option<&str> = row.try_get(column)?;
        Ok(text.and_then(|t| serde_json::from_str(t).ok()))
    }

    fn context(
        row: &SqliteRow,
        column: &str,
        contexts: &mut Contexts,
    ) -> Result<Context, sqlx::Error> {
        Ok(contexts.of_text(row.try_get(column)?))
    }

    const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");

    /// SQLite allows 32,766 bind parameters per statement.
    const MAX_BINDS: usize = 32_000;

    const MIGRATIONS: &'static [&'static [&'static str]] = &[&[V1], &[V2], &[V3], &[V4]];

    const VERSION_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS dtk_schema_version \
        (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)";

    const TABLE_COUNT: &'static str =
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?";

    const COLUMN_COUNT: &'static str =
        "SELECT COUNT(*) AS n FROM pragma_table_info(?) WHERE name = ?";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_replace_each_column_from_excluded() {
        assert_eq!(
            Lite::upsert("metric_name, job", "position, updated_at"),
            "ON CONFLICT (metric_name, job) DO UPDATE SET position = excluded.position, \
             updated_at = excluded.updated_at"
        );
    }
}
