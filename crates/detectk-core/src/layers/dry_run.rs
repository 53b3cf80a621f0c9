//! The dry-run layer: a storage that keeps every write in memory and an alerter that
//! records messages instead of sending them, so a dry run takes exactly the path of a
//! real run (decide, claim, send, record) without changing anything outside.
//!
//! Reads see the underlying storage overlaid with this run's writes. The alert lease
//! is held in memory only: a dry run neither waits for nor blocks a real run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::error::AlertError;
use crate::model::{DataPoint, DetectionRecord};
use crate::traits::{
    AlertClaim, AlertHold, AlertKind, AlertLease, AlertLedger, AlertMessage, AlertRecord,
    AlertStatus, Alerter, CheckpointStore, DetectionStore, FinishAlert, HoldKind, LoadAlerts,
    LoadDatapoints, LoadDetections, MarkAlertSent, SeriesStore, Storage, StorageResult,
};

/// An alert row written by the dry run, with the claim's token.
#[derive(Debug, Clone)]
struct OverlayAlert {
    record: AlertRecord,
    token: String,
    claimed_at: DateTime<Utc>,
}

/// What a dry run wrote, per metric.
#[derive(Debug, Default)]
struct Overlay {
    points: HashMap<String, BTreeMap<DateTime<Utc>, DataPoint>>,
    detections: HashMap<String, BTreeMap<(DateTime<Utc>, String), DetectionRecord>>,
    /// `None`: cleared.
    checkpoints: HashMap<(String, String), Option<DateTime<Utc>>>,
    alerts: HashMap<String, BTreeMap<String, OverlayAlert>>,
    leases: HashMap<String, (String, DateTime<Utc>)>,
    /// Retention applied by the dry run: older rows are hidden.
    retained_from: HashMap<String, DateTime<Utc>>,
}

/// A storage that reads through to `inner` and keeps every write in memory.
#[derive(Debug)]
pub struct DryRunStorage<'a> {
    inner: &'a dyn Storage,
    overlay: Mutex<Overlay>,
}

impl<'a> DryRunStorage<'a> {
    /// A dry-run view of `inner`: nothing is ever written to it.
    pub fn new(inner: &'a dyn Storage) -> Self {
        Self {
            inner,
            overlay: Mutex::new(Overlay::default()),
        }
    }

    fn overlay(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cutoff(&self, metric: &str) -> Option<DateTime<Utc>> {
        self.overlay().retained_from.get(metric).copied()
    }
}

/// Keeps `t` unless the dry run's retention removed it.
fn kept(cutoff: Option<DateTime<Utc>>, t: DateTime<Utc>) -> bool {
    cutoff.is_none_or(|c| t >= c)
}

#[async_trait]
impl SeriesStore for DryRunStorage<'_> {
    async fn upsert_datapoints(&self, metric: &str, points: &[DataPoint]) -> StorageResult<()> {
        let mut overlay = self.overlay();
        let stored = overlay.points.entry(metric.to_string()).or_default();
        for p in points {
            stored.insert(p.timestamp, p.clone());
        }
        Ok(())
    }

    async fn load_datapoints(&self, op: &LoadDatapoints) -> StorageResult<Vec<DataPoint>> {
        let below = self.inner.load_datapoints(op).await?;
        let cutoff = self.cutoff(&op.metric);
        let mut merged: BTreeMap<DateTime<Utc>, DataPoint> =
            below.into_iter().map(|p| (p.timestamp, p)).collect();
        if let Some(mine) = self.overlay().points.get(&op.metric) {
            for (t, p) in mine.range(op.from..op.to.max(op.from)) {
                merged.insert(*t, p.clone());
            }
        }
        Ok(merged
            .into_values()
            .filter(|p| kept(cutoff, p.timestamp))
            .collect())
    }

    async fn last_datapoint_time(&self, metric: &str) -> StorageResult<Option<DateTime<Utc>>> {
        let below = self.inner.last_datapoint_time(metric).await?;
        let mine = self
            .overlay()
            .points
            .get(metric)
            .and_then(|m| m.keys().next_back().copied());
        Ok(below.max(mine))
    }

