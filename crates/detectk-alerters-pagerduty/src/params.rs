//! The `pagerduty` params: routing key, endpoint and delivery settings.

use std::time::Duration;

use detectk_core::Secret;
use detectk_core::alert::{RetryPolicy, check_http_url, delivery_params};
use detectk_core::config::Params;

/// The Events API v2 endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Parsed `pagerduty` params.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PagerDutyParams {
    /// The integration's routing key: a secret.
    pub routing_key: Secret,
    /// The events endpoint.
    pub url: Secret,
    /// `payload.source` (default `detectk`).
    pub source: String,
    /// `payload.group`, when set.
    pub group: Option<String>,
    /// `client_url`, a link shown with the incident, when set.
    pub client_url: Option<String>,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
}

impl PagerDutyParams {
    /// Params for `routing_key` with every default.
    pub fn new(routing_key: Secret) -> Self {
        Self {
            routing_key,
            url: Secret::new(DEFAULT_URL),
            source: "detectk".into(),
            group: None,
            client_url: None,
            timeout: detectk_core::alert::DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Reads the params; problems are recorded in `params`.
    pub fn parse(params: &mut Params<'_>) -> Option<Self> {
        let routing_key: Option<Secret> = params.required("routing_key");
        let url: String = params.or("url", DEFAULT_URL.to_string());
        if let Err(problem) = check_http_url(&url) {
            params.error("url", problem);
        }
        let source: String = params.or("source", "detectk".to_string());
        params.check(!source.trim().is_empty(), "source", || {
            "must not be empty".into()
        });
        let group: Option<String> = params.optional("group");
        let client_url: Option<String> = params.optional("client_url");
        let (timeout, retry) = delivery_params(params);
        let routing_key = routing_key?;
        if routing_key.is_empty() || routing_key.expose().contains(char::is_whitespace) {
            params.error(
                "routing_key",
                "must be the integration key of an Events API v2 integration (no spaces)",
            );
        }
        if params.has_issues() {
            return None;
        }
        Some(Self {
            routing_key,
            url: Secret::new(url),
            source,
            group,
            client_url,
            timeout,
            retry,
        })
    }
}
