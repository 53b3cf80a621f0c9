//! Alert claims of the MySQL/MariaDB storage: the cross-process state behind "send once".

use chrono::NaiveDateTime;
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertOutcome, AlertRecord, AlertStatus, LoadAlerts,
    StorageResult,
};
use sqlx::Row;

use super::storage::{json_text, naive, utc};
use crate::Driver;
use crate::error::is_transient;
use crate::records::{ids_text, parse_ids};
use crate::stored::{alert_kind, alert_status};

impl super::MysqlStorage {
    /// One claim attempt: insert the row (only one inserter wins), else take over a
    /// failed or stale row with a guarded update (only one updater matches).
    async fn try_claim(&self, claim: &AlertClaim) -> Result<bool, sqlx::Error> {
        let mut conn = self.handle.acquire().await?;
        let inserted = sqlx::query(
            "INSERT INTO dtk_alerts (metric_name, alert_key, kind, alert_time, status, token, claimed_at, detector_ids) \
             VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
        )
        .bind(&claim.metric)
        .bind(&claim.key)
        .bind(claim.kind.as_str())
        .bind(naive(claim.timestamp))
        .bind(&claim.token)
        .bind(naive(claim.claimed_at))
        .bind(ids_text(&claim.detector_ids))
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => return Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
        let updated = sqlx::query(
            "UPDATE dtk_alerts SET kind = ?, alert_time = ?, status = 'pending', token = ?, \
             claimed_at = ?, finished_at = NULL, sent_at = NULL, detector_ids = ?, message = NULL, error = NULL \
             WHERE metric_name = ? AND alert_key = ? \
             AND (status = 'failed' OR (status = 'pending' AND claimed_at < ?))",
        )
        .bind(claim.kind.as_str())
        .bind(naive(claim.timestamp))
        .bind(&claim.token)
        .bind(naive(claim.claimed_at))
        .bind(ids_text(&claim.detector_ids))
        .bind(&claim.metric)
        .bind(&claim.key)
        .bind(naive(claim.stale_before))
        .execute(&mut *conn)
        .await?;
        if updated.rows_affected() == 1 {
            return Ok(true);
        }
        // A retried claim whose first attempt succeeded finds its own pending row.
        let mine: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM dtk_alerts WHERE metric_name = ? AND alert_key = ? \
             AND status = 'pending' AND token = ?",
        )
        .bind(&claim.metric)
        .bind(&claim.key)
        .bind(&claim.token)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(mine.is_some())
    }

    /// Claims the right to send `claim.key` (see `Storage::claim_alert`).
    pub(super) async fn claim(&self, claim: &AlertClaim) -> StorageResult<bool> {
        let err = self.handle.err("claiming an alert");
        let mut attempts = 0;
        loop {
            match self.try_claim(claim).await {
                Ok(won) => return Ok(won),
                // A deadlock rolls the statement back; the claim is safe to try again.
                Err(e @ sqlx::Error::Database(_))
                    if attempts < 3 && is_transient(Driver::Mysql, &e) =>
                {
                    attempts += 1
                }
                Err(e) => return Err(err(e)),
            }
        }
    }

    /// Records how a claimed alert ended (see `Storage::finish_alert`).
    pub(super) async fn finish(
        &self,
        metric: &str,
        key: &str,
        token: &str,
        outcome: &AlertOutcome,
    ) -> StorageResult<()> {
        let err = self.handle.err("recording an alert outcome");
        let sent_at = (outcome.status == AlertStatus::Sent).then(|| naive(outcome.finished_at));
        sqlx::query(
            "UPDATE dtk_alerts SET status = ?, finished_at = ?, sent_at = ?, message = ?, error = ? \
             WHERE metric_name = ? AND alert_key = ? AND token = ?",
        )
        .bind(outcome.status.as_str())
        .bind(naive(outcome.finished_at))
        .bind(sent_at)
        .bind(&outcome.message)
        .bind(&outcome.error)
        .bind(metric)
        .bind(key)
        .bind(token)
        .execute(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        Ok(())
    }

    /// The newest sent alert (see `Storage::last_sent_alert`).
    pub(super) async fn last_sent(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        let err = self.handle.err("reading the last sent alert");
        let kind_filter = kind.map(AlertKind::as_str);
        let row = sqlx::query(
            "SELECT alert_key, kind, alert_time, sent_at, detector_ids FROM dtk_alerts \
             WHERE metric_name = ? AND status = 'sent' AND (? IS NULL OR kind = ?) \
             ORDER BY alert_time DESC, sent_at DESC LIMIT 1",
        )
        .bind(metric)
        .bind(kind_filter)
        .bind(kind_filter)
        .fetch_optional(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        let Some(row) = row else { return Ok(None) };
        let kind_text: String = row.try_get("kind").map_err(&err)?;
        let ids = json_text(&row, "detector_ids").map_err(&err)?;
        let sent_at: Option<NaiveDateTime> = row.try_get("sent_at").map_err(&err)?;
        Ok(Some(AlertRecord::new(
            metric.to_string(),
            row.try_get::<String, _>("alert_key").map_err(&err)?,
            alert_kind(&self.handle.server(), &kind_text)?,
            utc(row.try_get("alert_time").map_err(&err)?),
            AlertStatus::Sent,
            sent_at.map(utc),
            ids.as_deref().map(parse_ids).unwrap_or_default(),
        )))
    }

    /// The newest alert of a kind, any status (see `Storage::latest_alert`).
    pub(super) async fn latest(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        let err = self.handle.err("reading the latest alert");
        let row = sqlx::query(
            "SELECT alert_key, status, alert_time, sent_at, detector_ids FROM dtk_alerts \
             WHERE metric_name = ? AND kind = ? ORDER BY alert_time DESC, claimed_at DESC LIMIT 1",
        )
        .bind(metric)
        .bind(kind.as_str())
        .fetch_optional(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status").map_err(&err)?;
        let ids = json_text(&row, "detector_ids").map_err(&err)?;
        let sent_at: Option<NaiveDateTime> = row.try_get("sent_at").map_err(&err)?;
        Ok(Some(AlertRecord::new(
            metric.to_string(),
            row.try_get::<String, _>("alert_key").map_err(&err)?,
            kind,
            utc(row.try_get("alert_time").map_err(&err)?),
            alert_status(&self.handle.server(), &status)?,
            sent_at.map(utc),
            ids.as_deref().map(parse_ids).unwrap_or_default(),
        )))
    }

    /// One lease attempt: insert the row (only one inserter wins), else take it over
    /// with a guarded update, then check who holds it (MySQL counts only changed rows).
    async fn try_lease(&self, lease: &AlertLease) -> Result<bool, sqlx::Error> {
        let mut conn = self.handle.acquire().await?;
        let inserted = sqlx::query(
            "INSERT INTO dtk_alert_leases (metric_name, token, expires_at) VALUES (?, ?, ?)",
        )
        .bind(&lease.metric)
        .bind(&lease.token)
        .bind(naive(lease.expires_at))
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => return Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
        let updated = sqlx::query(
            "UPDATE dtk_alert_leases SET token = ?, expires_at = ? \
             WHERE metric_name = ? AND (token = ? OR expires_at <= ?)",
        )
        .bind(&lease.token)
        .bind(naive(lease.expires_at))
        .bind(&lease.metric)
        .bind(&lease.token)
        .bind(naive(lease.now))
        .execute(&mut *conn)
        .await?;
        if updated.rows_affected() == 1 {
            return Ok(true);
        }
        let holder: Option<String> =
            sqlx::query_scalar("SELECT token FROM dtk_alert_leases WHERE metric_name = ?")
                .bind(&lease.metric)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(holder.as_deref() == Some(lease.token.as_str()))
    }

    /// Acquires or renews the alert lease (see `Storage::acquire_alert_lease`).
    pub(super) async fn acquire_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        let err = self.handle.err("acquiring the alert lease");
        let mut attempts = 0;
        loop {
            match self.try_lease(lease).await {
                Ok(won) => return Ok(won),
                // A deadlock rolls the statement back; the attempt is safe to repeat.
                Err(e @ sqlx::Error::Database(_))
                    if attempts < 3 && is_transient(Driver::Mysql, &e) =>
                {
                    attempts += 1
                }
                Err(e) => return Err(err(e)),
            }
        }
    }

    /// Releases the alert lease (see `Storage::release_alert_lease`).
    pub(super) async fn release_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        let err = self.handle.err("releasing the alert lease");
        sqlx::query("DELETE FROM dtk_alert_leases WHERE metric_name = ? AND token = ?")
            .bind(metric)
            .bind(token)
            .execute(&mut *self.handle.acquire().await.map_err(&err)?)
            .await
            .map_err(&err)?;
        Ok(())
    }

    /// Alert rows of a range, any status (see `AlertLedger::load_alerts`).
    pub(super) async fn load_range(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        let err = self.handle.err("loading alerts");
        let rows = sqlx::query(
            "SELECT alert_key, kind, alert_time, status, sent_at, detector_ids FROM dtk_alerts \
             WHERE metric_name = ? AND alert_time >= ? AND alert_time < ? \
             ORDER BY alert_time, alert_key",
        )
        .bind(&op.metric)
        .bind(naive(op.from))
        .bind(naive(op.to))
        .fetch_all(&mut *self.handle.acquire().await.map_err(&err)?)
        .await
        .map_err(&err)?;
        let server = self.handle.server();
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(&err)?;
                let status: String = row.try_get("status").map_err(&err)?;
                let ids = json_text(row, "detector_ids").map_err(&err)?;
                let sent_at: Option<NaiveDateTime> = row.try_get("sent_at").map_err(&err)?;
                Ok(AlertRecord::new(
                    &op.metric,
                    row.try_get::<String, _>("alert_key").map_err(&err)?,
                    alert_kind(&server, &kind)?,
                    utc(row.try_get("alert_time").map_err(&err)?),
                    alert_status(&server, &status)?,
                    sent_at.map(utc),
                    ids.as_deref().map(parse_ids).unwrap_or_default(),
                ))
            })
            .collect()
    }
}
