//! Checks of alert claims: atomicity, failure and staleness, and the last sent alert.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::StorageTarget;
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::samples::at;
use crate::testkit::{CheckResult, unique_metric};
use crate::traits::{AlertClaim, AlertKind, AlertOutcome, AlertStatus, FinishAlert, Storage};

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn claim(metric: &str, key: &str, token: &str, claimed_at: DateTime<Utc>) -> AlertClaim {
    AlertClaim {
        metric: metric.to_string(),
        key: key.to_string(),
        kind: AlertKind::Anomaly,
        timestamp: at(0),
        token: token.to_string(),
        claimed_at,
        stale_before: now() - Duration::minutes(10),
        detector_ids: vec!["a1b2c3d4".into(), "e5f6a7b8".into()],
    }
}

fn outcome(status: AlertStatus) -> AlertOutcome {
    AlertOutcome {
        status,
        finished_at: now(),
        message: "Anomaly in metric: value 140.25, expected [90, 111]".into(),
        error: (status == AlertStatus::Failed).then(|| "HTTP 503 after 3 attempts".into()),
    }
}

/// Claims `key` from `n` concurrent claimers spread over both handles; returns the winners' tokens.
async fn race(
    t: &StorageTarget<'_>,
    metric: &str,
    key: &str,
    round: &str,
    n: usize,
) -> Result<Vec<String>, crate::testkit::CheckFailure> {
    let claims: Vec<AlertClaim> = (0..n)
        .map(|i| claim(metric, key, &format!("{round}-{i}"), now()))
        .collect();
    let futures = claims.iter().enumerate().map(|(i, c)| {
        let s: &dyn Storage = if i % 2 == 0 { t.storage } else { t.peer };
        s.claim_alert(c)
    });
    let results = futures::future::join_all(futures).await;
    let mut winners = Vec::new();
    for (c, r) in claims.iter().zip(results) {
        if r? {
            winners.push(c.token.clone());
        }
    }
    Ok(winners)
}

/// First claim wins, a second loses; a failed alert can be claimed again; a sent one cannot;
/// a finish with the wrong token changes nothing.
pub async fn storage_claim_alert_lifecycle(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("claim");
    let key = "anomaly:2024-01-01T00:00:00Z";
    ensure!(
        t.storage
            .claim_alert(&claim(&metric, key, "first", now()))
            .await?,
        "the first claim lost"
    );
    ensure!(
        !t.peer
            .claim_alert(&claim(&metric, key, "second", now()))
            .await?,
        "a second claim won while the first is freshly pending"
    );
    t.storage
        .finish_alert(&FinishAlert::new(
            &metric,
            key,
            "intruder",
            outcome(AlertStatus::Sent),
        ))
        .await?;
    ensure_eq!(
        t.storage.last_sent_alert(&metric, None).await?,
        None,
        "last sent alert after a finish with a wrong token"
    );
    t.storage
        .finish_alert(&FinishAlert::new(
            &metric,
            key,
            "first",
            outcome(AlertStatus::Failed),
        ))
        .await?;
    ensure!(
        t.peer
            .claim_alert(&claim(&metric, key, "retry", now()))
            .await?,
        "a failed alert could not be claimed again"
    );
    t.peer
        .finish_alert(&FinishAlert::new(
            &metric,
            key,
            "retry",
            outcome(AlertStatus::Sent),
        ))
        .await?;
    ensure!(
        !t.storage
            .claim_alert(&claim(&metric, key, "late", now()))
            .await?,
        "a sent alert was claimed again"
    );
    let other_key = "anomaly:2024-01-01T00:10:00Z";
    ensure!(
        t.storage
            .claim_alert(&claim(&metric, other_key, "first", now()))
            .await?,
        "a claim of another key of the same metric lost"
    );
    Ok(())
}

/// Among many concurrent claimers on two handles exactly one wins, for a new key and
/// again after that alert failed.
pub async fn storage_claim_alert_one_winner(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("race");
    let key = "anomaly:race";
    for round in ["new", "after-failure"] {
        let winners = race(t, &metric, key, round, 16).await?;
        ensure_eq!(
            winners.len(),
            1,
            "number of winners among 16 claimers ({round} key): {winners:?}"
        );
        t.storage
            .finish_alert(&FinishAlert::new(
                &metric,
                key,
                &winners[0],
                outcome(AlertStatus::Failed),
            ))
            .await?;
    }
    let winners = race(t, &metric, key, "final", 16).await?;
    ensure_eq!(winners.len(), 1, "number of winners in the final round");
    t.peer
        .finish_alert(&FinishAlert::new(
            &metric,
            key,
            &winners[0],
            outcome(AlertStatus::Sent),
        ))
        .await?;
    let after_sent = race(t, &metric, key, "after-sent", 8).await?;
    ensure!(
        after_sent.is_empty(),
        "claims won after the alert was sent: {after_sent:?}"
    );
    Ok(())
}

