//! A storage keeping datapoints, detections and checkpoints in one store and alert
//! state (claims, the alert lease) in another: ClickHouse datapoints with alert state
//! in PostgreSQL, MySQL or SQLite, which can compare-and-set.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{DataPoint, DetectionRecord};
use crate::traits::{
    AlertClaim, AlertHold, AlertKind, AlertLease, AlertLeases, AlertLedger, AlertRecord,
    CheckpointStore, DetectionStore, FinishAlert, HoldKind, LoadAlerts, LoadDatapoints,
    LoadDetections, MarkAlertSent, SeriesStore, Storage, StorageResult,
};

/// `data` for datapoints, detections, checkpoints and retention; `state` for alert
/// claims, the alert lease and the alert ledger (`dtk_alerts`, `dtk_alert_leases`).
#[derive(Debug, Clone)]
pub struct SplitStorage {
    data: Arc<dyn Storage>,
    state: Arc<dyn Storage>,
}

impl SplitStorage {
    /// Data in `data`, alert state in `state`.
    pub fn new(data: Arc<dyn Storage>, state: Arc<dyn Storage>) -> Self {
        Self { data, state }
    }
}

#[async_trait]
impl SeriesStore for SplitStorage {
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        self.data.upsert_datapoints(metric, points).await
    }

    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>> {
        self.data.load_datapoints(op).await
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        self.data.last_datapoint_time(metric).await
    }

    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        self.data.last_datapoint_times(metrics).await
    }
}

#[async_trait]
impl DetectionStore for SplitStorage {
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        self.data.upsert_detections(records).await
    }

    async fn load_detections(&self, op: &LoadDetections) -> StorageResult<Vec<DetectionRecord>> {
        self.data.load_detections(op).await
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        self.data.last_detection_time(metric, detector_id).await
    }

    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        self.data.last_detection_times(metric).await
    }

    async fn last_detection_times_of(
        &self,
        pairs: &[(String, String)],
    ) -> StorageResult<HashMap<(String, String), DateTime<Utc>>> {
        self.data.last_detection_times_of(pairs).await
    }

    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        self.data.mark_alert_sent(op).await
    }
}

/// Checkpoints stay with the data; the alert lease goes to `state`.
#[async_trait]
impl CheckpointStore for SplitStorage {
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        self.data.get_checkpoint(metric, job).await
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.data.set_checkpoint(metric, job, position).await
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        self.data.clear_checkpoint(metric, job).await
    }

    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        self.state.acquire_alert_lease(lease).await
    }

    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        self.state.release_alert_lease(metric, token).await
    }

    async fn acquire_alert_leases(&self, leases: &AlertLeases) -> StorageResult<HashSet<String>> {
        self.state.acquire_alert_leases(leases).await
    }

    async fn release_alert_leases(&self, keys: &[String], token: &str) -> StorageResult<()> {
        self.state.release_alert_leases(keys, token).await
    }
}

#[async_trait]
impl AlertLedger for SplitStorage {
    async fn claim_alert(&self, claim: &AlertClaim) -> StorageResult<bool> {
        self.state.claim_alert(claim).await
    }

    async fn finish_alert(&self, op: &FinishAlert) -> StorageResult<()> {
        self.state.finish_alert(op).await
    }

    async fn last_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        self.state.last_sent_alert(metric, kind).await
    }

    async fn latest_alert(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        self.state.latest_alert(metric, kind).await
    }

    async fn load_alerts(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        self.state.load_alerts(op).await
    }

    async fn put_alert_hold(&self, hold: &AlertHold) -> StorageResult<()> {
        self.state.put_alert_hold(hold).await
    }

    async fn remove_alert_hold(&self, metric: &str, kind: HoldKind) -> StorageResult<bool> {
        self.state.remove_alert_hold(metric, kind).await
    }

    async fn load_alert_holds(&self, metric: &str) -> StorageResult<Vec<AlertHold>> {
        self.state.load_alert_holds(metric).await
    }
}

#[async_trait]
impl Storage for SplitStorage {
    fn describe(&self) -> String {
        format!(
            "{} (alert state in {})",
            self.data.describe(),
            self.state.describe()
        )
    }

    fn keeps_alert_state(&self) -> bool {
        self.state.keeps_alert_state()
    }

    async fn migrate(&self) -> StorageResult<()> {
        self.data.migrate().await?;
        self.state.migrate().await
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        self.data.apply_retention(metric, before).await
    }

    async fn store_scored(
        &self,
        metric: &str,
        points: &[DataPoint],
        records: &[DetectionRecord],
    ) -> StorageResult<()> {
        self.data.store_scored(metric, points, records).await
    }
}
