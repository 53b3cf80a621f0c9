//! Retrying transient backend failures with backoff.

use std::future::Future;
use std::time::Duration;

use crate::error::BackendError;

/// Delays between attempts; the number of retries is their count.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// Runs `op`, retrying while it fails with a transient error (at most 3 retries).
pub async fn with_retry<T, F, Fut>(what: &str, mut op: F) -> Result<T, BackendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if e.transient && attempt < BACKOFF.len() => {
                tracing::warn!(operation = what, server = %e.server, error = %e, retry_in = ?BACKOFF[attempt], "transient failure, retrying");
                tokio::time::sleep(BACKOFF[attempt]).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}
