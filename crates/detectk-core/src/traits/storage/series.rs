//! The datapoints part of a storage: `dtk_datapoints`.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{LoadDatapoints, StorageResult};
use crate::model::DataPoint;

/// Datapoints: `dtk_datapoints`, keyed by `(metric, timestamp)`.
#[async_trait]
pub trait SeriesStore: Send + Sync + std::fmt::Debug {
    /// Inserts or replaces points, keyed by `(metric, timestamp)`; `loaded_at` is now.
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()>;

    /// Points of `op.metric` with `op.from <= timestamp < op.to`, sorted ascending.
    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>>;

    /// Timestamp of the newest stored point of `metric`, missing points included.
    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>>;

    /// Newest stored point time of each of `metrics` in one query; metrics without
    /// points are absent from the map.
    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>>;
}
