//! The fleet benchmark of DetectK (`fleet-bench`): generates a fleet of metrics on a
//! SQLite source and measures `dtk` on it. Not published; see
//! `docs/benchmarks-fleet.md`.

pub mod bench;
pub mod configs;
pub mod error;
pub mod floor;
pub mod generate;
pub mod manifest;
pub mod measure;
pub mod receive;
pub mod series;
pub mod source;
pub mod storage;
pub mod table;

pub use error::BenchError;
pub use manifest::{AlerterChoice, Manifest, StorageChoice};
