//! `digest: true`: the alerts a run decides on for a channel go out as one message,
//! after every metric of the run is done, instead of one message each.
//!
//! During the run each metric only decides (as a dry run does) and hands its message
//! over as a [`DigestItem`]. [`send_digests`] then, per channel: takes the alert lease
//! of every item (in a fixed order, so two runs never wait on each other in a circle),
//! claims each alert exactly as a direct delivery does (an alert another run already
//! claimed is left out), sends one message listing the claimed alerts while renewing
//! every lease, and records each alert as `sent` or `failed`. So each metric's alert
//! is still delivered once, and a failed digest is sent again by the next run.

use std::sync::Arc;

use chrono::Utc;
use futures::future::join_all;

use crate::alert::Severity;
use crate::alert::lease::{HeldLease, unique_token};
use crate::alert::process::{alert_key, detector_ids};
use crate::alert::text::{format_time, format_value};
use crate::error::{AlertError, Error};
use crate::traits::{
    AlertClaim, AlertKind, AlertMessage, AlertOutcome, AlertStatus, FinishAlert, MarkAlertSent,
};
use crate::traits::{Alerter, Storage};

/// One metric's alert waiting for its channel's digest.
#[derive(Debug, Clone)]
pub struct DigestItem {
    /// The channel's identity (type and hashed params): items with the same group
    /// share one message.
    pub group: String,
    /// The alerter's name within the metric.
    pub name: String,
    /// The channel.
    pub alerter: Arc<dyn Alerter>,
    /// Where the alerter's alert state lives.
    pub storage: Arc<dyn Storage>,
    /// The alerter's state key (see [`crate::alert::AlertJob::state_key`]).
    pub state_key: String,
    /// The message a direct delivery would have sent.
    pub message: AlertMessage,
}

/// What became of one channel's digest.
#[derive(Debug)]
#[non_exhaustive]
pub struct DigestOutcome {
    /// The channel, as [`Alerter::describe`] gives it.
    pub channel: String,
    /// The digest sent (or that failed), when any alert was claimed.
    pub message: Option<AlertMessage>,
    /// Metrics whose alert another run had already claimed (left out).
    pub skipped: Vec<String>,
    /// The delivery or storage failure, when there was one.
    pub error: Option<Error>,
}

/// The digest of `messages`: one line per alert, anomalies first, each group headed
/// with its count; severity the highest, detections all of theirs.
pub fn digest_message(messages: &[&AlertMessage]) -> AlertMessage {
    let anomalies: Vec<&&AlertMessage> = messages
        .iter()
        .filter(|m| m.kind == AlertKind::Anomaly)
        .collect();
    let recoveries: Vec<&&AlertMessage> = messages
        .iter()
        .filter(|m| m.kind != AlertKind::Anomaly)
        .collect();
    let mut metrics: Vec<&str> = messages.iter().map(|m| m.metric.as_str()).collect();
    metrics.sort_unstable();
    metrics.dedup();
    let title = format!(
        "DetectK digest: {} anomal{}, {} recover{} in {} metric{}",
        anomalies.len(),
        if anomalies.len() == 1 { "y" } else { "ies" },
        recoveries.len(),
        if recoveries.len() == 1 { "y" } else { "ies" },
        metrics.len(),
        if metrics.len() == 1 { "" } else { "s" }
    );
    let mut text = format!("{title}\n");
    for (heading, group) in [("Anomalies", &anomalies), ("Recovered", &recoveries)] {
        if group.is_empty() {
            continue;
        }
        text.push_str(&format!("\n{heading} ({}):\n", group.len()));
        for m in group.iter() {
            let first = m.detections.first().map(|r| &r.detection);
            let mut line = format!(
                "- {}: value {} at {}",
                m.metric,
                format_value(first.and_then(|d| d.value)),
                format_time(m.timestamp)
            );
            if m.kind == AlertKind::Anomaly {
                if let Some(score) = first.and_then(|d| d.score) {
                    line.push_str(&format!(", score {score:.2}"));
                }
                line.push_str(&format!(", {}", m.severity));
            }
            text.push_str(&line);
            text.push('\n');
        }
    }
    AlertMessage {
        metric: if metrics.len() == 1 {
            metrics[0].to_string()
        } else {
            "digest".to_string()
        },
        kind: if anomalies.is_empty() {
            AlertKind::Recovery
        } else {
            AlertKind::Anomaly
        },
        timestamp: messages
            .iter()
            .map(|m| m.timestamp)
            .max()
            .unwrap_or_else(Utc::now),
        title,
        text: text.trim_end().to_string(),
        detections: messages.iter().flat_map(|m| m.detections.clone()).collect(),
        severity: messages
            .iter()
            .map(|m| m.severity)
            .max()
            .unwrap_or(Severity::Info),
        incident_start: match messages {
            [one] => one.incident_start,
            _ => None,
        },
    }
}

/// Sends one digest per channel of `items` (see the module documentation).
pub async fn send_digests(items: Vec<DigestItem>) -> Vec<DigestOutcome> {
    let mut groups: Vec<(String, Vec<DigestItem>)> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|(g, _)| *g == item.group) {
            Some((_, list)) => list.push(item),
            None => groups.push((item.group.clone(), vec![item])),
        }
    }
    let mut out = Vec::new();
    for (_, mut list) in groups {
        list.sort_by(|a, b| a.state_key.cmp(&b.state_key));
        out.push(send_group(&list).await);
    }
    out
}

fn storage_err(metric: &str, source: crate::error::BackendError) -> Error {
    Error::Storage {
        metric: metric.to_string(),
        source: Box::new(source),
    }
}

