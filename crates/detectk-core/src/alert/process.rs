//! One run's alert step: gather the newest points' detections (stored and fresh),
//! then, holding the metric's alert lease (see `lease`), read the alert state, ask
//! the policy, claim, send and record. Deciding and claiming under one lease per
//! metric is what makes overlapping runs (of the same point or of neighbouring
//! points) send one alert: the second run decides after the first has recorded.

mod quiet;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;

use crate::alert::holds::{ActiveHolds, acknowledged, is_normal, snoozed};
use crate::alert::lease::{HeldLease, unique_token};
use crate::alert::message::{DetectorInfo, build_message_with_link};
use crate::alert::policy::{Decision, PolicyInput, decide, lookback_points};
use crate::alert::settings::AlertSettings;
use crate::alert::text::MessageInput;
use crate::error::{BackendError, Error};
use crate::layers::{DryRunAlerter, DryRunStorage};
use crate::model::DetectionRecord;
use crate::traits::{
    AlertClaim, AlertKind, AlertMessage, AlertOutcome, AlertStatus, Alerter, FinishAlert, HoldKind,
    LoadAlerts, LoadDetections, MarkAlertSent, Storage,
};

/// An anomaly alert that failed (or whose sender died) is retried by later runs while
/// its point is at most this much older than their newest point and no newer anomaly
/// alert was sent.
pub const FAILED_ALERT_RETRY_WINDOW: TimeDelta = TimeDelta::hours(24);

/// Test-only hook: when set to a number of seconds, a run waits that long after
/// claiming an alert and before sending it (tests kill the process meanwhile).
pub const PAUSE_BEFORE_SEND_ENV: &str = "DETECTK_TEST_PAUSE_BEFORE_SEND";

/// Everything needed to decide on and send the alert for a metric's newest point.
#[derive(Debug)]
pub struct AlertJob<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Name under which this alerter's claims, sent alerts and lease are kept: the
    /// metric name for the metric's `alerter:` (so existing state stays valid), else
    /// [`alerter_state_key`] of the metric and the alerter's name.
    pub state_key: &'a str,
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
    /// Take the path of a real run over [`DryRunStorage`] and [`DryRunAlerter`]: claim,
    /// send and record in memory only; the messages are reported as `would_send`.
    pub dry_run: bool,
}

/// What happened to the alert of one run.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
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
/// Holding the metric's alert lease, the run reads the alert state, decides, claims,
/// sends and records; a run finding the lease held waits for it (bounded). When the
/// newest point does not warrant an anomaly alert but an earlier anomaly alert of the
/// open incident was never delivered (its delivery failed, or its sender died), that
/// alert is delivered first (see [`FAILED_ALERT_RETRY_WINDOW`]).
///
/// A failed delivery is recorded as `failed` (so a later run sends it again) and
/// returned as [`Error::Alert`] naming the metric. Storage calls are retried on
/// transient errors like the rest of the run.
pub async fn process(job: AlertJob<'_>) -> Result<AlertReport, Error> {
    if !job.settings.enabled {
        return Ok(AlertReport::held(
            "alerting is disabled (alerter.enabled: false)",
        ));
    }
    if job.dry_run {
        // The same path as a real run, over layers that write and send nothing.
        let storage = DryRunStorage::new(job.storage);
        let alerter = DryRunAlerter::new(job.alerter);
        let mut report = alert(AlertJob {
            storage: &storage,
            alerter: &alerter,
            ..job
        })
        .await?;
        report.would_send = std::mem::take(&mut report.sent);
        return Ok(report);
    }
    alert(job).await
}

/// Gathers the detections, then decides, claims, sends and records under the lease.
async fn alert(job: AlertJob<'_>) -> Result<AlertReport, Error> {
    let detections = gather(&job, job.newest)
        .await
        .map_err(|e| storage_err(&job, e))?;
    if let Some(report) = quiet::quiet_report(&job, &detections).await? {
        return Ok(report);
    }
    let lease = HeldLease::acquire(job.storage, job.state_key).await?;
    let result = under_lease(&job, &lease, &detections).await;
    lease.release().await;
    result
}

fn storage_err(job: &AlertJob<'_>, source: BackendError) -> Error {
    Error::Storage {
        metric: job.metric.to_string(),
        source: Box::new(source),
    }
}

/// The metric's alert state the policy looks at.
struct State {
    last_anomaly: Option<DateTime<Utc>>,
    last_recovery: Option<DateTime<Utc>>,
}

