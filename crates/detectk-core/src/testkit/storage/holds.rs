//! Checks of the alert holds (`dtk snooze`, `dtk ack`).

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::StorageTarget;
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::{CheckResult, unique_metric};
use crate::traits::{AlertHold, HoldKind};

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// A snooze and an ack round-trip (expiry, reason, none), are visible to the peer,
/// are sorted by kind, replace the metric's hold of the same kind, are removed one kind
/// at a time, and stay with their metric.
pub async fn storage_alert_holds_round_trip(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("holds");
    let other = unique_metric("holds_other");
    let t0 = now();
    let ack = AlertHold::new(metric.as_str(), HoldKind::Ack, t0);
    let snooze = AlertHold::new(metric.as_str(), HoldKind::Snooze, t0)
        .until(t0 + Duration::hours(2))
        .reason(Some("deploy ü".into()));
    t.storage.put_alert_hold(&ack).await?;
    t.storage.put_alert_hold(&snooze).await?;
    ensure_eq!(
        t.peer.load_alert_holds(&metric).await?,
        vec![snooze.clone(), ack.clone()],
        "the peer reads both holds, the snooze first"
    );
    ensure_eq!(
        t.storage.load_alert_holds(&other).await?,
        Vec::<AlertHold>::new(),
        "another metric has no hold"
    );
    let longer = AlertHold::new(metric.as_str(), HoldKind::Snooze, t0 + Duration::minutes(1))
        .until(t0 + Duration::hours(5));
    t.peer.put_alert_hold(&longer).await?;
    ensure_eq!(
        t.storage.load_alert_holds(&metric).await?,
        vec![longer, ack.clone()],
        "setting a snooze again replaces it (reason cleared)"
    );
    ensure!(
        t.storage
            .remove_alert_hold(&metric, HoldKind::Snooze)
            .await?,
        "removing the snooze reports that there was one"
    );
    ensure!(
        !t.peer.remove_alert_hold(&metric, HoldKind::Snooze).await?,
        "removing it again reports none"
    );
    ensure_eq!(
        t.storage.load_alert_holds(&metric).await?,
        vec![ack],
        "the ack stays when the snooze is removed"
    );
    Ok(())
}
