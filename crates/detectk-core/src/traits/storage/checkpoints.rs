//! Named progress markers (`dtk_checkpoints`) and the per-metric alert lease
//! (`dtk_alert_leases`).

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AlertLease, AlertLeases, StorageResult};

/// Named progress markers and the per-metric alert lease.
#[async_trait]
pub trait CheckpointStore: Send + Sync + std::fmt::Debug {
    /// A named progress marker of `metric` (e.g. job `backfill`), if set.
    async fn get_checkpoint(&self, metric: &str, job: &str)
    -> StorageResult<Option<DateTime<Utc>>>;

    /// Sets (replaces) a named progress marker.
    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()>;

    /// Removes a named progress marker.
    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()>;

    /// Acquires (or renews) the per-metric alert lease for `lease.token`, atomically.
    ///
    /// Succeeds, and sets the lease to `lease.token` until `lease.expires_at`, when no
    /// lease exists for the metric, when the existing one has expired
    /// (`expires_at <= lease.now`), or when it is already held by `lease.token` (so a
    /// renewal, or a retried acquire whose first attempt succeeded, succeeds).
    /// Returns `false`, changing nothing, when another token holds an unexpired lease.
    /// Exactly one of any number of racing callers wins. Table `dtk_alert_leases`.
    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool>;

    /// Releases the lease of `metric` if `token` holds it (otherwise does nothing).
    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()>;

    /// Acquires (or renews) the lease of every key of `leases` for `leases.token`,
    /// each exactly as [`CheckpointStore::acquire_alert_lease`] would; returns the keys
    /// the token holds afterwards. Storages that can do it in one statement or
    /// transaction override this (the default asks key by key).
    async fn acquire_alert_leases(&self, leases: &AlertLeases) -> StorageResult<HashSet<String>> {
        let mut held = HashSet::with_capacity(leases.keys.len());
        for key in &leases.keys {
            let lease = AlertLease::new(
                key.clone(),
                leases.token.clone(),
                leases.now,
                leases.expires_at,
            );
            if self.acquire_alert_lease(&lease).await? {
                held.insert(key.clone());
            }
        }
        Ok(held)
    }

    /// Releases the lease of each of `keys` that `token` holds (others are left alone).
    async fn release_alert_leases(&self, keys: &[String], token: &str) -> StorageResult<()> {
        for key in keys {
            self.release_alert_lease(key, token).await?;
        }
        Ok(())
    }
}
