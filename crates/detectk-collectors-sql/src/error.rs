//! Maps sqlx errors to [`BackendError`]s with the right kind, server and retry hint.

use std::io::ErrorKind as Io;

use detectk_core::{BackendError, BackendErrorKind as Kind};

use crate::Driver;

/// Builds a [`BackendError`] for a failed `what` (e.g. "query", "upserting datapoints")
/// against `server`. Connection resets, timeouts, deadlocks and busy databases are
/// marked transient; the hint fits the cause (refused connection, unknown database,
/// SQLite file, syntax error, ...). Never includes credentials: sqlx errors carry none,
/// and the connection settings are never formatted into messages.
///
/// The driver's own text goes into the message once, cleaned (no server source line),
/// so the sqlx error is not attached as a source that would repeat it.
pub(crate) fn backend_error(
    driver: Driver,
    server: &str,
    what: &str,
    e: sqlx::Error,
) -> BackendError {
    let c = classify(driver, &e);
    let mut err = BackendError::new(c.kind, server, format!("{what}: {}", c.detail));
    let hint = c.hint.or_else(|| {
        (c.kind == Kind::Query && what == "query").then(|| {
            "check the query: `dtk compile CONFIG` prints it exactly as it is sent; try it in a SQL client".to_string()
        })
    });
    if let Some(hint) = hint {
        err = err.with_hint(hint);
    }
    if c.transient {
        err = err.transient();
    }
    err
}

/// Whether `e` is worth retrying (deadlock, lock wait, connection reset, ...).
pub(crate) fn is_transient(driver: Driver, e: &sqlx::Error) -> bool {
    classify(driver, e).transient
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
    .with_hint("the query runs longer than `timeout`: make it cheaper, or raise `timeout`")
    .transient()
}

/// How an sqlx error is reported.
struct Classified {
    kind: Kind,
    transient: bool,
    detail: String,
    hint: Option<String>,
}

impl Classified {
    fn new(kind: Kind, transient: bool, detail: impl Into<String>) -> Self {
        Self {
            kind,
            transient,
            detail: detail.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Whether an I/O error text says a host name did not resolve.
fn is_dns_failure(text: &str) -> bool {
    [
        "lookup address",
        "Name or service not known",
        "No address associated",
        "nodename nor servname",
        "Temporary failure in name resolution",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

fn classify(driver: Driver, e: &sqlx::Error) -> Classified {
    let sqlite_file = "check that the SQLite file exists (a collector never creates one), the path is right, and its directory is readable and writable";
    match e {
        sqlx::Error::Io(io) => {
            let text = io.to_string();
            match io.kind() {
                Io::ConnectionRefused => Classified::new(Kind::Connect, true, "connection refused")
                    .hint(format!("nothing listens there: is the {driver} server running, and are `host` and `port` right?")),
                Io::TimedOut => Classified::new(Kind::Connect, true, format!("timed out: {text}")).hint(
                    "nothing answered: check `host`, `port` and firewalls, or raise `connect_timeout`",
                ),
                Io::PermissionDenied | Io::NotFound if driver == Driver::Sqlite => {
                    Classified::new(Kind::Connect, false, text).hint(sqlite_file)
                }
                Io::PermissionDenied | Io::NotFound => Classified::new(Kind::Connect, false, text),
                _ if is_dns_failure(&text) => Classified::new(
                    Kind::Connect,
                    false,
                    format!("the host name does not resolve ({text})"),
                )
                .hint("check `host` (and DNS on this machine)"),
                _ => Classified::new(Kind::Connect, true, text),
            }
        }
        sqlx::Error::Tls(t) => Classified::new(Kind::Connect, false, format!("TLS: {t}"))
            .hint("check `sslmode` and whether the server accepts TLS"),
        sqlx::Error::PoolTimedOut => Classified::new(
            Kind::Timeout,
            true,
            "no connection became available in time (every pooled connection busy)",
        )
        .hint("lower `--concurrency`, or raise `max_connections` or `timeout`"),
        sqlx::Error::PoolClosed => {
            Classified::new(Kind::Other, false, "the connection pool was closed")
        }
        sqlx::Error::WorkerCrashed => {
            Classified::new(Kind::Other, true, "the database worker crashed")
        }
        sqlx::Error::Protocol(p) => {
            Classified::new(Kind::Other, true, format!("protocol error: {p}"))
        }
        sqlx::Error::Configuration(c) => Classified::new(
            Kind::Unsupported,
            false,
            format!("bad connection settings: {c}"),
        ),
        sqlx::Error::ColumnDecode { index, source } => Classified::new(
            Kind::Decode,
            false,
            format!("cannot decode column {index}: {source}"),
        ),
        sqlx::Error::Decode(d) => Classified::new(Kind::Decode, false, d.to_string()),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // `message()`, not `Display`: PostgreSQL's adds the server's own source line.
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
            let hint = database_hint(driver, &code, mysql_number(db.as_ref()), kind);
            let c = Classified::new(kind, transient, detail);
            match hint {
                Some(h) => c.hint(h),
                None => c,
            }
        }
        other => Classified::new(Kind::Other, false, other.to_string()),
    }
}

/// A hint for a database error whose cause is clear from its code.
fn database_hint(driver: Driver, code: &str, number: Option<u16>, kind: Kind) -> Option<String> {
    let unknown_database = match driver {
        Driver::Postgres => code == "3D000",
        Driver::Mysql => number == Some(1049),
        Driver::Sqlite => false,
    };
    if unknown_database {
        return Some("the database does not exist: create it, or check `database` (or the connection string)".into());
    }
    if driver == Driver::Sqlite && kind == Kind::Connect {
        return Some("check that the SQLite file exists (a collector never creates one), the path is right, and its directory is readable and writable".into());
    }
    None
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
        assert!(e.hint.unwrap().contains("is the postgres server running"));
        let dns = sqlx::Error::Io(std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        ));
        let e = backend_error(Driver::Mysql, "nohost:3306", "connecting", dns);
        assert_eq!((e.kind, e.transient), (Kind::Connect, false));
        assert!(e.hint.unwrap().contains("`host`"));
    }
}
