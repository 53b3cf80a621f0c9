//! One run's alert step: gather the newest points' detections (stored and fresh),
//! ask the policy, render the message, and deliver it at most once across processes
//! through the storage's alert claims.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::alert::AlertSettings;
use crate::alert::message::{MessageInput, build_message};
use crate::alert::policy::{Decision, PolicyInput, decide};
use crate::error::Error;
use crate::model::DetectionRecord;
use crate::traits::{AlertClaim, AlertOutcome, AlertStatus};
use crate::traits::{AlertKind, AlertMessage, Alerter, Storage};

/// A `pending` claim older than this is taken as abandoned (its process died while
/// sending), so a later run may send the alert. Longer than any channel's retries.
pub const CLAIM_STALE_AFTER: TimeDelta = TimeDelta::minutes(15);

/// A configured detector as alerts describe it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorInfo {
    /// Detector ID.
    pub id: String,
    /// Detector type.
    pub kind: String,
    /// Params as configured.
    pub params: Value,
}

/// Everything needed to decide on and send the alert for a metric's newest point.
#[derive(Debug)]
pub struct AlertJob<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Parsed alert settings.
    pub settings: &'a AlertSettings,
    /// The channel.
    pub alerter: &'a dyn Alerter,
    /// Where alert state lives.
    pub storage: &'a dyn Storage,
    /// The metric's detectors.
    pub detectors: &'a [DetectorInfo],
    /// Detections made by this run (not yet stored in a dry run).
    pub fresh: &'a [DetectionRecord],
    /// Timestamp of the newest point.
    pub newest: DateTime<Utc>,
    /// The metric's interval.
    pub interval: TimeDelta,
    /// Decide and render, but neither claim nor send nor write anything.
    pub dry_run: bool,
}

/// What happened to the alert of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertReport {
    /// Messages delivered.
    pub sent: Vec<AlertMessage>,
    /// Messages a dry run would have sent.
    pub would_send: Vec<AlertMessage>,
    /// Why nothing was sent, when nothing was.
    pub held_back: Option<String>,
}

impl AlertReport {
    fn held(reason: impl Into<String>) -> Self {
        Self {
            held_back: Some(reason.into()),
            ..Self::default()
        }
    }
}

/// Decides whether the newest point warrants an alert (or a recovery message) and
/// delivers it once, however many runs for the metric happen at the same time.
///
/// A failed delivery is recorded as `failed` (so a later run may send it again) and
/// returned as [`Error::Alert`] naming the metric.
pub async fn process(job: AlertJob<'_>) -> Result<AlertReport, Error> {
    if !job.settings.enabled {
        return Ok(AlertReport::held(
            "alerting is disabled (alerter.enabled: false)",
        ));
    }
    let storage_err = |source| Error::Storage {
        metric: job.metric.to_string(),
        source,
    };
    let detections = gather(&job).await.map_err(storage_err)?;
    let last_anomaly = job
        .storage
        .last_sent_alert(job.metric, Some(AlertKind::Anomaly))
        .await
        .map_err(storage_err)?;
    let last_recovery = if job.settings.notify_recovery {
        job.storage
            .last_sent_alert(job.metric, Some(AlertKind::Recovery))
            .await
            .map_err(storage_err)?
    } else {
        None
    };
    let detector_ids: Vec<String> = job.detectors.iter().map(|d| d.id.clone()).collect();
    let decision = decide(&PolicyInput {
        settings: job.settings,
        detector_ids: &detector_ids,
        detections: &detections,
        newest: job.newest,
        interval: job.interval,
        last_anomaly_alert: last_anomaly.map(|a| a.timestamp),
        last_recovery_alert: last_recovery.map(|a| a.timestamp),
    });
    let (kind, fired, consecutive, recovered_from) = match decision {
        Decision::Hold(reason) => return Ok(AlertReport::held(reason)),
        Decision::Anomaly {
            detections,
            consecutive,
        } => (AlertKind::Anomaly, detections, consecutive, None),
        Decision::Recovery {
            detections,
            recovered_from,
        } => (AlertKind::Recovery, detections, 1, Some(recovered_from)),
    };
    let message = build_message(
        &MessageInput {
            metric: job.metric,
            kind,
            timestamp: job.newest,
            detections: &fired,
            consecutive,
            recovered_from,
        },
        job.settings.message_template.as_deref(),
    );
    if job.dry_run {
        return Ok(AlertReport {
            would_send: vec![message],
            ..AlertReport::default()
        });
    }
    deliver_once(&job, message).await
}