/// A `pending` claim older than `stale_before` (its owner died) can be taken over, once.
pub async fn storage_claim_alert_stale_pending(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("stale");
    let key = "anomaly:stale";
    ensure!(
        t.storage
            .claim_alert(&claim(&metric, key, "dead", now() - Duration::hours(1)))
            .await?,
        "the first claim lost"
    );
    let winners = race(t, &metric, key, "takeover", 8).await?;
    ensure_eq!(
        winners.len(),
        1,
        "number of winners taking over a stale claim"
    );
    t.storage
        .finish_alert(&FinishAlert::new(
            &metric,
            key,
            "dead",
            outcome(AlertStatus::Sent),
        ))
        .await?;
    ensure_eq!(
        t.storage.last_sent_alert(&metric, None).await?,
        None,
        "last sent alert after the dead owner finished late"
    );
    Ok(())
}

/// `last_sent_alert` returns the newest `sent` alert by timestamp, of one kind or any.
pub async fn storage_last_sent_alert(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("lastsent");
    ensure_eq!(
        t.storage.last_sent_alert(&metric, None).await?,
        None,
        "last sent alert of a new metric"
    );
    let plan = [
        ("a0", AlertKind::Anomaly, 0, Some(AlertStatus::Sent)),
        ("a20", AlertKind::Anomaly, 20, Some(AlertStatus::Sent)),
        ("r10", AlertKind::Recovery, 10, Some(AlertStatus::Sent)),
        ("a30", AlertKind::Anomaly, 30, Some(AlertStatus::Failed)),
        ("a40", AlertKind::Anomaly, 40, None),
    ];
    let mut sent_at = None;
    for (key, kind, minute, status) in plan {
        let mut c = claim(&metric, key, "tok", now());
        c.kind = kind;
        c.timestamp = at(minute);
        ensure!(t.storage.claim_alert(&c).await?, "claim {key} lost");
        if let Some(status) = status {
            let o = outcome(status);
            if key == "a20" {
                sent_at = Some(o.finished_at);
            }
            t.storage
                .finish_alert(&FinishAlert::new(&metric, key, "tok", o))
                .await?;
        }
    }
    let last = t.peer.last_sent_alert(&metric, None).await?;
    let Some(last) = last else {
        return Err(crate::testkit::CheckFailure::new("no last sent alert"));
    };
    ensure_eq!(
        (
            last.metric.as_str(),
            last.key.as_str(),
            last.kind,
            last.timestamp,
            last.status
        ),
        (
            metric.as_str(),
            "a20",
            AlertKind::Anomaly,
            at(20),
            AlertStatus::Sent
        ),
        "newest sent alert"
    );
    ensure_eq!(last.sent_at, sent_at, "sent_at of the newest sent alert");
    ensure_eq!(
        last.detector_ids,
        vec!["a1b2c3d4".to_string(), "e5f6a7b8".to_string()],
        "detector IDs of the newest sent alert"
    );
    let recovery = t
        .storage
        .last_sent_alert(&metric, Some(AlertKind::Recovery))
        .await?;
    ensure_eq!(
        recovery.map(|r| r.key),
        Some("r10".to_string()),
        "newest sent recovery"
    );
    ensure_eq!(
        t.storage
            .last_sent_alert(&metric, Some(AlertKind::Test))
            .await?,
        None,
        "newest sent test alert"
    );
    Ok(())
}

/// A `suppressed` row (an alert a snooze or an ack held back) keeps its reason, is
/// never claimed again (not even as stale), and is neither the last sent alert nor
/// mistaken for one by `load_alerts` and `latest_alert`.
pub async fn storage_suppressed_alert(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("suppressed");
    let key = "anomaly:2024-01-01T00:00:00Z";
    ensure!(
        t.storage
            .claim_alert(&claim(&metric, key, "held", now()))
            .await?,
        "the first claim lost"
    );
    let mut held = AlertOutcome::new(AlertStatus::Suppressed, now(), "Anomaly in metric");
    held.error = Some("snoozed until 2024-01-01 02:00 UTC (reason: deploy)".into());
    t.storage
        .finish_alert(&FinishAlert::new(&metric, key, "held", held))
        .await?;
    let mut late = claim(&metric, key, "late", now());
    late.stale_before = now() + Duration::hours(1);
    ensure!(
        !t.peer.claim_alert(&late).await?,
        "a suppressed alert was claimed again"
    );
    ensure_eq!(
        t.peer.last_sent_alert(&metric, None).await?,
        None,
        "last sent alert when the only alert was suppressed"
    );
    let latest = t.peer.latest_alert(&metric, AlertKind::Anomaly).await?;
    ensure_eq!(
        latest
            .as_ref()
            .map(|r| (r.status, r.sent_at, r.error.clone())),
        Some((
            AlertStatus::Suppressed,
            None,
            Some("snoozed until 2024-01-01 02:00 UTC (reason: deploy)".to_string())
        )),
        "the suppressed row read back"
    );
    let loaded = t
        .storage
        .load_alerts(&crate::traits::LoadAlerts::new(&metric, at(0), at(10)))
        .await?;
    ensure_eq!(
        loaded.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![AlertStatus::Suppressed],
        "load_alerts of the suppressed row"
    );
    Ok(())
}
