//! Reading back what the SQL storages wrote, the same way on every driver: alert
//! kinds and statuses, and the outcome of a migration.

use detectk_core::traits::AlertKind;
use detectk_core::{BackendError, BackendErrorKind};

use crate::Driver;
use crate::error::backend_error;
use crate::records::parse_kind;

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
}
