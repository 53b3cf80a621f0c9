//! Named progress markers (`dtk_checkpoints`) and the per-metric alert lease
//! (`dtk_alert_leases`): the checkpoint part of the storage.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use detectk_core::async_trait;
use detectk_core::traits::{AlertLease, AlertLeases, CheckpointStore, StorageResult};

use super::db::SqlDb;
use super::series::KEYS_PER_QUERY;
use super::{Dialect, SqlStorage, Stmt, retry_transient};

#[async_trait]
impl<D: Dialect> CheckpointStore for SqlStorage<D> {
    async fn get_checkpoint(
        &self,
        metric: &str,
        job: &str,
    ) -> StorageResult<Option<DateTime<Utc>>> {
        let err = self.err("reading a checkpoint");
        let row = Stmt::<D>::new(
            "SELECT position FROM dtk_checkpoints WHERE metric_name = ? AND job = ?",
        )
        .text(metric)
        .text(job)
        .fetch_first(&mut *self.handle.connect().await?)
        .await
        .map_err(&err)?;
        row.map(|row| self.required_time(D::time(&row, "position"), "position"))
            .transpose()
    }

    async fn set_checkpoint(
        &self,
        metric: &str,
        job: &str,
        position: DateTime<Utc>,
    ) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO dtk_checkpoints (metric_name, job, position, updated_at) VALUES (?, ?, ?, ?) {}",
            D::upsert("metric_name, job", "position, updated_at")
        );
        Stmt::<D>::new(&sql)
            .text(metric)
            .text(job)
            .time(position)
            .now(Utc::now())
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err("writing a checkpoint"))?;
        Ok(())
    }

    async fn clear_checkpoint(&self, metric: &str, job: &str) -> StorageResult<()> {
        Stmt::<D>::new("DELETE FROM dtk_checkpoints WHERE metric_name = ? AND job = ?")
            .text(metric)
            .text(job)
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err("clearing a checkpoint"))?;
        Ok(())
    }

    /// One conditional upsert, or where the dialect has none, an insert or a guarded
    /// update (retried on a deadlock, which rolls the statement back).
    async fn acquire_alert_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        let err = self.err("acquiring the alert lease");
        if !D::CONDITIONAL_UPSERT {
            return retry_transient::<D, _, _>(|| self.try_lease(lease))
                .await
                .map_err(err);
        }
        let changed = Stmt::<D>::new(
            "INSERT INTO dtk_alert_leases (metric_name, token, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (metric_name) DO UPDATE SET token = excluded.token, \
             expires_at = excluded.expires_at WHERE dtk_alert_leases.token = excluded.token \
             OR dtk_alert_leases.expires_at <= ?",
        )
        .text(&lease.metric)
        .text(&lease.token)
        .time(lease.expires_at)
        .time(lease.now)
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(err)?;
        Ok(changed == 1)
    }

    /// With a conditional upsert: one multi-row upsert per [`KEYS_PER_QUERY`] keys,
    /// whose `RETURNING` names the keys taken or renewed (a row the `WHERE` refuses is
    /// neither changed nor returned). Without one (MySQL): key by key.
    async fn acquire_alert_leases(&self, leases: &AlertLeases) -> StorageResult<HashSet<String>> {
        let err = self.err("acquiring run leases");
        let mut held = HashSet::with_capacity(leases.keys.len());
        if !D::CONDITIONAL_UPSERT {
            for key in &leases.keys {
                let lease = AlertLease::new(
                    key.clone(),
                    leases.token.clone(),
                    leases.now,
                    leases.expires_at,
                );
                if retry_transient::<D, _, _>(|| self.try_lease(&lease))
                    .await
                    .map_err(&err)?
                {
                    held.insert(key.clone());
                }
            }
            return Ok(held);
        }
        let mut conn = self.handle.connect().await?;
        for chunk in leases.keys.chunks(KEYS_PER_QUERY) {
            let sql = format!(
                "INSERT INTO dtk_alert_leases (metric_name, token, expires_at) VALUES {} \
                 ON CONFLICT (metric_name) DO UPDATE SET token = excluded.token, \
                 expires_at = excluded.expires_at WHERE dtk_alert_leases.token = excluded.token \
                 OR dtk_alert_leases.expires_at <= ? RETURNING metric_name",
                vec!["(?, ?, ?)"; chunk.len()].join(", ")
            );
            let mut stmt = Stmt::<D>::new(&sql);
            for key in chunk {
                stmt = stmt.text(key).text(&leases.token).time(leases.expires_at);
            }
            let rows = stmt
                .time(leases.now)
                .fetch(&mut *conn)
                .await
                .map_err(&err)?;
            for row in &rows {
                if let Some(key) = D::DB::text(row, "metric_name").map_err(&err)? {
                    held.insert(key);
                }
            }
        }
        Ok(held)
    }

    /// One `DELETE` per [`KEYS_PER_QUERY`] keys.
    async fn release_alert_leases(&self, keys: &[String], token: &str) -> StorageResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let err = self.err("releasing run leases");
        let mut conn = self.handle.connect().await?;
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let sql = format!(
                "DELETE FROM dtk_alert_leases WHERE token = ? AND metric_name IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut stmt = Stmt::<D>::new(&sql).text(token);
            for key in chunk {
                stmt = stmt.text(key);
            }
            stmt.execute(&mut *conn).await.map_err(&err)?;
        }
        Ok(())
    }

    async fn release_alert_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        Stmt::<D>::new("DELETE FROM dtk_alert_leases WHERE metric_name = ? AND token = ?")
            .text(metric)
            .text(token)
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err("releasing the alert lease"))?;
        Ok(())
    }
}

impl<D: Dialect> SqlStorage<D> {
    /// One lease attempt without a conditional upsert: insert the row (only one
    /// inserter wins), else take it over with a guarded update, then check who holds
    /// it (MySQL counts only rows whose values changed).
    async fn try_lease(&self, lease: &AlertLease) -> Result<bool, sqlx::Error> {
        let mut conn = self.handle.acquire().await?;
        let inserted = Stmt::<D>::new(
            "INSERT INTO dtk_alert_leases (metric_name, token, expires_at) VALUES (?, ?, ?)",
        )
        .text(&lease.metric)
        .text(&lease.token)
        .time(lease.expires_at)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => return Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
        let updated = Stmt::<D>::new(
            "UPDATE dtk_alert_leases SET token = ?, expires_at = ? \
             WHERE metric_name = ? AND (token = ? OR expires_at <= ?)",
        )
        .text(&lease.token)
        .time(lease.expires_at)
        .text(&lease.metric)
        .text(&lease.token)
        .time(lease.now)
        .execute(&mut *conn)
        .await?;
        if updated == 1 {
            return Ok(true);
        }
        let holder = Stmt::<D>::new("SELECT token FROM dtk_alert_leases WHERE metric_name = ?")
            .text(&lease.metric)
            .fetch_first(&mut *conn)
            .await?;
        let holder = holder.map(|row| D::DB::text(&row, "token")).transpose()?;
        Ok(holder.flatten().as_deref() == Some(lease.token.as_str()))
    }
}
