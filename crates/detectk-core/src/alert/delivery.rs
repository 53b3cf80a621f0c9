//! Channel-neutral webhook delivery: which answers are retried, how long to wait
//! (exponential backoff with jitter, `Retry-After` honoured), and error messages that
//! never contain the webhook URL.
//!
//! There is no HTTP client here: a channel crate passes a closure making one HTTP
//! attempt with its own client and reporting the answer as an [`HttpReply`]. The
//! retry loop, the classification of answers and the scrubbing of secrets are
//! written once, here, for every channel.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{AlertError, AlertErrorKind};
use crate::secret::Secret;

/// How a channel retries failed deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `max_retries + 1` requests).
    pub max_retries: u32,
    /// Wait before the first retry, doubled for every further one (before jitter).
    pub base_delay: Duration,
    /// Longest wait between two attempts (before jitter).
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; an endpoint asking for more is given up on.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Wait before retry number `retry` (0 = the first retry), given a `jitter` in
    /// `[0, 1)`: the exponential delay scaled into `[50%, 100%)` of itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// use detectk_core::alert::RetryPolicy;
    /// let p = RetryPolicy::default();
    /// assert_eq!(p.backoff(0, 0.0), Duration::from_millis(250));
    /// assert_eq!(p.backoff(2, 0.5), Duration::from_millis(1500));
    /// ```
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(30)))
            .min(self.max_delay);
        exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// The answer to one HTTP attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// The raw `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The response body (only a short prefix is ever shown).
    pub body: String,
}

/// An attempt that got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptFailure {
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made or broke (retried).
    Connect(String),
    /// The request could not be made at all (not retried), e.g. an invalid URL.
    Request(String),
    /// The server refused the message for good (not retried), e.g. an SMTP 5xx reply.
    Rejected(String),
    /// The server asked to try again later (retried), e.g. an SMTP 4xx reply.
    Transient(String),
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// `text` with every occurrence of the secret URL (and of its path, which is the
/// secret part of a webhook URL) replaced by `***`.
pub fn scrub(text: &str, secret: &Secret) -> String {
    let url = secret.expose();
    if url.is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(url, "***");
    if let Some(scheme_end) = url.find("://")
        && let Some(path_start) = url[scheme_end + 3..].find('/')
    {
        let path = &url[scheme_end + 3 + path_start..];
        if path.len() > 1 {
            out = out.replace(path, "***");
        }
    }
    out
}

/// A random number in `[0, 1)` for jitter (no cryptographic quality needed).
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn snippet(body: &str) -> String {
    let body = body.trim();
    let mut s: String = body.chars().take(200).collect();
    if s.len() < body.len() {
        s.push_str("...");
    }
    s
}

/// What to do after one attempt.
enum Next {
    Done,
    Retry { wait: Duration, why: String },
    Fail(AlertErrorKind, String),
}

fn classify(
    result: &Result<HttpReply, AttemptFailure>,
    policy: &RetryPolicy,
    retry: u32,
    now: DateTime<Utc>,
) -> Next {
    let backoff = policy.backoff(retry, jitter());
    match result {
        Ok(reply) if (200..300).contains(&reply.status) => Next::Done,
        Ok(reply) if reply.status == 429 => {
            let asked = reply
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now));
            match asked {
                Some(wait) if wait > policy.max_retry_after => Next::Fail(
                    AlertErrorKind::Unavailable,
                    format!(
                        "rate limited (HTTP 429) and asked to retry after {}s, more than the {}s allowed",
                        wait.as_secs(),
                        policy.max_retry_after.as_secs()
                    ),
                ),
                Some(wait) => Next::Retry {
                    wait,
                    why: "rate limited (HTTP 429)".into(),
                },
                None => Next::Retry {
                    wait: backoff,
                    why: "rate limited (HTTP 429)".into(),
                },
            }
        }
        Ok(reply) if reply.status >= 500 => Next::Retry {
            wait: backoff,
            why: format!("HTTP {}: {}", reply.status, snippet(&reply.body)),
        },
        Ok(reply) => Next::Fail(
            AlertErrorKind::Rejected,
            format!(
                "the endpoint rejected the message with HTTP {}: {}",
                reply.status,
                snippet(&reply.body)
            ),
        ),
        Err(AttemptFailure::Timeout) => Next::Retry {
            wait: backoff,
            why: "no answer within the timeout".into(),
        },
        Err(AttemptFailure::Connect(e)) => Next::Retry {
            wait: backoff,
            why: format!("connection failed: {e}"),
        },
        Err(AttemptFailure::Request(e)) => Next::Fail(
            AlertErrorKind::Other,
            format!("could not send the request: {e}"),
        ),
        Err(AttemptFailure::Rejected(e)) => Next::Fail(
            AlertErrorKind::Rejected,
            format!("the server rejected the message: {e}"),
        ),
        Err(AttemptFailure::Transient(e)) => Next::Retry {
            wait: backoff,
            why: e.clone(),
        },
    }
}

/// `text` with each secret in `secrets` (and, for a URL, its path) replaced by `***`.
pub fn scrub_all(text: &str, secrets: &[&Secret]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |out, secret| scrub(&out, secret))
}

/// Makes attempts with `attempt` until one succeeds, one fails for good, or the
/// retries are used up. Returns the number of attempts made.
///
/// Retried: HTTP 429 (after `Retry-After` when given), 5xx, timeouts and connection
/// errors. Not retried: other 4xx. Every message is scrubbed of `secret`.
pub async fn deliver<F, Fut>(
    channel: &str,
    policy: &RetryPolicy,
    secret: &Secret,
    attempt: F,
) -> Result<u32, AlertError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<HttpReply, AttemptFailure>>,
{
    deliver_scrubbing(channel, policy, &[secret], attempt).await
}

