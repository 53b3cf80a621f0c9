//! Alerting: settings parsed from `alerter`, the policy deciding whether to alert,
//! the default message text, and delivery with state kept in storage.
//!
//! An alerter crate only shapes its channel's payload and delivers it; everything
//! else lives here so a new channel is small.

pub mod console;
mod process;
mod settings;

pub use process::{AlertJob, AlertReport, DetectorInfo, process};
pub use settings::AlertSettings;
