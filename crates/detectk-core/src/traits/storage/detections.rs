//! The detections part of a storage: `dtk_detections`.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{LoadDetections, MarkAlertSent, StorageResult};
use crate::model::DetectionRecord;

/// Detections: `dtk_detections`, keyed by `(metric, detector_id, timestamp)`.
#[async_trait]
pub trait DetectionStore: Send + Sync + std::fmt::Debug {
    /// Inserts or replaces detections, keyed by `(metric, detector_id, timestamp)`.
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()>;

    /// Detections of `op.metric` (of one detector, or all when `op.detector_id` is
    /// `None`) with `op.from <= timestamp < op.to`, sorted by timestamp then detector ID.
    async fn load_detections(&self, op: &LoadDetections) -> StorageResult<Vec<DetectionRecord>>;

    /// Timestamp of the newest stored detection of `metric` by `detector_id`.
    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>>;

    /// Newest detection time of every detector of `metric`, in one query (key:
    /// detector ID); detectors without detections are absent from the map.
    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>>;

    /// Newest detection time of each `(metric, detector_id)` of `pairs`, in as few
    /// queries as the storage can (a fleet's tick asks once for all its metrics);
    /// pairs without detections are absent from the map. The default asks
    /// [`DetectionStore::last_detection_times`] metric by metric.
    async fn last_detection_times_of(
        &self,
        pairs: &[(String, String)],
    ) -> StorageResult<HashMap<(String, String), DateTime<Utc>>> {
        let mut last = HashMap::with_capacity(pairs.len());
        let mut asked: HashMap<&str, HashMap<String, DateTime<Utc>>> = HashMap::new();
        for (metric, detector_id) in pairs {
            if !asked.contains_key(metric.as_str()) {
                let times = self.last_detection_times(metric).await?;
                asked.insert(metric, times);
            }
            if let Some(t) = asked.get(metric.as_str()).and_then(|m| m.get(detector_id)) {
                last.insert((metric.clone(), detector_id.clone()), *t);
            }
        }
        Ok(last)
    }

    /// Sets `alert_sent = true` on the detections of `op.metric` at `op.timestamp` by
    /// `op.detector_ids`.
    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()>;
}
