//! Retrying transient backend failures with backoff.
//!
//! The policy, per operation (a query, an upsert, a checkpoint read):
//!
//! - a permanent error (bad credentials, a syntax error, an unknown database, a
//!   refused TLS handshake, an unresolvable host) is returned at once;
//! - a transient failure to *connect* (connection refused or reset, nothing answering
//!   within `connect_timeout`) is retried once after [`CONNECT_BACKOFF`]: a server that
//!   is restarting gets a second chance, one that is down fails within seconds;
//! - any other transient failure (a statement timeout, a deadlock, a busy server) is
//!   retried after each delay of [`BACKOFF`].
//!
//! So one operation takes at most `2 x connect_timeout + 0.25 s` against an unreachable
//! server and `4 x timeout + 4.25 s` against one that keeps timing out.

use std::future::Future;
use std::time::Duration;

use crate::error::{BackendError, BackendErrorKind};

/// Delays between attempts after a transient query failure; the number of retries is their count.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// Delays between attempts after a transient connection failure.
pub const CONNECT_BACKOFF: [Duration; 1] = [Duration::from_millis(250)];

/// The delays to wait before retrying after `e`; empty when `e` is not worth retrying.
pub fn retry_delays(e: &BackendError) -> &'static [Duration] {
    match (e.transient, e.kind) {
        (false, _) => &[],
        (true, BackendErrorKind::Connect) => &CONNECT_BACKOFF,
        (true, _) => &BACKOFF,
    }
}

/// Runs `op`, retrying while it fails with a transient error (see the module docs).
pub async fn with_retry<T, F, Fut>(what: &str, mut op: F) -> Result<T, BackendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if attempt < retry_delays(&e).len() => {
                let delay = retry_delays(&e)[attempt];
                tracing::warn!(operation = what, server = %e.server, error = %e, retry_in = ?delay, "transient failure, retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: BackendErrorKind, transient: bool) -> BackendError {
        let e = BackendError::new(kind, "h:1", "x");
        if transient { e.transient() } else { e }
    }

    #[test]
    fn connection_failures_are_retried_once_and_permanent_errors_never() {
        assert_eq!(retry_delays(&err(BackendErrorKind::Connect, true)).len(), 1);
        assert_eq!(retry_delays(&err(BackendErrorKind::Timeout, true)).len(), 3);
        assert!(retry_delays(&err(BackendErrorKind::Auth, false)).is_empty());
        assert!(retry_delays(&err(BackendErrorKind::Connect, false)).is_empty());
    }

    #[tokio::test]
    async fn counts_attempts_by_policy() {
        for (kind, transient, attempts) in [
            (BackendErrorKind::Connect, true, 2),
            (BackendErrorKind::Query, false, 1),
        ] {
            let mut calls = 0;
            let r: Result<(), _> = with_retry("t", || {
                calls += 1;
                std::future::ready(Err(err(kind, transient)))
            })
            .await;
            assert!(r.is_err());
            assert_eq!(calls, attempts, "{kind:?} transient={transient}");
        }
    }
}
