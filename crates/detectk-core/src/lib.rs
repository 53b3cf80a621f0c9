#![doc = include_str!("../README.md")]

pub mod alert;
pub mod backtest;
mod builtins;
pub mod config;
mod context;
mod detector_id;
mod duration;
mod error;
pub mod fleet;
pub mod layers;
pub mod model;
pub mod pipeline;
pub mod registry;
mod secret;
mod split_storage;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod traits;
pub(crate) mod yaml;

pub use detector_id::{detector_id, python_json};
pub use duration::{HumanDuration, Window};
pub use error::{
    AlertError, AlertErrorKind, BackendError, BackendErrorKind, BoxError, ConfigError, ConfigIssue,
    Error,
};
pub use model::{Cell, Context, DataPoint, Detection, DetectionRecord, Direction, Table};
pub use registry::{Component, Registry};
pub use secret::{Secret, mask_dsn};
pub use split_storage::SplitStorage;
pub use traits::{AlertMessage, Alerter, Collector, DetectionContext, Detector, Storage};

/// Re-exported so backend crates implement the traits with the same macro version.
pub use async_trait::async_trait;
