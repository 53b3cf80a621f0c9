//! Checks of the per-metric run lease (see [`crate::fleet`]): kept by the alert-lease
//! methods under the key [`run_lease_key`], beside, never instead of, the metric's own
//! alert lease.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::StorageTarget;
use crate::fleet::run_lease_key;
use crate::testkit::report::ensure;
use crate::testkit::{CheckResult, unique_metric};
use crate::traits::AlertLease;

fn lease(key: &str, token: &str, now: DateTime<Utc>) -> AlertLease {
    AlertLease::new(key, token, now, now + Duration::seconds(30))
}

/// A metric's run lease and alert lease are held independently; the run lease has one
/// holder at a time across connections, expires, and is freed by its holder's release.
/// A long metric name's key fits the storage.
pub async fn storage_run_lease_beside_alert_lease(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("runlease");
    let run = run_lease_key(&metric);
    let t0 = Utc::now().trunc_subsecs(0);
    ensure!(
        t.storage
            .acquire_alert_lease(&lease(&metric, "alert", t0))
            .await?,
        "the alert lease of a fresh metric could not be taken"
    );
    ensure!(
        t.storage
            .acquire_alert_lease(&lease(&run, "w1", t0))
            .await?,
        "the run lease could not be taken while the metric's alert lease was held"
    );
    ensure!(
        !t.peer.acquire_alert_lease(&lease(&run, "w2", t0)).await?,
        "a second worker took a live run lease"
    );
    ensure!(
        t.peer
            .acquire_alert_lease(&lease(&run, "w2", t0 + Duration::seconds(31)))
            .await?,
        "an expired run lease (a dead worker's) could not be taken over"
    );
    t.peer.release_alert_lease(&run, "w2").await?;
    ensure!(
        t.storage
            .acquire_alert_lease(&lease(&run, "w3", t0 + Duration::seconds(32)))
            .await?,
        "the run lease was not free after its holder released it"
    );
    ensure!(
        !t.peer
            .acquire_alert_lease(&lease(&metric, "other", t0 + Duration::seconds(1)))
            .await?,
        "releasing the run lease freed the metric's alert lease"
    );
    t.storage.release_alert_lease(&run, "w3").await?;
    t.storage.release_alert_lease(&metric, "alert").await?;
    // The longest metric name a config allows still has a run-lease key that fits.
    let long = format!("{metric}{}", "x".repeat(255 - metric.len()));
    let long_key = run_lease_key(&long);
    ensure!(
        t.storage
            .acquire_alert_lease(&lease(&long_key, "w1", t0))
            .await?,
        "the run lease of a 255-byte metric name could not be taken"
    );
    t.storage.release_alert_lease(&long_key, "w1").await?;
    Ok(())
}
