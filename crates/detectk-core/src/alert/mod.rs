//! Alerting: settings parsed from `alerter`, the policy deciding whether to alert,
//! the default message text and `message_template`, channel-neutral webhook
//! delivery (retries, backoff, `Retry-After`), and the run step that delivers each
//! alert once with its state kept in storage.
//!
//! An alerter crate only shapes its channel's payload and makes one HTTP attempt;
//! everything else lives here so a new channel is small.

pub mod console;
mod delivery;
mod digest;
mod error_ledger;
mod holds;
#[cfg(feature = "webhook")]
mod http;
mod lease;
mod message;
mod on_error;
mod policy;
mod process;
mod report_link;
mod settings;
mod severity;
mod template;
mod text;
#[cfg(feature = "webhook")]
mod webhook;
mod webhook_params;

pub use delivery::RetryPolicy;
/// The retry loop and attempt outcomes for channels that are not plain HTTP (email).
pub use delivery::{AttemptFailure, HttpReply, deliver, deliver_scrubbing, scrub_all};
pub use digest::{DigestItem, DigestOutcome, digest_message, send_digests};
#[cfg(feature = "webhook")]
pub use http::{HttpBody, HttpRequest, HttpSender};
#[doc(hidden)]
pub use lease::LEASE_TTL_ENV;
pub(crate) use lease::unique_token;
pub use message::{DetectorInfo, build_message, build_message_with_link, sample_message};
pub use on_error::{ErrorAlertReport, MetricRunResult, ON_ERROR_STATE_DIR, alert_errors};
pub(crate) use policy::{Decision, PolicyInput, decide, lookback_points};
#[doc(hidden)]
pub use process::PAUSE_BEFORE_SEND_ENV;
pub use process::{AlertJob, AlertReport, FAILED_ALERT_RETRY_WINDOW, alerter_state_key, process};
pub use report_link::{REPORT_URL_PLACEHOLDERS, check_report_url, expand_report_url};
pub use settings::{
    Agreement, AlertSettings, AnomalyShare, DEFAULT_COOLDOWN_MINUTES, DirectionFilter,
    check_conditions,
};
pub use severity::{Severity, SeverityCutoffs};
pub use template::{TEMPLATE_VARIABLES, validate_template};
pub use text::{MessageInput, default_text, format_time, format_value, title};
#[cfg(feature = "webhook")]
pub use webhook::{WebhookAlerter, WebhookFormat};
pub use webhook_params::{
    DEFAULT_TIMEOUT, MAX_RETRIES_LIMIT, WebhookDefaults, WebhookParams, check_http_url,
    delivery_params, url_host,
};