impl State {
    async fn read(job: &AlertJob<'_>) -> Result<Self, Error> {
        let last = |kind| job.storage.last_sent_alert(job.state_key, Some(kind));
        let last_anomaly = last(AlertKind::Anomaly)
            .await
            .map_err(|e| storage_err(job, e))?;
        let last_recovery = if job.settings.notify_recovery {
            last(AlertKind::Recovery)
                .await
                .map_err(|e| storage_err(job, e))?
        } else {
            None
        };
        Ok(Self {
            last_anomaly: last_anomaly.map(|a| a.timestamp),
            last_recovery: last_recovery.map(|a| a.timestamp),
        })
    }
}

fn decide_at(
    job: &AlertJob<'_>,
    detections: &[DetectionRecord],
    at: DateTime<Utc>,
    state: &State,
) -> Decision {
    let detector_ids: Vec<String> = job.detectors.iter().map(|d| d.id.clone()).collect();
    decide(&PolicyInput {
        settings: job.settings,
        detector_ids: &detector_ids,
        detections,
        newest: at,
        interval: job.interval,
        last_anomaly_alert: state.last_anomaly,
        last_recovery_alert: state.last_recovery,
    })
}

/// The message a decision about the point `at` sends, or why nothing is sent.
fn message_for(
    job: &AlertJob<'_>,
    decision: Decision,
    at: DateTime<Utc>,
) -> Result<AlertMessage, String> {
    let (kind, fired, consecutive, recovered_from) = match decision {
        Decision::Hold(reason) => return Err(reason),
        Decision::Anomaly {
            detections,
            consecutive,
        } => (AlertKind::Anomaly, detections, consecutive, None),
        Decision::Recovery {
            detections,
            recovered_from,
        } => (AlertKind::Recovery, detections, 1, Some(recovered_from)),
    };
    let link = job
        .settings
        .report_url
        .as_deref()
        .map(|p| crate::alert::expand_report_url(p, job.metric, at));
    Ok(build_message_with_link(
        &MessageInput {
            metric: job.metric,
            kind,
            timestamp: at,
            detections: &fired,
            consecutive,
            recovered_from,
            severity: job.settings.severity_cutoffs.classify(kind, &fired),
        },
        job.settings.message_template.as_deref(),
        link.as_deref(),
    ))
}

/// Everything after the lease is held: decide, (re)deliver, record.
async fn under_lease(
    job: &AlertJob<'_>,
    lease: &HeldLease<'_>,
    detections: &[DetectionRecord],
) -> Result<AlertReport, Error> {
    let mut state = State::read(job).await?;
    let mut decision = decide_at(job, detections, job.newest, &state);
    if let Some(held) = held_by_user(job, detections, &decision).await? {
        return Ok(AlertReport::held(held));
    }
    let mut report = AlertReport::default();
    if !matches!(decision, Decision::Anomaly { .. })
        && let Some(at) = undelivered(job, &state).await?
    {
        let earlier = gather(job, at).await.map_err(|e| storage_err(job, e))?;
        if let Ok(message) = message_for(job, decide_at(job, &earlier, at, &state), at)
            && message.kind == AlertKind::Anomaly
        {
            tracing::info!(
                metric = job.metric,
                "delivering the undelivered alert of the open incident"
            );
            deliver_once(job, lease, &state, message, at, &mut report).await?;
            state = State::read(job).await?;
            decision = decide_at(job, detections, job.newest, &state);
        }
    }
    match message_for(job, decision, job.newest) {
        Ok(message) => deliver_once(job, lease, &state, message, job.newest, &mut report).await?,
        Err(reason) => {
            if report.sent.is_empty() {
                report.held_back = Some(reason);
            }
        }
    }
    Ok(report)
}

/// Why a snooze or an ack (see `holds`) suppresses the alert step, if one does; an
/// ack whose metric is normal again is removed (the incident is over).
async fn held_by_user(
    job: &AlertJob<'_>,
    detections: &[DetectionRecord],
    decision: &Decision,
) -> Result<Option<String>, Error> {
    let mut holds = ActiveHolds::read(job.storage, job.metric, Utc::now())
        .await
        .map_err(|e| storage_err(job, e))?;
    if holds.ack.is_some() && is_normal(detections, job.newest) {
        job.storage
            .remove_alert_hold(job.metric, HoldKind::Ack)
            .await
            .map_err(|e| storage_err(job, e))?;
        tracing::info!(
            metric = job.metric,
            "the metric is normal again: ack removed"
        );
        holds.ack = None;
    }
    if holds.snooze.is_none() && holds.ack.is_none() {
        return Ok(None);
    }
    let would = message_for(job, decision.clone(), job.newest);
    let held = match (&holds.snooze, &holds.ack) {
        (Some(snooze), _) => snoozed(snooze, would.as_ref().map_err(String::as_str)),
        (None, Some(ack)) => acknowledged(ack, would.as_ref().map_err(String::as_str)),
        (None, None) => return Ok(None),
    };
    tracing::info!(metric = job.metric, "{held}");
    if let Ok(message) = would {
        record_suppressed(job, message, &held).await?;
    }
    Ok(Some(held))
}

