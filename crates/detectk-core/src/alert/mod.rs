//! Alerting: settings parsed from `alerter`, the policy deciding whether to alert,
//! the default message text and `message_template`, channel-neutral webhook
//! delivery (retries, backoff, `Retry-After`), and the run step that delivers each
//! alert once with its state kept in storage.
//!
//! An alerter crate only shapes its channel's payload and makes one HTTP attempt;
//! everything else lives here so a new channel is small.

pub mod console;
mod delivery;
mod lease;
mod message;
mod policy;
mod process;
mod settings;
mod template;
mod text;
#[cfg(feature = "webhook")]
mod webhook;
mod webhook_params;

pub use delivery::RetryPolicy;
#[cfg(feature = "webhook")]
pub(crate) use delivery::{AttemptFailure, HttpReply, deliver};
#[doc(hidden)]
pub use lease::LEASE_TTL_ENV;
pub use message::{DetectorInfo, build_message, sample_message};
pub(crate) use policy::{Decision, PolicyInput, decide, lookback_points};
#[doc(hidden)]
pub use process::PAUSE_BEFORE_SEND_ENV;
pub use process::{AlertJob, AlertReport, FAILED_ALERT_RETRY_WINDOW, process};
pub use settings::{
    Agreement, AlertSettings, AnomalyShare, DEFAULT_COOLDOWN_MINUTES, DirectionFilter,
};
pub use template::{TEMPLATE_VARIABLES, validate_template};
pub use text::{MessageInput, default_text, format_time, format_value, title};
#[cfg(feature = "webhook")]
pub use webhook::{WebhookAlerter, WebhookFormat};
pub use webhook_params::{DEFAULT_TIMEOUT, MAX_RETRIES_LIMIT, WebhookDefaults, WebhookParams};
