//! Checks of the per-metric alert lease, of `latest_alert`, and of a retried claim
//! recognising its own token.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::StorageTarget;
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::samples::at;
use crate::testkit::{CheckResult, unique_metric};
use crate::traits::{
    AlertClaim, AlertKind, AlertLease, AlertOutcome, AlertStatus, FinishAlert, Storage,
};

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn lease(metric: &str, token: &str, now: DateTime<Utc>) -> AlertLease {
    AlertLease {
        metric: metric.to_string(),
        token: token.to_string(),
        now,
        expires_at: now + Duration::seconds(30),
    }
}

fn claim(metric: &str, key: &str, token: &str, minute: i64) -> AlertClaim {
    AlertClaim {
        metric: metric.to_string(),
        key: key.to_string(),
        kind: AlertKind::Anomaly,
        timestamp: at(minute),
        token: token.to_string(),
        claimed_at: now(),
        stale_before: now() - Duration::minutes(10),
        detector_ids: vec!["a1b2c3d4".into()],
    }
}

fn outcome(status: AlertStatus) -> AlertOutcome {
    AlertOutcome {
        status,
        finished_at: now(),
        message: "Anomaly in metric".into(),
        error: (status == AlertStatus::Failed).then(|| "HTTP 503".into()),
    }
}

/// One holder at a time: a second token is refused while the lease is live, the
/// holder renews (and a retried acquire succeeds), an expired lease is taken over,
/// and only the holder's release frees it.
pub async fn storage_alert_lease_exclusive(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("lease");
    let t0 = now();
    ensure!(
        t.storage
            .acquire_alert_lease(&lease(&metric, "a", t0))
            .await?,
        "the first acquire of a free lease failed"
    );
    ensure!(
        !t.peer.acquire_alert_lease(&lease(&metric, "b", t0)).await?,
        "a second token acquired a live lease"
    );
    ensure!(
        t.storage
            .acquire_alert_lease(&lease(&metric, "a", t0))
            .await?,
        "a retried acquire by the holder failed"
    );
    let renewed = lease(&metric, "a", t0 + Duration::seconds(20));
    ensure!(
        t.peer.acquire_alert_lease(&renewed).await?,
        "the holder could not renew"
    );
    // 40s after t0 the first lease would have expired, the renewed one (until t0+50s) not.
    ensure!(
        !t.peer
            .acquire_alert_lease(&lease(&metric, "b", t0 + Duration::seconds(40)))
            .await?,
        "a second token acquired a renewed lease"
    );
    ensure!(
        t.peer
            .acquire_alert_lease(&lease(&metric, "b", t0 + Duration::seconds(50)))
            .await?,
        "an expired lease could not be taken over"
    );
    ensure!(
        !t.storage
            .acquire_alert_lease(&lease(&metric, "a", t0 + Duration::seconds(50)))
            .await?,
        "the former holder re-acquired a lease taken over by another"
    );
    t.storage.release_alert_lease(&metric, "a").await?;
    ensure!(
        !t.storage
            .acquire_alert_lease(&lease(&metric, "c", t0 + Duration::seconds(51)))
            .await?,
        "a release by a non-holder freed the lease"
    );
    t.peer.release_alert_lease(&metric, "b").await?;
    ensure!(
        t.storage
            .acquire_alert_lease(&lease(&metric, "c", t0 + Duration::seconds(51)))
            .await?,
        "the lease was not free after its holder released it"
    );
    let other = unique_metric("lease-other");
    ensure!(
        t.peer.acquire_alert_lease(&lease(&other, "b", t0)).await?,
        "the lease of another metric was not independent"
    );
    Ok(())
}

/// Among many concurrent acquirers on two handles exactly one holds the lease, for a
/// free lease and again for an expired one.
pub async fn storage_alert_lease_one_winner(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("lease-race");
    let t0 = now();
    for (round, at_time) in [("free", t0), ("expired", t0 + Duration::minutes(5))] {
        let leases: Vec<AlertLease> = (0..16)
            .map(|i| lease(&metric, &format!("{round}-{i}"), at_time))
            .collect();
        let results = futures::future::join_all(leases.iter().enumerate().map(|(i, l)| {
            let s: &dyn Storage = if i % 2 == 0 { t.storage } else { t.peer };
            s.acquire_alert_lease(l)
        }))
        .await;
        let mut winners = Vec::new();
        for (l, r) in leases.iter().zip(results) {
            if r? {
                winners.push(l.token.clone());
            }
        }
        ensure_eq!(
            winners.len(),
            1,
            "number of lease holders among 16 acquirers ({round} lease): {winners:?}"
        );
    }
    Ok(())
}

/// `latest_alert` is the newest alert row of a kind whatever its status.
pub async fn storage_latest_alert(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("latest");
    ensure_eq!(
        t.storage.latest_alert(&metric, AlertKind::Anomaly).await?,
        None,
        "latest alert of a new metric"
    );
    ensure!(
        t.storage
            .claim_alert(&claim(&metric, "a0", "t0", 0))
            .await?,
        "claim a0 lost"
    );
    t.storage
        .finish_alert(&FinishAlert::new(
            &metric,
            "a0",
            "t0",
            outcome(AlertStatus::Sent),
        ))
        .await?;
    ensure!(
        t.storage
            .claim_alert(&claim(&metric, "a10", "t10", 10))
            .await?,
        "claim a10 lost"
    );
    let latest = t.peer.latest_alert(&metric, AlertKind::Anomaly).await?;
    ensure_eq!(
        latest.map(|a| (a.key, a.timestamp, a.status)),
        Some(("a10".to_string(), at(10), AlertStatus::Pending)),
        "latest anomaly alert while pending"
    );
    t.storage
        .finish_alert(&FinishAlert::new(
            &metric,
            "a10",
            "t10",
            outcome(AlertStatus::Failed),
        ))
        .await?;
    let latest = t.peer.latest_alert(&metric, AlertKind::Anomaly).await?;
    ensure_eq!(
        latest.map(|a| (a.key, a.status)),
        Some(("a10".to_string(), AlertStatus::Failed)),
        "latest anomaly alert after it failed"
    );
    ensure_eq!(
        t.peer.latest_alert(&metric, AlertKind::Recovery).await?,
        None,
        "latest recovery when only anomalies exist"
    );
    Ok(())
}

/// A claim repeated with the same token (a retry whose first attempt succeeded) wins
/// again while pending; another token still loses; once sent, nobody wins.
pub async fn storage_claim_alert_own_token(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("owntoken");
    let c = claim(&metric, "anomaly:own", "mine", 0);
    ensure!(t.storage.claim_alert(&c).await?, "the first claim lost");
    ensure!(
        t.peer.claim_alert(&c).await?,
        "the retried claim did not recognise its own token"
    );
    ensure!(
        !t.peer
            .claim_alert(&claim(&metric, "anomaly:own", "other", 0))
            .await?,
        "another token won a freshly pending claim"
    );
    t.storage
        .finish_alert(&FinishAlert::new(
            &metric,
            "anomaly:own",
            "mine",
            outcome(AlertStatus::Sent),
        ))
        .await?;
    ensure!(
        !t.storage.claim_alert(&c).await?,
        "a sent alert was claimed again by its own token"
    );
    Ok(())
}