/// A claimed item: its alert key and claim token.
struct Claimed<'a> {
    item: &'a DigestItem,
    lease: HeldLease<'a>,
    key: String,
    token: String,
}

async fn send_group(items: &[DigestItem]) -> DigestOutcome {
    let channel = items
        .first()
        .map(|i| i.alerter.describe())
        .unwrap_or_default();
    let mut outcome = DigestOutcome {
        channel,
        message: None,
        skipped: Vec::new(),
        error: None,
    };
    let mut claimed: Vec<Claimed<'_>> = Vec::new();
    for item in items {
        match claim(item).await {
            Ok(Some(c)) => claimed.push(c),
            Ok(None) => outcome.skipped.push(item.message.metric.clone()),
            Err(e) => {
                outcome.error.get_or_insert(e);
            }
        }
    }
    let Some(first) = claimed.first() else {
        return outcome;
    };
    let alerter = Arc::clone(&first.item.alerter);
    let messages: Vec<&AlertMessage> = claimed.iter().map(|c| &c.item.message).collect();
    let digest = digest_message(&messages);
    let result: Result<(), AlertError> = {
        let renewals = join_all(
            claimed
                .iter()
                .map(|c| c.lease.while_held(std::future::pending::<()>())),
        );
        tokio::select! {
            biased;
            r = alerter.send(&digest) => r,
            _ = renewals => unreachable!("lease renewals never end"),
        }
    };
    for c in &claimed {
        if let Err(e) = finish(c, &result, &digest).await {
            outcome.error.get_or_insert(e);
        }
    }
    for c in claimed {
        c.lease.release().await;
    }
    match result {
        Ok(()) => tracing::info!(channel = outcome.channel, "digest sent"),
        Err(source) => {
            outcome.error.get_or_insert(Error::Alert {
                metric: digest.metric.clone(),
                source,
            });
        }
    }
    outcome.message = Some(digest);
    outcome
}

/// Takes the item's lease and claims its alert; `None` when another run has it.
async fn claim(item: &DigestItem) -> Result<Option<Claimed<'_>>, Error> {
    let metric = item.message.metric.as_str();
    let lease = HeldLease::acquire(item.storage.as_ref(), &item.state_key).await?;
    let now = Utc::now();
    let key = alert_key(item.message.kind, item.message.timestamp);
    let token = unique_token(now);
    let detectors = detector_ids(&item.message);
    // We hold the lease: a pending claim made before now belongs to a dead run.
    let request = AlertClaim::new(
        &item.state_key,
        &key,
        item.message.kind,
        item.message.timestamp,
        &token,
        now,
        now,
    )
    .detectors(detectors);
    let won = item.storage.claim_alert(&request).await;
    match won {
        Ok(true) => Ok(Some(Claimed {
            item,
            lease,
            key,
            token,
        })),
        Ok(false) => {
            lease.release().await;
            Ok(None)
        }
        Err(e) => {
            lease.release().await;
            Err(storage_err(metric, e))
        }
    }
}

/// Records how the digest went for one claimed alert.
async fn finish(
    c: &Claimed<'_>,
    result: &Result<(), AlertError>,
    digest: &AlertMessage,
) -> Result<(), Error> {
    let item = c.item;
    let metric = item.message.metric.as_str();
    let status = if result.is_ok() {
        AlertStatus::Sent
    } else {
        AlertStatus::Failed
    };
    let mut outcome = AlertOutcome::new(status, Utc::now(), digest.text.clone());
    outcome.error = result.as_ref().err().map(|e| e.to_string());
    item.storage
        .finish_alert(&FinishAlert::new(
            &item.state_key,
            &c.key,
            &c.token,
            outcome,
        ))
        .await
        .map_err(|e| storage_err(metric, e))?;
    if result.is_ok() && item.message.kind == AlertKind::Anomaly {
        let ids = detector_ids(&item.message);
        item.storage
            .mark_alert_sent(&MarkAlertSent::new(metric, ids, item.message.timestamp))
            .await
            .map_err(|e| storage_err(metric, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertSettings, sample_message};
    use chrono::TimeZone;

    fn message(metric: &str, kind: AlertKind, severity: Severity) -> AlertMessage {
        let at = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        let mut m = sample_message(metric, &AlertSettings::default(), &[], at);
        m.kind = kind;
        m.severity = severity;
        m
    }

    #[test]
    fn the_digest_groups_alerts_by_kind_with_counts() {
        let a = message("orders", AlertKind::Anomaly, Severity::Critical);
        let b = message("sessions", AlertKind::Recovery, Severity::Info);
        let c = message("latency", AlertKind::Anomaly, Severity::Warning);
        let d = digest_message(&[&a, &b, &c]);
        assert_eq!(
            d.title,
            "DetectK digest: 2 anomalies, 1 recovery in 3 metrics"
        );
        assert_eq!(d.kind, AlertKind::Anomaly);
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!(d.metric, "digest");
        let lines: Vec<&str> = d.text.lines().collect();
        assert_eq!(lines[2], "Anomalies (2):");
        assert!(lines[3].starts_with("- orders: value "), "{}", d.text);
        assert!(lines[3].ends_with(", critical"), "{}", d.text);
        assert!(lines[4].starts_with("- latency: "), "{}", d.text);
        assert_eq!(lines[6], "Recovered (1):");
        assert!(lines[7].starts_with("- sessions: "), "{}", d.text);
        let only = digest_message(&[&b]);
        assert_eq!(
            (only.kind, only.metric.as_str()),
            (AlertKind::Recovery, "sessions")
        );
    }
}