/// Records an alert a snooze or an ack held back as a `suppressed` row of
/// `dtk_alerts` (the message it would have sent, the hold's reason as `error`), once:
/// the claim fails when the point's alert already has a row, so a re-run neither
/// adds a second row nor turns it into a send (a suppressed row is never taken over).
async fn record_suppressed(
    job: &AlertJob<'_>,
    message: AlertMessage,
    reason: &str,
) -> Result<(), Error> {
    let now = Utc::now();
    let key = alert_key(message.kind, job.newest);
    let token = unique_token(now);
    let ids = detector_ids(&message);
    let claim = AlertClaim::new(
        job.state_key,
        &key,
        message.kind,
        job.newest,
        &token,
        now,
        now,
    )
    .detectors(ids);
    let claimed = job
        .storage
        .claim_alert(&claim)
        .await
        .map_err(|e| storage_err(job, e))?;
    if !claimed {
        return Ok(());
    }
    let mut outcome = AlertOutcome::new(AlertStatus::Suppressed, Utc::now(), message.text);
    outcome.error = Some(reason.to_string());
    job.storage
        .finish_alert(&FinishAlert::new(job.state_key, &key, &token, outcome))
        .await
        .map_err(|e| storage_err(job, e))
}

/// The point of an anomaly alert of the open incident that was never delivered: the
/// metric's newest anomaly alert, when it is `failed` or `pending` (under the lease, a
/// pending claim's sender is dead; a `suppressed` one was held back on purpose), newer than every sent anomaly alert and recovery,
/// older than the newest point, and within [`FAILED_ALERT_RETRY_WINDOW`] of it.
async fn undelivered(job: &AlertJob<'_>, state: &State) -> Result<Option<DateTime<Utc>>, Error> {
    let latest = job
        .storage
        .latest_alert(job.state_key, AlertKind::Anomaly)
        .await
        .map_err(|e| storage_err(job, e))?;
    Ok(latest
        .filter(|a| matches!(a.status, AlertStatus::Failed | AlertStatus::Pending))
        .map(|a| a.timestamp)
        .filter(|t| {
            *t < job.newest
                && job.newest - *t <= FAILED_ALERT_RETRY_WINDOW
                && state.last_anomaly.is_none_or(|s| s < *t)
                && state.last_recovery.is_none_or(|r| r < *t)
        }))
}

