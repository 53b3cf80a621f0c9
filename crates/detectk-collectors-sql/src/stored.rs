//! Reading back what the SQL storages wrote, the same way on every driver: the
//! columns of a `dtk_detections` row, and the outcome of a migration.

use chrono::{DateTime, Utc};
use detectk_core::model::{Context, Detection, DetectionRecord, Direction};
use detectk_core::traits::AlertKind;
use detectk_core::{BackendError, BackendErrorKind};
use serde_json::Value;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::Driver;
use crate::error::backend_error;
use crate::records::{parse_kind, split_detection_context};

/// A `dtk_detections` row as a record. The columns every driver decodes alike
/// (text, floats, booleans) are read from `row`; the caller decodes the ones whose
/// types differ by driver (`detected_at`, `detector_params`, `context`) and passes
/// them in. `context` is the stored map; its `stats` and `skipped` are split out.
pub(crate) fn detection_record<'r, R>(
    row: &'r R,
    timestamp: DateTime<Utc>,
    detector_params: Value,
    context: Context,
) -> Result<DetectionRecord, sqlx::Error>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let (context, stats, skipped) = split_detection_context(context);
    let direction: Option<String> = row.try_get("direction")?;
    Ok(DetectionRecord {
        metric: row.try_get("metric_name")?,
        detector_id: row.try_get("detector_id")?,
        detector_type: row.try_get("detector_type")?,
        detector_params,
        detection: Detection {
            timestamp,
            value: row.try_get("value")?,
            is_anomaly: row.try_get("is_anomaly")?,
            score: row.try_get("score")?,
            lower_bound: row.try_get("lower_bound")?,
            upper_bound: row.try_get("upper_bound")?,
            direction: direction.as_deref().and_then(Direction::parse),
            percent_deviation: row.try_get("percent_deviation")?,
            skipped,
            stats,
        },
        alert_sent: row.try_get("alert_sent")?,
        context,
    })
}

/// Stored `detector_params` text back into JSON (NULL or unparsable text gives `null`).
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) fn params_from_text(text: Option<String>) -> Value {
    text.and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or(Value::Null)
}

/// A stored alert kind, or a [`BackendErrorKind::Decode`] error naming `server`.
pub(crate) fn alert_kind(server: &str, text: &str) -> Result<AlertKind, BackendError> {
    parse_kind(text).ok_or_else(|| {
        BackendError::new(
            BackendErrorKind::Decode,
            server,
            format!("unknown alert kind {text:?}"),
        )
    })
}

/// A stored alert status, or a [`BackendErrorKind::Decode`] error naming `server`.
pub(crate) fn alert_status(
    server: &str,
    text: &str,
) -> Result<detectk_core::traits::AlertStatus, BackendError> {
    detectk_core::traits::AlertStatus::parse(text).ok_or_else(|| {
        BackendError::new(
            BackendErrorKind::Decode,
            server,
            format!("unknown alert status {text:?}"),
        )
    })
}

/// The result of a driver's `schema::migrate` as the storage reports it: a refusal
/// (tables newer than this build, lock not obtained) is a [`BackendErrorKind::Schema`]
/// error; a failed statement is reported as creating the tables, with the kind
/// `Query` turned into `Schema`.
pub(crate) fn migration_result(
    driver: Driver,
    server: &str,
    outcome: Result<Result<(), String>, sqlx::Error>,
) -> Result<(), BackendError> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(BackendError::new(BackendErrorKind::Schema, server, message)),
        Err(e) => {
            let mut err = backend_error(driver, server, "creating the dtk_* tables", e);
            if err.kind == BackendErrorKind::Query {
                err.kind = BackendErrorKind::Schema;
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_migration_is_a_schema_error_with_its_message() {
        let driver = Driver::enabled()[0];
        assert!(migration_result(driver, "db", Ok(Ok(()))).is_ok());
        let err = migration_result(driver, "db", Ok(Err("too new".into()))).unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Schema);
        assert_eq!(err.server, "db");
        assert_eq!(err.message, "too new");
    }

    #[test]
    fn unknown_alert_kinds_are_decode_errors() {
        assert_eq!(alert_kind("db", "recovery").unwrap(), AlertKind::Recovery);
        let err = alert_kind("db", "later").unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Decode);
        assert!(err.message.contains("\"later\""), "{err}");
    }

    #[cfg(any(feature = "sqlite", feature = "mysql"))]
    #[test]
    fn unreadable_detector_params_are_null() {
        assert_eq!(params_from_text(None), Value::Null);
        assert_eq!(params_from_text(Some("{".into())), Value::Null);
        assert_eq!(
            params_from_text(Some(r#"{"n": 3}"#.into())),
            serde_json::json!({"n": 3})
        );
    }
}
