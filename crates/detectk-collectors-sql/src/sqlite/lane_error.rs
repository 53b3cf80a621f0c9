//! rusqlite failures as the `sqlx::Error`s sqlx's own SQLite driver would report, so
//! the storage classifies and words them the same (code, transient, hint).

use std::borrow::Cow;

use sqlx::error::{DatabaseError, ErrorKind};

/// A failure in the SQLite bulk lane.
#[derive(Debug)]
pub(crate) enum LaneError {
    /// rusqlite (and SQLite) reported it.
    Sqlite(rusqlite::Error),
    /// A stored value is not what its column holds: the column, and why.
    Decode(&'static str, String),
}

impl From<rusqlite::Error> for LaneError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<LaneError> for sqlx::Error {
    fn from(e: LaneError) -> Self {
        match e {
            LaneError::Decode(column, why) => sqlx::Error::ColumnDecode {
                index: format!("{column:?}"),
                source: why.into(),
            },
            LaneError::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) => {
                let message = message.unwrap_or_else(|| failure.to_string());
                sqlx::Error::Database(Box::new(SqliteFailure {
                    code: failure.extended_code,
                    message,
                }))
            }
            LaneError::Sqlite(
                e @ (rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::InvalidColumnIndex(_)
                | rusqlite::Error::InvalidColumnName(_)),
            ) => sqlx::Error::Decode(Box::new(e)),
            LaneError::Sqlite(e) => sqlx::Error::AnyDriverError(Box::new(e)),
        }
    }
}

/// An SQLite result code and message, reported like sqlx's `SqliteError`.
#[derive(Debug)]
struct SqliteFailure {
    /// The extended result code.
    code: i32,
    message: String,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        // Primary codes of SQLITE_CONSTRAINT's extended codes (sqlx's own mapping).
        match self.code {
            2067 | 1555 => ErrorKind::UniqueViolation,
            787 => ErrorKind::ForeignKeyViolation,
            1299 => ErrorKind::NotNullViolation,
            275 => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_failures_keep_their_extended_code_and_message() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(517),
            Some("database is locked".into()),
        );
        match sqlx::Error::from(LaneError::from(busy)) {
            sqlx::Error::Database(db) => {
                assert_eq!(db.code().as_deref(), Some("517"));
                assert_eq!(db.message(), "database is locked");
            }
            other => panic!("not a database error: {other:?}"),
        }
    }

    #[test]
    fn bad_values_are_decoding_errors_naming_the_column() {
        let e = sqlx::Error::from(LaneError::Decode(
            "collected_at",
            "\"x\" is not a time".into(),
        ));
        assert_eq!(
            e.to_string(),
            "error occurred while decoding column \"collected_at\": \"x\" is not a time"
        );
        let wrong_type =
            rusqlite::Error::InvalidColumnType(1, "value".into(), rusqlite::types::Type::Text);
        assert!(matches!(
            sqlx::Error::from(LaneError::from(wrong_type)),
            sqlx::Error::Decode(_)
        ));
    }
}
