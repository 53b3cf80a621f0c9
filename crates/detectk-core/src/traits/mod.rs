//! The four extension points: collectors, storages, detectors and alerters.
//!
//! Backend crates implement these traits and register a factory for each type name
//! with an explicit call (see [`crate::Registry`]).

mod alerter;
mod collector;
mod detector;
mod storage;

pub use alerter::{AlertKind, AlertMessage, Alerter};
pub use collector::Collector;
pub use detector::{DetectionContext, Detector};
pub use storage::{
    AlertClaim, AlertHold, AlertLease, AlertLeases, AlertLedger, AlertOutcome, AlertRecord,
    AlertStatus, CheckpointStore, DetectionStore, FinishAlert, HoldKind, LoadAlerts,
    LoadDatapoints, LoadDetections, MarkAlertSent, SeriesStore, Storage, StorageResult,
};
