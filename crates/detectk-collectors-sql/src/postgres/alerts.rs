//! Alert claims of the PostgreSQL storage: the cross-process state behind "send once".

use detectk_core::traits::{
    AlertClaim, AlertKind, AlertLease, AlertOutcome, AlertRecord, AlertStatus, LoadAlerts,
    StorageResult,
};
use serde_json::Value;
use sqlx::Row;

use crate::stored::{alert_kind, alert_status};

impl super::PostgresStorage {
    /// Claims the right to send `claim.key` (see `Storage::claim_alert`).
    pub(super) async fn claim(&self, claim: &AlertClaim) -> StorageResult<bool> {
        let result = sqlx::query(
            "INSERT INTO dtk_alerts (metric_name, alert_key, kind, alert_time, status, token, claimed_at, detector_ids) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) \
             ON CONFLICT (metric_name, alert_key) DO UPDATE SET kind = EXCLUDED.kind, \
             alert_time = EXCLUDED.alert_time, status = 'pending', token = EXCLUDED.token, \
             claimed_at = EXCLUDED.claimed_at, finished_at = NULL, sent_at = NULL, \
             detector_ids = EXCLUDED.detector_ids, message = NULL, error = NULL \
             WHERE dtk_alerts.status = 'failed' OR (dtk_alerts.status = 'pending' \
             AND (dtk_alerts.claimed_at < $8 OR dtk_alerts.token = EXCLUDED.token))",
        )
        .bind(&claim.metric)
        .bind(&claim.key)
        .bind(claim.kind.as_str())
        .bind(claim.timestamp)
        .bind(&claim.token)
        .bind(claim.claimed_at)
        .bind(Value::from(claim.detector_ids.clone()))
        .bind(claim.stale_before)
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("claiming an alert"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Records how a claimed alert ended (see `Storage::finish_alert`).
    pub(super) async fn finish(
        &self,
        metric: &str,
        key: &str,
        token: &str,
        outcome: &AlertOutcome,
    ) -> StorageResult<()> {
        let sent_at = (outcome.status == AlertStatus::Sent).then_some(outcome.finished_at);
        sqlx::query(
            "UPDATE dtk_alerts SET status = $1, finished_at = $2, sent_at = $3, message = $4, error = $5 \
             WHERE metric_name = $6 AND alert_key = $7 AND token = $8",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.finished_at)
        .bind(sent_at)
        .bind(&outcome.message)
        .bind(&outcome.error)
        .bind(metric)
        .bind(key)
        .bind(token)
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("recording an alert outcome"))?;
        Ok(())
    }

    /// The newest sent alert (see `Storage::last_sent_alert`).
    pub(super) async fn last_sent(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        let err = self.handle.err("reading the last sent alert");
        let row = sqlx::query(
            "SELECT alert_key, kind, alert_time, sent_at, detector_ids FROM dtk_alerts \
             WHERE metric_name = $1 AND status = 'sent' AND ($2::text IS NULL OR kind = $2) \
             ORDER BY alert_time DESC, sent_at DESC LIMIT 1",
        )
        .bind(metric)
        .bind(kind.map(AlertKind::as_str))
        .fetch_optional(&mut *self.handle.connect().await?)
        .await
        .map_err(&err)?;
        let Some(row) = row else { return Ok(None) };
        let kind_text: String = row.try_get("kind").map_err(&err)?;
        let ids: Value = row.try_get("detector_ids").map_err(&err)?;
        Ok(Some(AlertRecord::new(
            metric.to_string(),
            row.try_get::<String, _>("alert_key").map_err(&err)?,
            alert_kind(&self.handle.server(), &kind_text)?,
            row.try_get("alert_time").map_err(&err)?,
            AlertStatus::Sent,
            row.try_get("sent_at").map_err(&err)?,
            serde_json::from_value(ids).unwrap_or_default(),
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
             WHERE metric_name = $1 AND kind = $2 ORDER BY alert_time DESC, claimed_at DESC LIMIT 1",
        )
        .bind(metric)
        .bind(kind.as_str())
        .fetch_optional(&mut *self.handle.connect().await?)
        .await
        .map_err(&err)?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status").map_err(&err)?;
        let ids: Value = row.try_get("detector_ids").map_err(&err)?;
        Ok(Some(AlertRecord::new(
            metric.to_string(),
            row.try_get::<String, _>("alert_key").map_err(&err)?,
            kind,
            row.try_get("alert_time").map_err(&err)?,
            alert_status(&self.handle.server(), &status)?,
            row.try_get("sent_at").map_err(&err)?,
            serde_json::from_value(ids).unwrap_or_default(),
        )))
    }

    /// Acquires or renews the alert lease (see `Storage::acquire_alert_lease`).
    pub(super) async fn acquire_lease(&self, lease: &AlertLease) -> StorageResult<bool> {
        let result = sqlx::query(
            "INSERT INTO dtk_alert_leases (metric_name, token, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (metric_name) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at \
             WHERE dtk_alert_leases.token = EXCLUDED.token OR dtk_alert_leases.expires_at <= $4",
        )
        .bind(&lease.metric)
        .bind(&lease.token)
        .bind(lease.expires_at)
        .bind(lease.now)
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(self.handle.err("acquiring the alert lease"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Releases the alert lease (see `Storage::release_alert_lease`).
    pub(super) async fn release_lease(&self, metric: &str, token: &str) -> StorageResult<()> {
        sqlx::query("DELETE FROM dtk_alert_leases WHERE metric_name = $1 AND token = $2")
            .bind(metric)
            .bind(token)
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(self.handle.err("releasing the alert lease"))?;
        Ok(())
    }

    /// Alert rows of a range, any status (see `AlertLedger::load_alerts`).
    pub(super) async fn load_range(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        let err = self.handle.err("loading alerts");
        let rows = sqlx::query(
            "SELECT alert_key, kind, alert_time, status, sent_at, detector_ids FROM dtk_alerts \
             WHERE metric_name = $1 AND alert_time >= $2 AND alert_time < $3 \
             ORDER BY alert_time, alert_key",
        )
        .bind(&op.metric)
        .bind(op.from)
        .bind(op.to)
        .fetch_all(&mut *self.handle.connect().await?)
        .await
        .map_err(&err)?;
        let server = self.handle.server();
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(&err)?;
                let status: String = row.try_get("status").map_err(&err)?;
                let ids: Value = row.try_get("detector_ids").map_err(&err)?;
                Ok(AlertRecord::new(
                    &op.metric,
                    row.try_get::<String, _>("alert_key").map_err(&err)?,
                    alert_kind(&server, &kind)?,
                    row.try_get("alert_time").map_err(&err)?,
                    alert_status(&server, &status)?,
                    row.try_get("sent_at").map_err(&err)?,
                    serde_json::from_value(ids).unwrap_or_default(),
                ))
            })
            .collect()
    }
}
