//! Checks of checkpoints and retention.

use chrono::{DateTime, Utc};

use super::StorageTarget;
use crate::model::DataPoint;
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::samples::at;
use crate::testkit::{CheckResult, sample_detection, unique_metric};
use crate::traits::{LoadDatapoints, LoadDetections};

fn far() -> (DateTime<Utc>, DateTime<Utc>) {
    (at(-1_000_000), at(10_000_000))
}

/// Checkpoints are per metric and job; set replaces; clear removes (and may repeat).
pub async fn storage_checkpoints(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("ckpt");
    let other = unique_metric("ckpt_other");
    ensure_eq!(
        t.storage.get_checkpoint(&metric, "backfill").await?,
        None,
        "checkpoint before any set"
    );
    t.storage
        .set_checkpoint(&metric, "backfill", at(10))
        .await?;
    t.storage
        .set_checkpoint(&metric, "backfill", at(70))
        .await?;
    t.storage
        .set_checkpoint(&metric, "other_job", at(5))
        .await?;
    t.storage.set_checkpoint(&other, "backfill", at(1)).await?;
    ensure_eq!(
        t.peer.get_checkpoint(&metric, "backfill").await?,
        Some(at(70)),
        "checkpoint after two sets"
    );
    ensure_eq!(
        t.storage.get_checkpoint(&metric, "other_job").await?,
        Some(at(5)),
        "checkpoint of another job"
    );
    t.storage.clear_checkpoint(&metric, "backfill").await?;
    t.storage.clear_checkpoint(&metric, "backfill").await?;
    ensure_eq!(
        t.storage.get_checkpoint(&metric, "backfill").await?,
        None,
        "checkpoint after clear"
    );
    ensure_eq!(
        t.storage.get_checkpoint(&other, "backfill").await?,
        Some(at(1)),
        "checkpoint of another metric after clear"
    );
    Ok(())
}

/// Retention removes points and detections strictly older than `before`, of that metric only.
pub async fn storage_retention(t: &StorageTarget<'_>) -> CheckResult {
    let metric = unique_metric("retention");
    let other = unique_metric("retention_other");
    let points: Vec<_> = (0..10)
        .map(|i| DataPoint::new(at(i * 10), i as f64))
        .collect();
    let detections: Vec<_> = (0..10)
        .map(|i| sample_detection(&metric, "ret00001", at(i * 10)))
        .collect();
    t.storage.upsert_datapoints(&metric, &points).await?;
    t.storage.upsert_datapoints(&other, &points).await?;
    t.storage.upsert_detections(&detections).await?;
    let removed = t.storage.apply_retention(&metric, at(40)).await?;
    ensure!(
        removed == 0 || removed == 8,
        "apply_retention reported {removed} rows removed; 4 points and 4 detections were older"
    );
    let (from, to) = far();
    let kept = t
        .storage
        .load_datapoints(&LoadDatapoints::new(&metric, from, to))
        .await?;
    ensure_eq!(kept, points[4..].to_vec(), "points kept");
    let kept = t
        .storage
        .load_detections(&LoadDetections::new(&metric, from, to))
        .await?;
    ensure_eq!(kept, detections[4..].to_vec(), "detections kept");
    ensure_eq!(
        t.storage
            .load_datapoints(&LoadDatapoints::new(&other, from, to))
            .await?
            .len(),
        10,
        "points of another metric"
    );
    let again = t.storage.apply_retention(&metric, at(40)).await?;
    ensure_eq!(
        again,
        0,
        "rows removed by a second retention with nothing older"
    );
    // Old detections of a metric whose points are all recent (or gone) still go.
    let lone = unique_metric("retention_lone");
    let old: Vec<_> = (0..3)
        .map(|i| sample_detection(&lone, "ret00002", at(i * 10)))
        .collect();
    t.storage.upsert_detections(&old).await?;
    t.storage.apply_retention(&lone, at(15)).await?;
    ensure_eq!(
        t.storage
            .load_detections(&LoadDetections::new(&lone, from, to))
            .await?,
        old[2..].to_vec(),
        "detections kept of a metric without points"
    );
    Ok(())
}
