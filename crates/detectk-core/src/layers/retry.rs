//! The retry layer: every storage and collector call is retried on transient errors
//! (the policy is in `backoff.rs`), with a warning per retry
//! naming the operation as the pipeline always has (`store points`, `checkpoint`, ...).
//!
//! Retrying every call is safe: writes are idempotent upserts, and alert claims and
//! leases recognise their own token, so a retry whose first attempt succeeded (but
//! whose answer was lost) succeeds again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backoff::with_retry;
use crate::error::BackendError;
use crate::model::{DataPoint, DetectionRecord, Table};
use crate::traits::{
    AlertClaim, AlertHold, AlertKind, AlertLease, AlertLeases, AlertLedger, AlertRecord,
    CheckpointStore, Collector, DetectionStore, FinishAlert, HoldKind, LoadAlerts, LoadDatapoints,
    LoadDetections, MarkAlertSent, SeriesStore, Storage, StorageResult,
};

/// A storage whose every call is retried on transient errors.
///
/// `check` (for `dtk debug`) is not retried: a diagnosis reports the first failure.
#[derive(Debug, Clone)]
pub struct RetryStorage {
    inner: Arc<dyn Storage>,
}

impl RetryStorage {
    /// Retries the calls of `inner`.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl SeriesStore for RetryStorage {
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        with_retry("store points", || {
            self.inner.upsert_datapoints(metric, points)
        })
        .await
    }

    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>> {
        with_retry("load history", || self.inner.load_datapoints(op)).await
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        with_retry("checkpoint", || self.inner.last_datapoint_time(metric)).await
    }

    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        with_retry("checkpoints", || self.inner.last_datapoint_times(metrics)).await
    }
}

#[async_trait]
impl DetectionStore for RetryStorage {
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        with_retry("store detections", || self.inner.upsert_detections(records)).await
    }

    async fn load_detections(&self, op: &LoadDetections) -> StorageResult<Vec<DetectionRecord>> {
        with_retry("load detections", || self.inner.load_detections(op)).await
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        with_retry("detections", || {
            self.inner.last_detection_time(metric, detector_id)
        })
        .await
    }

    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        with_retry("detections", || self.inner.last_detection_times(metric)).await
    }

    async fn last_detection_times_of(
        &self,
        pairs: &[(String, String)],
    ) -> StorageResult<HashMap<(String, String), DateTime<Utc>>> {
        with_retry("detections", || self.inner.last_detection_times_of(pairs)).await
    }

    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        with_retry("mark detections alerted", || self.inner.mark_alert_sent(op)).await
    }
}

#[async_trait]
impl CheckpointStore for RetryStorage {
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        with_retry("checkpoint", || self.inner.get_checkpoint(metric, job)).await
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        with_retry("checkpoint", || {
            self.inner.set_checkpoint(metric, job, position)
        })
        .await
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        with_retry("checkpoint", || self.inner.clear_checkpoint(metric, job)).await
    }

    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        with_retry("acquire the alert lease", || {
            self.inner.acquire_alert_lease(lease)
        })
        .await
    }

    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        with_retry("release the alert lease", || {
            self.inner.release_alert_lease(metric, token)
        })
        .await
    }

    async fn acquire_alert_leases(&self, leases: &AlertLeases) -> StorageResult<HashSet<String>> {
        with_retry("acquire run leases", || {
            self.inner.acquire_alert_leases(leases)
        })
        .await
    }

    async fn release_alert_leases(&self, keys: &[String], token: &str) -> StorageResult<()> {
        with_retry("release run leases", || {
            self.inner.release_alert_leases(keys, token)
        })
        .await
    }
}

#[async_trait]
impl AlertLedger for RetryStorage {
    async fn claim_alert(&self, claim: &AlertClaim) -> StorageResult<bool> {
        with_retry("claim the alert", || self.inner.claim_alert(claim)).await
    }

    async fn finish_alert(&self, op: &FinishAlert) -> StorageResult<()> {
        with_retry("record the alert outcome", || self.inner.finish_alert(op)).await
    }

    async fn last_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        with_retry("read the last sent alert", || {
            self.inner.last_sent_alert(metric, kind)
        })
        .await
    }

    async fn latest_alert(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        with_retry("read the latest alert", || {
            self.inner.latest_alert(metric, kind)
        })
        .await
    }

    async fn load_alerts(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        with_retry("load alerts", || self.inner.load_alerts(op)).await
    }

    async fn put_alert_hold(&self, hold: &AlertHold) -> StorageResult<()> {
        with_retry("set the alert hold", || self.inner.put_alert_hold(hold)).await
    }

    async fn remove_alert_hold(&self, metric: &str, kind: HoldKind) -> StorageResult<bool> {
        with_retry("remove the alert hold", || {
            self.inner.remove_alert_hold(metric, kind)
        })
        .await
    }

    async fn load_alert_holds(&self, metric: &str) -> StorageResult<Vec<AlertHold>> {
        with_retry("load alert holds", || self.inner.load_alert_holds(metric)).await
    }
}

#[async_trait]
impl Storage for RetryStorage {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn check(&self) -> StorageResult<Option<String>> {
        self.inner.check().await
    }

    fn keeps_alert_state(&self) -> bool {
        self.inner.keeps_alert_state()
    }

    async fn migrate(&self) -> StorageResult<()> {
        with_retry("migrate", || self.inner.migrate()).await
    }

    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        with_retry("retention", || self.inner.apply_retention(metric, before)).await
    }

    async fn store_scored(
        &self,
        metric: &str,
        points: &[DataPoint],
        records: &[DetectionRecord],
    ) -> StorageResult<()> {
        with_retry("store detections and points", || {
            self.inner.store_scored(metric, points, records)
        })
        .await
    }
}

/// A collector whose queries are retried on transient errors (`check` is not).
#[derive(Debug, Clone)]
pub struct RetryCollector {
    inner: Arc<dyn Collector>,
}

impl RetryCollector {
    /// Retries the queries of `inner`.
    pub fn new(inner: Arc<dyn Collector>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Collector for RetryCollector {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn query(&self, query: &str) -> Result<Table, BackendError> {
        with_retry("query", || self.inner.query(query)).await
    }

    async fn check(&self) -> Result<Option<String>, BackendError> {
        self.inner.check().await
    }
}