/// The detections of the points the policy looks at: stored ones, replaced by this
/// run's fresh ones where both exist (a dry run has not stored its own).
async fn gather(job: &AlertJob<'_>) -> Result<Vec<DetectionRecord>, crate::BackendError> {
    let lookback = crate::alert::policy::lookback_points(job.settings);
    let back = i32::try_from(lookback.max(1) - 1)
        .ok()
        .and_then(|n| job.interval.checked_mul(n))
        .unwrap_or(TimeDelta::MAX);
    let from = job
        .newest
        .checked_sub_signed(back)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // One second past the newest point: every backend resolves seconds; later points
    // (a replay with an earlier execution time) are dropped below.
    let to = job
        .newest
        .checked_add_signed(TimeDelta::seconds(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let stored = job
        .storage
        .load_detections(job.metric, None, from, to)
        .await?;
    let mut merged: BTreeMap<(DateTime<Utc>, String), DetectionRecord> = stored
        .into_iter()
        .filter(|r| r.detection.timestamp <= job.newest)
        .map(|r| ((r.detection.timestamp, r.detector_id.clone()), r))
        .collect();
    for r in job.fresh {
        let t = r.detection.timestamp;
        if t >= from && t <= job.newest {
            merged.insert((t, r.detector_id.clone()), r.clone());
        }
    }
    Ok(merged.into_values().collect())
}

/// A token unique to this claimant: process ID, wall-clock nanos and a counter.
fn claim_token(now: DateTime<Utc>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        now.timestamp_nanos_opt().unwrap_or_default(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The alert's key within the metric: `anomaly:2024-01-01T10:00:00Z`.
pub fn alert_key(kind: AlertKind, timestamp: DateTime<Utc>) -> String {
    format!(
        "{}:{}",
        kind.as_str(),
        timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

async fn deliver_once(job: &AlertJob<'_>, message: AlertMessage) -> Result<AlertReport, Error> {
    let storage_err = |source| Error::Storage {
        metric: job.metric.to_string(),
        source,
    };
    let now = Utc::now();
    let key = alert_key(message.kind, job.newest);
    let token = claim_token(now);
    let ids: Vec<String> = message
        .detections
        .iter()
        .map(|r| r.detector_id.clone())
        .collect();
    let claim = AlertClaim {
        metric: job.metric.to_string(),
        key: key.clone(),
        kind: message.kind,
        timestamp: job.newest,
        token: token.clone(),
        claimed_at: now,
        stale_before: now - CLAIM_STALE_AFTER,
        detector_ids: ids.clone(),
    };
    if !job.storage.claim_alert(&claim).await.map_err(storage_err)? {
        return Ok(AlertReport::held(
            "already sent, or being sent by another run",
        ));
    }
    let result = job.alerter.send(&message).await;
    let outcome = AlertOutcome {
        status: if result.is_ok() {
            AlertStatus::Sent
        } else {
            AlertStatus::Failed
        },
        finished_at: Utc::now(),
        message: message.text.clone(),
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    let recorded = job
        .storage
        .finish_alert(job.metric, &key, &token, &outcome)
        .await;
    if let Err(e) = recorded {
        if result.is_ok() {
            return Err(storage_err(e));
        }
        // The delivery error matters more; the claim goes stale and may be retried.
        tracing::error!(
            metric = job.metric,
            "could not record the failed alert: {e}"
        );
    }
    match result {
        Ok(()) => {
            tracing::info!(
                metric = job.metric,
                kind = message.kind.as_str(),
                channel = job.alerter.describe(),
                "alert sent"
            );
            if message.kind == AlertKind::Anomaly {
                job.storage
                    .mark_alert_sent(job.metric, &ids, job.newest)
                    .await
                    .map_err(storage_err)?;
            }
            Ok(AlertReport {
                sent: vec![message],
                ..AlertReport::default()
            })
        }
        Err(source) => Err(Error::Alert {
            metric: job.metric.to_string(),
            source,
        }),
    }
}