/// The detections of the points the policy looks at for the point `at`: stored ones,
/// replaced by this run's fresh ones where both exist (a dry run has not stored its own).
async fn gather(
    job: &AlertJob<'_>,
    at: DateTime<Utc>,
) -> Result<Vec<DetectionRecord>, crate::BackendError> {
    let lookback = lookback_points(job.settings);
    let back = i32::try_from(lookback.max(1) - 1)
        .ok()
        .and_then(|n| job.interval.checked_mul(n))
        .unwrap_or(TimeDelta::MAX);
    let from = at
        .checked_sub_signed(back)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // One second past the point: every backend resolves seconds; later points
    // (a replay with an earlier execution time) are dropped below.
    let to = at
        .checked_add_signed(TimeDelta::seconds(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    // The policy reads every detection of the point `at` but, of earlier points, only
    // anomalous ones (they make runs, shares and incidents): the normal rows of the
    // lookback are not read. One query per detector reads its rows in key order.
    let all = LoadDetections::new(job.metric, from, to).anomalies_only_before(at);
    let ops: Vec<LoadDetections> = if job.detectors.is_empty() {
        vec![all]
    } else {
        job.detectors
            .iter()
            .map(|d| all.clone().detector(d.id.as_str()))
            .collect()
    };
    let mut merged: BTreeMap<(DateTime<Utc>, String), DetectionRecord> = BTreeMap::new();
    for op in &ops {
        for r in job.storage.load_detections(op).await? {
            if r.detection.timestamp <= at {
                merged.insert((r.detection.timestamp, r.detector_id.clone()), r);
            }
        }
    }
    for r in job.fresh {
        let t = r.detection.timestamp;
        if t >= from && t <= at {
            merged.insert((t, r.detector_id.clone()), r.clone());
        }
    }
    Ok(merged.into_values().collect())
}

/// Where an `alerters:` entry named `name` keeps its alert state: `metric#name`, so
/// each channel of a metric claims, records and leases on its own and one failing
/// channel neither blocks nor duplicates another.
///
/// ```
/// assert_eq!(detectk_core::alert::alerter_state_key("orders", "pager"), "orders#pager");
/// ```
pub fn alerter_state_key(metric: &str, name: &str) -> String {
    format!("{metric}#{name}")
}

/// The alert's key within the metric: `anomaly:2024-01-01T10:00:00Z`.
pub fn alert_key(kind: AlertKind, timestamp: DateTime<Utc>) -> String {
    format!(
        "{}:{}",
        kind.as_str(),
        timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

/// The test-only pause of [`PAUSE_BEFORE_SEND_ENV`], if set.
fn pause_before_send() -> Option<std::time::Duration> {
    std::env::var(PAUSE_BEFORE_SEND_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}

/// The point of the first anomaly alert of the incident an alert about `at` belongs
/// to: the first anomaly alert sent after the newest sent recovery, or `at` itself when
/// none was (the alert opens the incident). Read under the lease, so every run agrees.
async fn incident_start(
    job: &AlertJob<'_>,
    state: &State,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>, Error> {
    let open = state
        .last_anomaly
        .is_some_and(|a| state.last_recovery.is_none_or(|r| r < a));
    if !open {
        return Ok(at);
    }
    let from = state.last_recovery.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let to = at
        .checked_add_signed(TimeDelta::seconds(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let rows = job
        .storage
        .load_alerts(&LoadAlerts::new(job.state_key, from, to))
        .await
        .map_err(|e| storage_err(job, e))?;
    Ok(rows
        .iter()
        .filter(|r| r.kind == AlertKind::Anomaly && r.status == AlertStatus::Sent)
        .map(|r| r.timestamp)
        .filter(|t| state.last_recovery.is_none_or(|r| r < *t) && *t <= at)
        .min()
        .unwrap_or(at))
}

/// Claims, sends and records one alert about the point `at`; adds it to `report`.
async fn deliver_once(
    job: &AlertJob<'_>,
    lease: &HeldLease<'_>,
    state: &State,
    mut message: AlertMessage,
    at: DateTime<Utc>,
    report: &mut AlertReport,
) -> Result<(), Error> {
    message.incident_start = Some(incident_start(job, state, at).await?);
    let now = Utc::now();
    let key = alert_key(message.kind, at);
    let token = unique_token(now);
    let ids = detector_ids(&message);
    // We hold the lease: a pending claim made before now belongs to a dead run.
    let claim = AlertClaim::new(job.state_key, &key, message.kind, at, &token, now, now)
        .detectors(ids.clone());
    let claimed = job
        .storage
        .claim_alert(&claim)
        .await
        .map_err(|e| storage_err(job, e))?;
    if !claimed {
        report.held_back = Some("already sent by another run".into());
        return Ok(());
    }
    let result = lease
        .while_held(async {
            if let Some(pause) = pause_before_send() {
                tracing::warn!(
                    metric = job.metric,
                    "{PAUSE_BEFORE_SEND_ENV}: pausing {}s before sending",
                    pause.as_secs()
                );
                tokio::time::sleep(pause).await;
            }
            job.alerter.send(&message).await
        })
        .await;
    let status = if result.is_ok() {
        AlertStatus::Sent
    } else {
        AlertStatus::Failed
    };
    let mut outcome = AlertOutcome::new(status, Utc::now(), message.text.clone());
    outcome.error = result.as_ref().err().map(|e| e.to_string());
    let finish = FinishAlert::new(job.state_key, &key, &token, outcome);
    let recorded = job.storage.finish_alert(&finish).await;
    if let Err(e) = recorded {
        if result.is_ok() {
            return Err(storage_err(job, e));
        }
        // The delivery error matters more; the pending claim is retried by a later run.
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
                let mark = MarkAlertSent::new(job.metric, ids.clone(), at);
                job.storage
                    .mark_alert_sent(&mark)
                    .await
                    .map_err(|e| storage_err(job, e))?;
            }
            report.sent.push(message);
            Ok(())
        }
        Err(source) => Err(Error::Alert {
            metric: job.metric.to_string(),
            source,
        }),
    }
}

/// The detector IDs an alert message is about (what its ledger row records).
pub(crate) fn detector_ids(message: &AlertMessage) -> Vec<String> {
    message
        .detections
        .iter()
        .map(|r| r.detector_id.clone())
        .collect()
}
