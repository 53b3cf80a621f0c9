//! The alert step's read-only look before the lease: when the run would only hold
//! back with nothing to write, answer that without taking the metric's alert lease
//! (two write transactions per metric and tick saved on a quiet fleet).
//!
//! The step is quiet when, read in this order, the newest anomaly alert of the state
//! key is absent or sent, (with `notify_recovery`) no point the policy looks at newer
//! than that alert is flagged anomalous, the sent-alert state agrees with the alert (a
//! run that recorded an alert between the two reads sends the step down the leased
//! path; with the newest anomaly alert sent, no earlier one waits for delivery), the
//! policy holds for the newest point, and no snooze or ack is in force. Anything else
//! takes the lease and decides there, exactly as before. The look never writes or
//! sends, so it cannot duplicate an alert; what it answers is what a leased run
//! deciding at the moment of the reads would answer.

use chrono::Utc;

use super::{AlertJob, AlertReport, State, decide_at, storage_err};
use crate::alert::holds::ActiveHolds;
use crate::alert::policy::Decision;
use crate::error::Error;
use crate::model::DetectionRecord;
use crate::traits::{AlertKind, AlertStatus};

/// The report of a step with nothing to decide, or `None` when the step must take the
/// lease (an alert or recovery may be due, an alert waits for delivery, a hold is in
/// force, or another run changed the alert state while this one read it).
pub(super) async fn quiet_report(
    job: &AlertJob<'_>,
    detections: &[DetectionRecord],
) -> Result<Option<AlertReport>, Error> {
    let latest = job
        .storage
        .latest_alert(job.state_key, AlertKind::Anomaly)
        .await
        .map_err(|e| storage_err(job, e))?;
    let latest_sent = match &latest {
        None => None,
        Some(a) if a.status == AlertStatus::Sent => Some(a.timestamp),
        // Failed or pending (the leased path may deliver it): not quiet.
        Some(_) => return Ok(None),
    };
    // With recoveries on, a flagged point newer than the last anomaly alert may be
    // another run's alert in the making, after which this run owes a recovery: decide
    // under the lease. Without them no earlier point changes what this run sends (an
    // alert of its own newest point is not a `Hold` below; a failed or pending one was
    // answered above), so a fleet after a backfill, whose lookbacks hold anomalies that
    // were never alerted on, stays off the lease.
    let flagged = job.settings.notify_recovery
        && detections.iter().any(|r| {
            r.detection.is_anomaly && latest_sent.is_none_or(|t| r.detection.timestamp > t)
        });
    if flagged {
        return Ok(None);
    }
    let state = State::read(job).await?;
    if state.last_anomaly != latest_sent {
        return Ok(None);
    }
    let Decision::Hold(reason) = decide_at(job, detections, job.newest, &state) else {
        return Ok(None);
    };
    let holds = ActiveHolds::read(job.storage, job.metric, Utc::now())
        .await
        .map_err(|e| storage_err(job, e))?;
    if holds.snooze.is_some() || holds.ack.is_some() {
        return Ok(None);
    }
    Ok(Some(AlertReport::held(reason)))
}