/// [`deliver`] for a channel with several secrets (a URL, a token, a password):
/// every message is scrubbed of each of them.
pub async fn deliver_scrubbing<F, Fut>(
    channel: &str,
    policy: &RetryPolicy,
    secrets: &[&Secret],
    mut attempt: F,
) -> Result<u32, AlertError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<HttpReply, AttemptFailure>>,
{
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let result = attempt().await;
        let status = result.as_ref().ok().map(|r| r.status);
        let timed_out = matches!(result, Err(AttemptFailure::Timeout));
        let fail = |kind, message: String| AlertError {
            kind,
            channel: channel.to_string(),
            message: scrub_all(&message, secrets),
            status,
            attempts,
            source: None,
        };
        match classify(&result, policy, attempts - 1, Utc::now()) {
            Next::Done => {
                tracing::debug!(channel, attempts, "alert delivered");
                return Ok(attempts);
            }
            Next::Fail(kind, message) => return Err(fail(kind, message)),
            Next::Retry { why, .. } if attempts > policy.max_retries => {
                let kind = if timed_out {
                    AlertErrorKind::Timeout
                } else {
                    AlertErrorKind::Unavailable
                };
                return Err(fail(
                    kind,
                    format!("gave up after {attempts} attempts; last: {why}"),
                ));
            }
            Next::Retry { wait, why } => {
                tracing::warn!(
                    channel,
                    attempt = attempts,
                    "delivery failed ({}); retrying in {:.1}s",
                    scrub_all(&why, secrets),
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_retry_after: Duration::from_secs(2),
        }
    }

    fn reply(status: u16) -> Result<HttpReply, AttemptFailure> {
        Ok(HttpReply {
            status,
            retry_after: None,
            body: format!("body {status} of https://hooks.example/secret-path"),
        })
    }

    async fn run(
        policy: RetryPolicy,
        script: Vec<Result<HttpReply, AttemptFailure>>,
    ) -> (Result<u32, AlertError>, usize) {
        let script = Mutex::new(VecDeque::from(script));
        let calls = Mutex::new(0usize);
        let secret = Secret::new("https://hooks.example/secret-path");
        let result = deliver("test", &policy, &secret, || {
            *calls.lock().unwrap() += 1;
            let next = script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| reply(200));
            async move { next }
        })
        .await;
        let n = *calls.lock().unwrap();
        (result, n)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_within_half() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(1),
        };
        assert_eq!(p.backoff(0, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(350));
        assert_eq!(p.backoff(40, 1.0), Duration::from_millis(350));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(100));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 31 Dec 2023 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let (result, calls) = run(fast(), vec![reply(500), reply(503)]).await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_and_are_scrubbed() {
        let (result, calls) = run(fast(), vec![reply(400)]).await;
        let e = result.unwrap_err();
        assert_eq!(calls, 1);
        assert_eq!(e.kind, AlertErrorKind::Rejected);
        assert_eq!(e.status, Some(400));
        assert_eq!(e.attempts, 1);
        assert_eq!(
            e.to_string(),
            "test: the endpoint rejected the message with HTTP 400: body 400 of ***"
        );
    }

    #[tokio::test]
    async fn gives_up_after_max_retries() {
        let (result, calls) = run(fast(), vec![reply(500); 10]).await;
        let e = result.unwrap_err();
        assert_eq!(calls, 4);
        assert_eq!(e.kind, AlertErrorKind::Unavailable);
        assert_eq!(e.attempts, 4);
        assert!(
            e.message
                .starts_with("gave up after 4 attempts; last: HTTP 500"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("secret-path"));
    }

    #[tokio::test]
    async fn timeouts_are_retried_and_reported_as_timeouts() {
        let (result, calls) = run(
            RetryPolicy {
                max_retries: 1,
                ..fast()
            },
            vec![Err(AttemptFailure::Timeout), Err(AttemptFailure::Timeout)],
        )
        .await;
        assert_eq!(calls, 2);
        assert_eq!(result.unwrap_err().kind, AlertErrorKind::Timeout);
    }

    #[tokio::test]
    async fn retry_after_longer_than_allowed_gives_up_at_once() {
        let too_long = Ok(HttpReply {
            status: 429,
            retry_after: Some("3600".into()),
            body: String::new(),
        });
        let (result, calls) = run(fast(), vec![too_long]).await;
        assert_eq!(calls, 1);
        assert!(result.unwrap_err().message.contains("retry after 3600s"));
    }

    #[tokio::test]
    async fn retry_after_is_waited_for() {
        let limited = Ok(HttpReply {
            status: 429,
            retry_after: Some("1".into()),
            body: String::new(),
        });
        let started = std::time::Instant::now();
        let (result, calls) = run(fast(), vec![limited]).await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(calls, 2);
        assert!(started.elapsed() >= Duration::from_secs(1));
    }

    #[tokio::test]
    async fn request_errors_are_not_retried() {
        let (result, calls) =
            run(fast(), vec![Err(AttemptFailure::Request("bad url".into()))]).await;
        assert_eq!(calls, 1);
        assert_eq!(result.unwrap_err().kind, AlertErrorKind::Other);
    }

    #[test]
    fn retry_after_examples() {
        use std::time::Duration;
        let now = chrono::Utc::now();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn scrub_examples() {
        use crate::Secret;
        let url = Secret::new("https://chat.example.com/hooks/abc123");
        assert_eq!(
            scrub(
                "error sending to https://chat.example.com/hooks/abc123",
                &url
            ),
            "error sending to ***"
        );
        assert_eq!(scrub("no hook /hooks/abc123", &url), "no hook ***");
    }
}
