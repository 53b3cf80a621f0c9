use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::alert::AlertSettings;
use crate::error::Error;
use crate::model::DetectionRecord;
use crate::traits::{AlertClaim, AlertOutcome, AlertStatus};
use crate::traits::{AlertKind, AlertMessage, Alerter, Storage};

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
    /// Decide and render, but neither claim nor send.
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

/// Decides whether the newest point warrants an alert and delivers it once.
pub async fn process(job: AlertJob<'_>) -> Result<AlertReport, Error> {
    let storage_err = |source| Error::Storage {
        metric: job.metric.to_string(),
        source,
    };
    let mut report = AlertReport::default();
    let fired: Vec<DetectionRecord> = job
        .fresh
        .iter()
        .filter(|r| r.detection.timestamp == job.newest && r.detection.is_anomaly)
        .cloned()
        .collect();
    if fired.is_empty() {
        report.held_back = Some("the newest point is normal".into());
        return Ok(report);
    }
    if let Some(last) = job
        .storage
        .last_sent_alert(job.metric, Some(AlertKind::Anomaly))
        .await
        .map_err(storage_err)?
    {
        let cooldown = TimeDelta::minutes(job.settings.cooldown_minutes as i64);
        if job.newest < last.timestamp + cooldown && job.newest != last.timestamp {
            report.held_back = Some(format!("cooldown: last alert at {}", last.timestamp));
            return Ok(report);
        }
    }
    let text = fired
        .iter()
        .map(|r| {
            format!(
                "{} = {:?} is anomalous by {} `{}` (expected {:?}..{:?})",
                job.metric,
                r.detection.value,
                r.detector_type,
                r.detector_id,
                r.detection.lower_bound,
                r.detection.upper_bound
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let message = AlertMessage {
        metric: job.metric.to_string(),
        kind: AlertKind::Anomaly,
        timestamp: job.newest,
        title: format!("Anomaly in {}", job.metric),
        text,
        detections: fired.clone(),
    };
    if job.dry_run {
        report.would_send.push(message);
        return Ok(report);
    }
    let now = Utc::now();
    let key = format!("anomaly:{}", job.newest.to_rfc3339());
    let token = format!(
        "{}-{}",
        std::process::id(),
        now.timestamp_nanos_opt().unwrap_or_default()
    );
    let ids: Vec<String> = fired.iter().map(|r| r.detector_id.clone()).collect();
    let claim = AlertClaim {
        metric: job.metric.to_string(),
        key: key.clone(),
        kind: AlertKind::Anomaly,
        timestamp: job.newest,
        token: token.clone(),
        claimed_at: now,
        stale_before: now - TimeDelta::minutes(10),
        detector_ids: ids.clone(),
    };
    if !job.storage.claim_alert(&claim).await.map_err(storage_err)? {
        report.held_back = Some("already sent (or being sent) by another run".into());
        return Ok(report);
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
    job.storage
        .finish_alert(job.metric, &key, &token, &outcome)
        .await
        .map_err(storage_err)?;
    match result {
        Ok(()) => {
            job.storage
                .mark_alert_sent(job.metric, &ids, job.newest)
                .await
                .map_err(storage_err)?;
            report.sent.push(message);
            Ok(report)
        }
        Err(source) => Err(Error::Alert {
            metric: job.metric.to_string(),
            source,
        }),
    }
}