    async fn last_datapoint_times(
        &self,
        metrics: &[String],
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let mut times = self.inner.last_datapoint_times(metrics).await?;
        let overlay = self.overlay();
        for metric in metrics {
            if let Some(t) = overlay
                .points
                .get(metric)
                .and_then(|m| m.keys().next_back())
            {
                let newest = times.get(metric).copied().max(Some(*t));
                times.insert(metric.clone(), newest.unwrap_or(*t));
            }
        }
        Ok(times)
    }
}

#[async_trait]
impl DetectionStore for DryRunStorage<'_> {
    async fn upsert_detections(&self, records: &[DetectionRecord]) -> StorageResult<()> {
        let mut overlay = self.overlay();
        for r in records {
            overlay
                .detections
                .entry(r.metric.clone())
                .or_default()
                .insert((r.detection.timestamp, r.detector_id.clone()), r.clone());
        }
        Ok(())
    }

    async fn load_detections(&self, op: &LoadDetections) -> StorageResult<Vec<DetectionRecord>> {
        let below = self.inner.load_detections(op).await?;
        let cutoff = self.cutoff(&op.metric);
        let mut merged: BTreeMap<(DateTime<Utc>, String), DetectionRecord> = below
            .into_iter()
            .map(|r| ((r.detection.timestamp, r.detector_id.clone()), r))
            .collect();
        if let Some(mine) = self.overlay().detections.get(&op.metric) {
            for ((t, id), r) in mine {
                let wanted = op.detector_id.as_ref().is_none_or(|d| d == id);
                if wanted && *t >= op.from && *t < op.to {
                    merged.insert((*t, id.clone()), r.clone());
                }
            }
        }
        Ok(merged
            .into_values()
            .filter(|r| kept(cutoff, r.detection.timestamp))
            .collect())
    }

    async fn last_detection_time(
        &self,
        metric: &str,
        detector_id: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let below = self.inner.last_detection_time(metric, detector_id).await?;
        let mine = self.overlay().detections.get(metric).and_then(|m| {
            m.keys()
                .filter(|(_, id)| id == detector_id)
                .map(|(t, _)| *t)
                .max()
        });
        Ok(below.max(mine))
    }

    async fn last_detection_times(
        &self,
        metric: &str,
    ) -> StorageResult<HashMap<String, DateTime<Utc>>> {
        let mut times = self.inner.last_detection_times(metric).await?;
        if let Some(mine) = self.overlay().detections.get(metric) {
            for (t, id) in mine.keys() {
                let newest = times.get(id).copied().max(Some(*t)).unwrap_or(*t);
                times.insert(id.clone(), newest);
            }
        }
        Ok(times)
    }

    async fn mark_alert_sent(&self, op: &MarkAlertSent) -> StorageResult<()> {
        let at = LoadDetections::new(
            op.metric.as_str(),
            op.timestamp,
            op.timestamp + TimeDelta::microseconds(1),
        );
        let mut records = self.load_detections(&at).await?;
        records.retain(|r| op.detector_ids.contains(&r.detector_id));
        for r in &mut records {
            r.alert_sent = true;
        }
        self.upsert_detections(&records).await
    }
}

#[async_trait]
impl CheckpointStore for DryRunStorage<'_> {
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let key = (metric.to_string(), job.to_string());
        if let Some(mine) = self.overlay().checkpoints.get(&key) {
            return Ok(*mine);
        }
        self.inner.get_checkpoint(metric, job).await
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        self.overlay()
            .checkpoints
            .insert((metric.to_string(), job.to_string()), Some(position));
        Ok(())
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        self.overlay()
            .checkpoints
            .insert((metric.to_string(), job.to_string()), None);
        Ok(())
    }

    /// Held in memory only (see the module docs).
    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        let mut overlay = self.overlay();
        let free = overlay
            .leases
            .get(&lease.metric)
            .is_none_or(|(token, expires)| *token == lease.token || *expires <= lease.now);
        if free {
            overlay.leases.insert(
                lease.metric.clone(),
                (lease.token.clone(), lease.expires_at),
            );
        }
        Ok(free)
    }

    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        let mut overlay = self.overlay();
        if overlay.leases.get(metric).is_some_and(|(t, _)| t == token) {
            overlay.leases.remove(metric);
        }
        Ok(())
    }
}

