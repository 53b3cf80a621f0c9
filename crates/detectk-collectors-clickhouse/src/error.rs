//! Turns `clickhouse` crate errors into [`BackendError`]s that name the server and the cause.

use detectk_core::{BackendError, BackendErrorKind};

/// ClickHouse error codes that mean the credentials were refused.
const AUTH_CODES: &[u32] = &[192, 193, 194, 195, 516];
/// ClickHouse error codes that mean a time limit was hit.
const TIMEOUT_CODES: &[u32] = &[159, 160, 209];
/// ClickHouse error codes worth retrying (server overloaded, too many parts, memory).
const TRANSIENT_CODES: &[u32] = &[202, 241, 252, 242, 3, 210];

/// Maps a client error for an operation on `server` (`host:port`).
///
/// `what` says what was being done (`query`, `insert into dtk_datapoints`, ...).
pub(crate) fn map_error(server: &str, what: &str, err: clickhouse::error::Error) -> BackendError {
    use clickhouse::error::Error as E;
    match err {
        E::Network(source) => {
            let cause = chain(source.as_ref());
            let refused = cause.contains("Connection refused");
            if refused {
                return refused_error(server, what);
            }
            let message = if cause.contains("InvalidContentType") {
                format!(
                    "{what}: TLS handshake failed, the port does not speak HTTPS \
                     (check `secure` and `port`): {cause}"
                )
            } else {
                format!("{what}: network error: {cause}")
            };
            BackendError::new(BackendErrorKind::Connect, server, message).transient()
        }
        E::TimedOut => BackendError::new(
            BackendErrorKind::Timeout,
            server,
            format!("{what}: timed out"),
        )
        .transient(),
        E::BadResponse(text) => from_server_text(server, what, &text),
        E::Unsupported(text) => BackendError::new(
            BackendErrorKind::Unsupported,
            server,
            format!("{what}: {text}"),
        ),
        other => {
            // The message holds the client's text; attaching it as a source would repeat it.
            let message = format!("{what}: {other}");
            let kind = match other {
                E::DataFormat(_) | E::NotEnoughData | E::InvalidUtf8Encoding(_) | E::Custom(_) => {
                    BackendErrorKind::Decode
                }
                _ => BackendErrorKind::Other,
            };
            BackendError::new(kind, server, message)
        }
    }
}

/// Nothing listens at `server`: retried once, with a hint to check the server and address.
fn refused_error(server: &str, what: &str) -> BackendError {
    BackendError::new(
        BackendErrorKind::Connect,
        server,
        format!("{what}: connection refused"),
    )
    .with_hint(
        "nothing listens there: is ClickHouse running, and are `host`, `port` and `secure` right?",
    )
    .transient()
}

/// A failed TCP connect to `server` (before any request).
pub(crate) fn connect_error(server: &str, e: &std::io::Error) -> BackendError {
    let text = e.to_string();
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => refused_error(server, "connecting"),
        _ if text.contains("lookup address") || text.contains("Name or service not known") => {
            BackendError::new(
                BackendErrorKind::Connect,
                server,
                format!("connecting: the host name does not resolve ({text})"),
            )
            .with_hint("check `host` (and DNS on this machine)")
        }
        _ => BackendError::new(
            BackendErrorKind::Connect,
            server,
            format!("connecting: {text}"),
        )
        .transient(),
    }
}

/// A timeout of the whole operation (client side).
pub(crate) fn timeout(server: &str, what: &str, limit: std::time::Duration) -> BackendError {
    BackendError::new(
        BackendErrorKind::Timeout,
        server,
        format!(
            "{what}: no answer within {} s (the `timeout` param)",
            limit.as_secs_f64()
        ),
    )
    .transient()
}

/// Classifies an error body returned by the server (an exception text or an HTTP status).
fn from_server_text(server: &str, what: &str, text: &str) -> BackendError {
    let Some(code) = exception_code(text) else {
        // No ClickHouse exception: a proxy or load balancer answered with a status line.
        let status: Option<u16> = text.split_whitespace().next().and_then(|s| s.parse().ok());
        let transient = matches!(status, Some(s) if s >= 500 || s == 429);
        let kind = match status {
            Some(401 | 403) => BackendErrorKind::Auth,
            Some(_) => BackendErrorKind::Connect,
            None => BackendErrorKind::Query,
        };
        let err = BackendError::new(kind, server, format!("{what}: server answered {text}"));
        return if transient { err.transient() } else { err };
    };
    let message = format!("{what}: {}", clean_exception(text));
    if AUTH_CODES.contains(&code) {
        return BackendError::new(BackendErrorKind::Auth, server, message);
    }
    if TIMEOUT_CODES.contains(&code) {
        return BackendError::new(BackendErrorKind::Timeout, server, message).transient();
    }
    let err = BackendError::new(BackendErrorKind::Query, server, message);
    if TRANSIENT_CODES.contains(&code) {
        err.transient()
    } else {
        err
    }
}

/// The numeric code of `Code: 62, e.displayText() = ...` (18.x) or `Code: 62. DB::Exception: ...`.
pub(crate) fn exception_code(text: &str) -> Option<u32> {
    let rest = text.trim_start().strip_prefix("Code:")?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The human part of a server exception, without the stack trace and the repeated `e.what()`.
pub(crate) fn clean_exception(text: &str) -> String {
    let mut body = text.trim();
    if let Some(i) = body.find("DB::Exception: ") {
        body = &body[i + "DB::Exception: ".len()..];
    }
    for cut in [
        ", e.what() = ",
        ", Stack trace",
        "Stack trace:",
        " (version ",
    ] {
        if let Some(i) = body.find(cut) {
            body = &body[..i];
        }
    }
    // Keep error texts short: long syntax errors quote the whole query.
    let body = body.trim();
    let mut out: String = body.chars().take(600).collect();
    if out.len() < body.len() {
        out.push_str(" ...");
    }
    out
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_of_old_and_new_servers() {
        let old = "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 8: FROM x. Expected one of: ..., e.what() = DB::Exception";
        assert_eq!(exception_code(old), Some(62));
        assert_eq!(
            clean_exception(old),
            "Syntax error: failed at position 8: FROM x. Expected one of: ..."
        );
        let new = "Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version 24.3.1.1)";
        assert_eq!(exception_code(new), Some(60));
        assert_eq!(
            clean_exception(new),
            "Table default.nope does not exist. (UNKNOWN_TABLE)"
        );
        assert_eq!(exception_code("502 Bad Gateway"), None);
    }

    #[test]
    fn classifies_auth_timeouts_and_proxies() {
        let e = from_server_text(
            "h:1",
            "query",
            "Code: 193, e.displayText() = DB::Exception: Wrong password for user default, e.what() = DB::Exception",
        );
        assert_eq!(e.kind, BackendErrorKind::Auth);
        assert!(!e.transient);
        let e = from_server_text("h:1", "query", "Code: 159. DB::Exception: Timeout exceeded");
        assert_eq!(e.kind, BackendErrorKind::Timeout);
        assert!(e.transient);
        let e = from_server_text("h:1", "query", "503 Service Unavailable");
        assert!(e.transient);
        assert_eq!(
            e.to_string(),
            "connection failed (h:1): query: server answered 503 Service Unavailable"
        );
        let e = from_server_text("h:1", "query", "Code: 62. DB::Exception: Syntax error");
        assert_eq!(e.kind, BackendErrorKind::Query);
        assert!(!e.transient);
    }
}
