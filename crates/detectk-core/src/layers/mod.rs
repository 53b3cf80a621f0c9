//! Layers: wrappers a [`MetricPlan`](crate::pipeline::MetricPlan) puts around its
//! storage, collector and alerter once, when it is built, so every call site gets
//! them and a new call site cannot forget them (the idea of OpenDAL's layers).
//!
//! - [`RetryStorage`] and [`RetryCollector`] retry every call that fails with a
//!   transient error, with the backoff policy of `layers/backoff.rs`;
//!   [`build_plan`](crate::pipeline::build_plan) applies them.
//! - [`DryRunStorage`] keeps every write in memory (reads see the storage overlaid
//!   with them) and [`DryRunAlerter`] records messages instead of sending them: a dry
//!   run takes the path of a real run and changes nothing. `dtk run --dry-run` applies
//!   them once per run (the runner to its writes, the alert step to its own).

mod backoff;
mod dry_run;
mod retry;

pub use dry_run::{DryRunAlerter, DryRunStorage};
pub use retry::{RetryCollector, RetryStorage};