impl DryRunStorage<'_> {
    /// The row of `key` as the dry run sees it: its own, else the stored one.
    async fn alert_row(
        &self,
        metric: &str,
        key: &str,
        timestamp: DateTime<Utc>,
    ) -> StorageResult<Option<AlertRecord>> {
        if let Some(mine) = self.overlay().alerts.get(metric).and_then(|a| a.get(key)) {
            return Ok(Some(mine.record.clone()));
        }
        let at = LoadAlerts::new(metric, timestamp, timestamp + TimeDelta::microseconds(1));
        Ok(self
            .inner
            .load_alerts(&at)
            .await?
            .into_iter()
            .find(|r| r.key == key))
    }

    /// Rows of `metric` written by the dry run.
    fn own_alerts(&self, metric: &str) -> Vec<OverlayAlert> {
        self.overlay()
            .alerts
            .get(metric)
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    /// `below` (the stored candidate) unless the dry run rewrote its key, and the
    /// dry run's own rows passing `keep`, newest by `order` first.
    fn newest_of(
        &self,
        metric: &str,
        below: Option<AlertRecord>,
        keep: impl Fn(&AlertRecord) -> bool,
        order: impl Fn(&OverlayAlert) -> (DateTime<Utc>, DateTime<Utc>),
    ) -> Option<AlertRecord> {
        let own = self.own_alerts(metric);
        let mut candidates: Vec<OverlayAlert> =
            own.iter().filter(|a| keep(&a.record)).cloned().collect();
        if let Some(b) = below.filter(|b| !own.iter().any(|a| a.record.key == b.key)) {
            let claimed_at = b.sent_at.unwrap_or(b.timestamp);
            candidates.push(OverlayAlert {
                record: b,
                token: String::new(),
                claimed_at,
            });
        }
        candidates
            .into_iter()
            .max_by_key(|a| order(a))
            .map(|a| a.record)
    }
}

#[async_trait]
impl AlertLedger for DryRunStorage<'_> {
    /// The rules of [`AlertLedger::claim_alert`] against the row the dry run sees. A
    /// stored `pending` row counts as claimed before `claim.stale_before` only when
    /// that is after the claim time (rows do not say when they were claimed): a dry
    /// run holding its lease passes `stale_before = now`.
    async fn claim_alert(&self, claim: &AlertClaim) -> StorageResult<bool> {
        let existing = self
            .alert_row(&claim.metric, &claim.key, claim.timestamp)
            .await?;
        let own = self
            .overlay()
            .alerts
            .get(&claim.metric)
            .and_then(|a| a.get(&claim.key))
            .cloned();
        let wins = match (&existing, &own) {
            (None, _) => true,
            (Some(r), _) if r.status == AlertStatus::Failed => true,
            (Some(r), Some(mine)) if r.status == AlertStatus::Pending => {
                mine.claimed_at < claim.stale_before || mine.token == claim.token
            }
            (Some(r), None) => {
                r.status == AlertStatus::Pending && claim.stale_before >= claim.claimed_at
            }
            _ => false,
        };
        if wins {
            let record = AlertRecord::new(
                claim.metric.as_str(),
                claim.key.as_str(),
                claim.kind,
                claim.timestamp,
                AlertStatus::Pending,
                None,
                claim.detector_ids.clone(),
            );
            self.overlay()
                .alerts
                .entry(claim.metric.clone())
                .or_default()
                .insert(
                    claim.key.clone(),
                    OverlayAlert {
                        record,
                        token: claim.token.clone(),
                        claimed_at: claim.claimed_at,
                    },
                );
        }
        Ok(wins)
    }

    async fn finish_alert(&self, op: &FinishAlert) -> StorageResult<()> {
        let mut overlay = self.overlay();
        if let Some(row) = overlay
            .alerts
            .get_mut(&op.metric)
            .and_then(|a| a.get_mut(&op.key))
            .filter(|row| row.token == op.token)
        {
            row.record.status = op.outcome.status;
            row.record.sent_at =
                (op.outcome.status == AlertStatus::Sent).then_some(op.outcome.finished_at);
            row.record.error = op.outcome.error.clone();
        }
        Ok(())
    }

    async fn last_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        let below = self.inner.last_sent_alert(metric, kind).await?;
        Ok(self.newest_of(
            metric,
            below,
            |r| r.status == AlertStatus::Sent && kind.is_none_or(|k| r.kind == k),
            |a| (a.record.timestamp, a.record.sent_at.unwrap_or(a.claimed_at)),
        ))
    }

    async fn latest_alert(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        let below = self.inner.latest_alert(metric, kind).await?;
        Ok(self.newest_of(
            metric,
            below,
            |r| r.kind == kind,
            |a| (a.record.timestamp, a.claimed_at),
        ))
    }

    async fn load_alerts(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        let below = self.inner.load_alerts(op).await?;
        let mut merged: BTreeMap<(DateTime<Utc>, String), AlertRecord> = below
            .into_iter()
            .map(|r| ((r.timestamp, r.key.clone()), r))
            .collect();
        for own in self.own_alerts(&op.metric) {
            let r = own.record;
            merged.retain(|(_, k), _| *k != r.key);
            if r.timestamp >= op.from && r.timestamp < op.to {
                merged.insert((r.timestamp, r.key.clone()), r);
            }
        }
        Ok(merged.into_values().collect())
    }

    /// A dry run sets no hold.
    async fn put_alert_hold(&self, _hold: &AlertHold) -> StorageResult<()> {
        Ok(())
    }

    /// A dry run removes no hold (and reports there was none).
    async fn remove_alert_hold(&self, _metric: &str, _kind: HoldKind) -> StorageResult<bool> {
        Ok(false)
    }

    async fn load_alert_holds(&self, metric: &str) -> StorageResult<Vec<AlertHold>> {
        self.inner.load_alert_holds(metric).await
    }
}

