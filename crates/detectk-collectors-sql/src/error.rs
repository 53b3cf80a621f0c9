//! Maps sqlx errors to [`BackendError`]s with the right kind, server and retry hint.

use std::io::ErrorKind as Io;

use detectk_core::{BackendError, BackendErrorKind as Kind};

use crate::Driver;

/// Builds a [`BackendError`] for a failed `what` (e.g. "query", "upserting datapoints")
/// against `server`. Connection resets, timeouts, deadlocks and busy databases are
/// marked transient. Never includes credentials: sqlx errors carry none, and the
/// connection settings are never formatted into messages.
pub(crate) fn backend_error(
    driver: Driver,
    server: &str,
    what: &str,
    e: sqlx::Error,
) -> BackendError {
    let (kind, transient, detail) = classify(driver, &e);
    let mut err = BackendError::new(kind, server, format!("{what}: {detail}")).with_source(e);
    if transient {
        err = err.transient();
    }
    err
}

/// Whether `e` is worth retrying (deadlock, lock wait, connection reset, ...).
#[cfg(feature = "mysql")]
pub(crate) fn is_transient(driver: Driver, e: &sqlx::Error) -> bool {
    classify(driver, e).1
}

/// An error for a timeout the crate enforces itself (a collector query running too long).
pub(crate) fn timeout_error(server: &str, what: &str, after: std::time::Duration) -> BackendError {
    BackendError::new(
        Kind::Timeout,
        server,
        format!(
            "{what}: no answer within {:.1}s (param `timeout`)",
            after.as_secs_f64()
        ),
    )
    .transient()
}

fn classify(driver: Driver, e: &sqlx::Error) -> (Kind, bool, String) {
    match e {
        sqlx::Error::Io(io) => match io.kind() {
            Io::TimedOut => (Kind::Timeout, true, format!("timed out: {io}")),
            Io::PermissionDenied | Io::NotFound => (Kind::Connect, false, io.to_string()),
            _ => (Kind::Connect, true, io.to_string()),
        },
        sqlx::Error::Tls(t) => (Kind::Connect, false, format!("TLS: {t}")),
        sqlx::Error::PoolTimedOut => (
            Kind::Timeout,
            true,
            "no connection became available in time (server unreachable, or every pooled connection busy)".into(),
        ),
        sqlx::Error::PoolClosed => (Kind::Other, false, "the connection pool was closed".into()),
        sqlx::Error::WorkerCrashed => (Kind::Other, true, "the database worker crashed".into()),
        sqlx::Error::Protocol(p) => (Kind::Other, true, format!("protocol error: {p}")),
        sqlx::Error::Configuration(c) => (Kind::Unsupported, false, format!("bad connection settings: {c}")),
        sqlx::Error::ColumnDecode { index, source } => (
            Kind::Decode,
            false,
            format!("cannot decode column {index}: {source}"),
        ),
        sqlx::Error::Decode(d) => (Kind::Decode, false, d.to_string()),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message().to_string();
            let (kind, transient) = match driver {
                Driver::Postgres => postgres_kind(&code),
                Driver::Mysql => mysql_kind(mysql_number(db.as_ref()), &code),
                Driver::Sqlite => sqlite_kind(&code),
            };
            let detail = if code.is_empty() {
                message
            } else {
                format!("{message} (code {code})")
            };
            (kind, transient, detail)
        }
        other => (Kind::Other, false, other.to_string()),
    }
}

/// PostgreSQL SQLSTATE classes and codes.
fn postgres_kind(code: &str) -> (Kind, bool) {
    match code {
        "28000" | "28P01" => (Kind::Auth, false),
        "3D000" => (Kind::Connect, false),
        "57P01" | "57P02" | "57P03" | "53300" => (Kind::Connect, true),
        "40001" | "40P01" | "55P03" => (Kind::Query, true),
        "57014" => (Kind::Timeout, true),
        c if c.starts_with("08") => (Kind::Connect, true),
        c if c.starts_with("53") => (Kind::Other, true),
        _ => (Kind::Query, false),
    }
}

#[cfg(feature = "mysql")]
fn mysql_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

#[cfg(not(feature = "mysql"))]
fn mysql_number(_: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    None
}

/// MySQL/MariaDB error numbers.
fn mysql_kind(number: Option<u16>, sqlstate: &str) -> (Kind, bool) {
    match number {
        Some(1044 | 1045 | 1698) => (Kind::Auth, false),
        Some(1049) => (Kind::Connect, false),
        Some(1040 | 1053 | 1927 | 2002 | 2003 | 2006 | 2013) => (Kind::Connect, true),
        Some(1205 | 1213) => (Kind::Query, true),
        Some(1969 | 3024) => (Kind::Timeout, true),
        _ if sqlstate.starts_with("08") => (Kind::Connect, true),
        _ if sqlstate == "28000" => (Kind::Auth, false),
        _ => (Kind::Query, false),
    }
}

/// SQLite (extended) result codes; the primary code is the low byte.
fn sqlite_kind(code: &str) -> (Kind, bool) {
    match code.parse::<i32>().map(|c| c & 0xff) {
        Ok(5 | 6) => (Kind::Query, true),
        Ok(14 | 26) => (Kind::Connect, false),
        Ok(10) => (Kind::Other, true),
        _ => (Kind::Query, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_database_errors_are_transient() {
        assert_eq!(postgres_kind("40P01"), (Kind::Query, true));
        assert_eq!(postgres_kind("28P01"), (Kind::Auth, false));
        assert_eq!(postgres_kind("08006"), (Kind::Connect, true));
        assert_eq!(postgres_kind("42P01"), (Kind::Query, false));
        assert_eq!(mysql_kind(Some(1213), "40001"), (Kind::Query, true));
        assert_eq!(mysql_kind(Some(1045), "28000"), (Kind::Auth, false));
        assert_eq!(mysql_kind(Some(1146), "42S02"), (Kind::Query, false));
        assert_eq!(sqlite_kind("5"), (Kind::Query, true));
        assert_eq!(sqlite_kind("517"), (Kind::Query, true));
        assert_eq!(sqlite_kind("14"), (Kind::Connect, false));
    }

    #[test]
    fn io_errors_are_connection_failures() {
        let refused = sqlx::Error::Io(std::io::Error::from(Io::ConnectionRefused));
        let e = backend_error(Driver::Postgres, "127.0.0.1:1", "connecting", refused);
        assert_eq!((e.kind, e.transient), (Kind::Connect, true));
        assert_eq!(e.server, "127.0.0.1:1");
    }
}
