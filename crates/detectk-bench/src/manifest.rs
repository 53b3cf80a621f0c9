//! `fleet.json`: what a fleet directory holds (size, seed, data range, storage), written
//! by `generate` and updated by `advance`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::series::{INTERVAL_SECONDS, SLOTS_PER_DAY, SeriesModel};

/// File name of the manifest inside a fleet directory.
pub const MANIFEST_FILE: &str = "fleet.json";
/// The SQLite source database inside a fleet directory.
pub const SOURCE_FILE: &str = "source.db";
/// The SQLite storage database inside a fleet directory (storage `sqlite`).
pub const STORAGE_FILE: &str = "detectk.db";
/// The directory of the metric configs inside a fleet directory.
pub const METRICS_DIR: &str = "metrics";

/// Where the fleet's metrics keep DetectK's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StorageChoice {
    /// `detectk.db` in the fleet directory.
    Sqlite,
    /// A PostgreSQL server, in a schema of the fleet's own.
    Postgres {
        /// Connection URL (`postgresql://postgres@127.0.0.1:5432/postgres`).
        url: String,
        /// Schema of the `dtk_*` tables.
        schema: String,
    },
}

/// The alerter every metric gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AlerterChoice {
    /// No alerter: detect and store only.
    None,
    /// A generic webhook posting to `url`.
    Webhook {
        /// Where alerts are posted.
        url: String,
    },
}

/// The manifest of a fleet directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Number of metrics (series ids 1..=metrics).
    pub metrics: u32,
    /// Seed of the value model.
    pub seed: u64,
    /// First interval of the data.
    pub start: DateTime<Utc>,
    /// End of the data (exclusive): the execution time at which every stored interval is complete.
    pub end: DateTime<Utc>,
    /// Storage of the metrics.
    pub storage: StorageChoice,
    /// Alerter of the metrics.
    pub alerter: AlerterChoice,
    /// Whether the queries return an `hour_of_day` context column, used by MAD as a
    /// seasonal feature (absent in older manifests: no).
    #[serde(default)]
    pub context_column: bool,
}

impl Manifest {
    /// Reads `DIR/fleet.json`.
    pub fn load(dir: &Path) -> Result<Self, BenchError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| BenchError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| BenchError::Manifest(path, e.to_string()))
    }

    /// Writes `DIR/fleet.json`.
    pub fn save(&self, dir: &Path) -> Result<(), BenchError> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        std::fs::write(&path, text + "\n").map_err(|e| BenchError::io(&path, e))
    }

    /// Slot (Unix time / 600) of the first interval.
    pub fn start_slot(&self) -> i64 {
        self.start.timestamp() / INTERVAL_SECONDS
    }

    /// Slot just after the last interval.
    pub fn end_slot(&self) -> i64 {
        self.end.timestamp() / INTERVAL_SECONDS
    }

    /// Points per series.
    pub fn points_per_series(&self) -> i64 {
        self.end_slot() - self.start_slot()
    }

    /// The value model of series `id` (spikes only after the first day).
    pub fn model(&self, id: u32) -> SeriesModel {
        SeriesModel::new(self.seed, id, self.start_slot() + SLOTS_PER_DAY)
    }

    /// Name of metric `id` (`fleet_00001`).
    pub fn metric_name(&self, id: u32) -> String {
        format!("fleet_{id:05}")
    }

    /// Path of metric `id`'s config under `dir`.
    pub fn metric_path(&self, dir: &Path, id: u32) -> PathBuf {
        dir.join(METRICS_DIR)
            .join(format!("{}.yaml", self.metric_name(id)))
    }

    /// The injected spikes: (metric name, interval start), in series and time order.
    pub fn spikes(&self) -> Vec<(String, DateTime<Utc>)> {
        (1..=self.metrics)
            .flat_map(|id| {
                let model = self.model(id);
                (self.start_slot()..self.end_slot())
                    .filter(move |&slot| model.point(slot).spike)
                    .map(move |slot| {
                        let at = DateTime::from_timestamp(slot * INTERVAL_SECONDS, 0)
                            .expect("slot in range");
                        (self.metric_name(id), at)
                    })
            })
            .collect()
    }

    /// Moves the end `intervals` intervals on.
    pub fn advanced(&self, intervals: i64) -> Self {
        Self {
            end: self.end + TimeDelta::seconds(intervals * INTERVAL_SECONDS),
            ..self.clone()
        }
    }
}