#[async_trait]
impl Storage for DryRunStorage<'_> {
    /// The storage's description, marked: a dry run's (lenient) migration is never
    /// taken for the real one's.
    fn describe(&self) -> String {
        format!("{} (dry run)", self.inner.describe())
    }

    async fn check(&self) -> StorageResult<Option<String>> {
        self.inner.check().await
    }

    fn keeps_alert_state(&self) -> bool {
        self.inner.keeps_alert_state()
    }

    /// The schema is not data: the tables are created so a first dry run can read
    /// empty ones; a failure is logged and ignored (reads then fail or find nothing).
    async fn migrate(&self) -> StorageResult<()> {
        if let Err(e) = self.inner.migrate().await {
            tracing::debug!(storage = %self.inner.describe(), error = %e, "dry run: could not create the storage tables");
        }
        Ok(())
    }

    /// Hides the rows older than `before` from later reads of this dry run; reports 0.
    async fn apply_retention(&self, metric: &str, before: DateTime<Utc>) -> StorageResult<u64> {
        let mut overlay = self.overlay();
        let cutoff = overlay
            .retained_from
            .get(metric)
            .copied()
            .max(Some(before))
            .unwrap_or(before);
        overlay.retained_from.insert(metric.to_string(), cutoff);
        Ok(0)
    }
}

/// An alerter that records messages instead of sending them.
#[derive(Debug)]
pub struct DryRunAlerter<'a> {
    inner: &'a dyn Alerter,
    recorded: Mutex<Vec<AlertMessage>>,
}

impl<'a> DryRunAlerter<'a> {
    /// Records what `inner` would have been asked to send.
    pub fn new(inner: &'a dyn Alerter) -> Self {
        Self {
            inner,
            recorded: Mutex::new(Vec::new()),
        }
    }

    /// The messages that would have been sent, in order.
    pub fn recorded(&self) -> Vec<AlertMessage> {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl Alerter for DryRunAlerter<'_> {
    /// The channel, marked, so logs of the (recorded) delivery say it was a dry run.
    fn describe(&self) -> String {
        format!("{} (dry run)", self.inner.describe())
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        Ok(())
    }

    async fn check(&self) -> Result<Option<String>, AlertError> {
        self.inner.check().await
    }
}
