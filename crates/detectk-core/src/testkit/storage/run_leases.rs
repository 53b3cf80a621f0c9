//! Checks of the per-metric run lease (see [`crate::fleet`]): kept by the alert-lease
//! methods under the key [`run_lease_key`], beside, never instead of, the metric's own
//! alert lease.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::StorageTarget;
use crate::fleet::run_lease_key;
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::{CheckResult, unique_metric};
use crate::traits::{AlertLease, AlertLeases};

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

/// Run leases taken in one batch: a key another token holds is not taken (and keeps
/// its holder), free and expired keys are, a renewal by the same token keeps them
/// (and fails for keys taken over meanwhile), single-key calls see the batch's leases,
/// and a batch release frees only the keys its token holds.
pub async fn storage_run_leases_in_batch(t: &StorageTarget<'_>) -> CheckResult {
    let t0 = Utc::now().trunc_subsecs(0);
    let keys: Vec<String> = (0..5)
        .map(|i| run_lease_key(&unique_metric(&format!("batchlease{i}"))))
        .collect();
    // keys[1] is held by another worker; keys[2] was held but expired.
    ensure!(
        t.peer
            .acquire_alert_lease(&lease(&keys[1], "other", t0))
            .await?,
        "the other worker could not take its lease"
    );
    ensure!(
        t.peer
            .acquire_alert_lease(&lease(&keys[2], "dead", t0 - Duration::seconds(60)))
            .await?,
        "the dead worker could not take its lease"
    );
    let batch = |token: &str, now: DateTime<Utc>| {
        AlertLeases::new(keys.clone(), token, now, now + Duration::seconds(30))
    };
    let held = t.storage.acquire_alert_leases(&batch("w1", t0)).await?;
    let mut expected: Vec<&String> = vec![&keys[0], &keys[2], &keys[3], &keys[4]];
    let mut got: Vec<&String> = held.iter().collect();
    got.sort();
    expected.sort();
    ensure_eq!(got, expected, "keys taken by the batch");
    ensure!(
        !t.peer
            .acquire_alert_lease(&lease(&keys[0], "w2", t0))
            .await?,
        "a key taken by the batch was taken again by another token"
    );
    ensure!(
        t.peer
            .acquire_alert_lease(&lease(&keys[0], "w1", t0))
            .await?,
        "a single-key renewal by the batch's token failed"
    );
    // keys[3] expires and is taken over before the batch renews.
    let later = t0 + Duration::seconds(31);
    ensure!(
        t.peer
            .acquire_alert_lease(&lease(&keys[3], "w3", later))
            .await?,
        "an expired batch key could not be taken over"
    );
    let renewed = t
        .storage
        .acquire_alert_leases(&AlertLeases::new(
            vec![keys[0].clone(), keys[3].clone()],
            "w1",
            t0 + Duration::seconds(10),
            t0 + Duration::seconds(40),
        ))
        .await?;
    ensure_eq!(
        renewed.into_iter().collect::<Vec<_>>(),
        vec![keys[0].clone()],
        "the batch renewal keeps its own key and not the one taken over"
    );
    t.storage.release_alert_leases(&keys, "w1").await?;
    ensure!(
        t.peer
            .acquire_alert_lease(&lease(&keys[0], "w4", t0 + Duration::seconds(11)))
            .await?,
        "a key released by the batch stayed held"
    );
    ensure!(
        !t.peer
            .acquire_alert_lease(&lease(&keys[1], "w4", t0 + Duration::seconds(11)))
            .await?,
        "the batch release freed a key another token holds"
    );
    ensure!(
        !t.peer
            .acquire_alert_lease(&lease(&keys[3], "w4", t0 + Duration::seconds(32)))
            .await?,
        "the batch release freed a key taken over by another token"
    );
    ensure_eq!(
        t.storage
            .acquire_alert_leases(&AlertLeases::new(Vec::new(), "w1", t0, t0))
            .await?
            .len(),
        0,
        "a batch of no keys"
    );
    Ok(())
}
