//! Layers: wrappers a [`MetricPlan`](crate::pipeline::MetricPlan) puts around its
//! storage, collector and alerter once, when it is built, so every call site gets
//! them and a new call site cannot forget them (the idea of OpenDAL's layers).
//!
//! - [`RetryStorage`] and [`RetryCollector`] retry every call that fails with a
//!   transient error, with the policy of [`crate::pipeline::retry_delays`];
//!   [`build_plan`](crate::pipeline::build_plan) applies them.

mod retry;

pub use retry::{RetryCollector, RetryStorage};
