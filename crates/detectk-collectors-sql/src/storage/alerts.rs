//! The alert ledger (`dtk_alerts`): the cross-process state behind "send once".

use detectk_core::async_trait;
use detectk_core::traits::{
    AlertClaim, AlertHold, AlertKind, AlertLedger, AlertRecord, AlertStatus, FinishAlert, HoldKind,
    LoadAlerts, StorageResult,
};

use super::db::SqlDb;
use super::dialect::RowOf;
use super::{Dialect, SqlStorage, Stmt, retry_transient};
use crate::records::ids_text;
use crate::stored::{alert_kind, alert_status};

/// A new claim's row; the values are bound by [`claim_values`].
const INSERT_CLAIM: &str = "INSERT INTO dtk_alerts (metric_name, alert_key, kind, alert_time, \
     status, token, claimed_at, detector_ids) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)";

/// Turns [`INSERT_CLAIM`] into a take-over of a failed or stale row (its `claimed_at`
/// before the last parameter), or of the claimant's own pending row.
const TAKE_OVER: &str = "ON CONFLICT (metric_name, alert_key) DO UPDATE SET \
     kind = excluded.kind, alert_time = excluded.alert_time, status = 'pending', \
     token = excluded.token, claimed_at = excluded.claimed_at, finished_at = NULL, \
     sent_at = NULL, detector_ids = excluded.detector_ids, message = NULL, error = NULL \
     WHERE dtk_alerts.status = 'failed' OR (dtk_alerts.status = 'pending' \
     AND (dtk_alerts.claimed_at < ? OR dtk_alerts.token = excluded.token))";

/// The columns an alert row is read from.
const ALERT_COLUMNS: &str = "alert_key, kind, status, alert_time, sent_at, detector_ids, error";

#[async_trait]
impl<D: Dialect> AlertLedger for SqlStorage<D> {
    /// One conditional upsert, or where the dialect has none, an insert or a guarded
    /// update (retried on a deadlock, which rolls the statement back).
    async fn claim_alert(&self, claim: &AlertClaim) -> StorageResult<bool> {
        let err = self.err("claiming an alert");
        if !D::CONDITIONAL_UPSERT {
            return retry_transient::<D, _, _>(|| self.try_claim(claim))
                .await
                .map_err(err);
        }
        let sql = format!("{INSERT_CLAIM} {TAKE_OVER}");
        let changed = claim_values::<D>(&sql, claim)
            .time(claim.stale_before)
            .execute(&mut *self.handle.connect().await?)
            .await
            .map_err(err)?;
        Ok(changed == 1)
    }

    async fn finish_alert(&self, op: &FinishAlert) -> StorageResult<()> {
        let outcome = &op.outcome;
        let sent_at = (outcome.status == AlertStatus::Sent).then_some(outcome.finished_at);
        Stmt::<D>::new(
            "UPDATE dtk_alerts SET status = ?, finished_at = ?, sent_at = ?, message = ?, error = ? \
             WHERE metric_name = ? AND alert_key = ? AND token = ?",
        )
        .text(outcome.status.as_str())
        .time(outcome.finished_at)
        .opt_time(sent_at)
        .text(&outcome.message)
        .opt_text(outcome.error.as_deref())
        .text(&op.metric)
        .text(&op.key)
        .text(&op.token)
        .execute(&mut *self.handle.connect().await?)
        .await
        .map_err(self.err("recording an alert outcome"))?;
        Ok(())
    }

    async fn last_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        let what = "reading the last sent alert";
        let kind = kind.map(AlertKind::as_str);
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM dtk_alerts WHERE metric_name = ? AND status = 'sent' \
             AND (? IS NULL OR kind = ?) ORDER BY alert_time DESC, sent_at DESC LIMIT 1"
        );
        let row = Stmt::<D>::new(&sql)
            .text(metric)
            .opt_text(kind)
            .opt_text(kind)
            .fetch_first(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err(what))?;
        row.map(|row| self.alert(metric, &row, what)).transpose()
    }

    async fn latest_alert(
        &self,
        metric: &str,
        kind: AlertKind,
    ) -> StorageResult<Option<AlertRecord>> {
        let what = "reading the latest alert";
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM dtk_alerts WHERE metric_name = ? AND kind = ? \
             ORDER BY alert_time DESC, claimed_at DESC LIMIT 1"
        );
        let row = Stmt::<D>::new(&sql)
            .text(metric)
            .text(kind.as_str())
            .fetch_first(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err(what))?;
        row.map(|row| self.alert(metric, &row, what)).transpose()
    }

    /// Sorted here, so keys are in byte order on every server, whatever its collation.
    async fn load_alerts(&self, op: &LoadAlerts) -> StorageResult<Vec<AlertRecord>> {
        let metric = op.metric.as_str();
        let what = "loading alerts";
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM dtk_alerts WHERE metric_name = ? \
             AND alert_time >= ? AND alert_time < ?"
        );
        let rows = Stmt::<D>::new(&sql)
            .text(metric)
            .time(op.from)
            .time(op.to)
            .fetch(&mut *self.handle.connect().await?)
            .await
            .map_err(self.err(what))?;
        let mut alerts = rows
            .iter()
            .map(|row| self.alert(metric, row, what))
            .collect::<StorageResult<Vec<_>>>()?;
        alerts.sort_by(|a, b| (a.timestamp, &a.key).cmp(&(b.timestamp, &b.key)));
        Ok(alerts)
    }

    async fn put_alert_hold(&self, hold: &AlertHold) -> StorageResult<()> {
        self.put_hold(hold).await
    }

    async fn remove_alert_hold(&self, metric: &str, kind: HoldKind) -> StorageResult<bool> {
        self.remove_hold(metric, kind).await
    }

    async fn load_alert_holds(&self, metric: &str) -> StorageResult<Vec<AlertHold>> {
        self.load_holds(metric).await
    }
}

impl<D: Dialect> SqlStorage<D> {
    /// One claim attempt without a conditional upsert: insert the row (only one
    /// inserter wins), else take over a failed or stale row with a guarded update
    /// (only one updater matches), else recognise a retried claim's own row.
    async fn try_claim(&self, claim: &AlertClaim) -> Result<bool, sqlx::Error> {
        let mut conn = self.handle.acquire().await?;
        match claim_values::<D>(INSERT_CLAIM, claim)
            .execute(&mut *conn)
            .await
        {
            Ok(_) => return Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
        let updated = Stmt::<D>::new(
            "UPDATE dtk_alerts SET kind = ?, alert_time = ?, status = 'pending', token = ?, \
             claimed_at = ?, finished_at = NULL, sent_at = NULL, detector_ids = ?, message = NULL, \
             error = NULL WHERE metric_name = ? AND alert_key = ? \
             AND (status = 'failed' OR (status = 'pending' AND claimed_at < ?))",
        )
        .text(claim.kind.as_str())
        .time(claim.timestamp)
        .text(&claim.token)
        .time(claim.claimed_at)
        .json(Some(ids_text(&claim.detector_ids)))
        .text(&claim.metric)
        .text(&claim.key)
        .time(claim.stale_before)
        .execute(&mut *conn)
        .await?;
        if updated == 1 {
            return Ok(true);
        }
        let mine = Stmt::<D>::new(
            "SELECT alert_key FROM dtk_alerts WHERE metric_name = ? AND alert_key = ? \
             AND status = 'pending' AND token = ?",
        )
        .text(&claim.metric)
        .text(&claim.key)
        .text(&claim.token)
        .fetch_first(&mut *conn)
        .await?;
        Ok(mine.is_some())
    }

    /// An alert row of `metric` as a record.
    fn alert(
        &self,
        metric: &str,
        row: &RowOf<D>,
        what: &'static str,
    ) -> StorageResult<AlertRecord> {
        let err = self.err(what);
        let server = self.handle.server();
        let text = |c: &str| {
            D::DB::text(row, c)
                .map_err(&err)
                .map(Option::unwrap_or_default)
        };
        let ids = D::json(row, "detector_ids").map_err(&err)?;
        Ok(AlertRecord::new(
            metric,
            text("alert_key")?,
            alert_kind(&server, &text("kind")?)?,
            self.required_time(D::time(row, "alert_time"), "alert_time")?,
            alert_status(&server, &text("status")?)?,
            D::time(row, "sent_at").map_err(&err)?,
            ids.and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
        )
        .with_error(D::DB::text(row, "error").map_err(&err)?))
    }
}

/// [`INSERT_CLAIM`] with the values of `claim` bound.
fn claim_values<'t, D: Dialect>(sql: &'t str, claim: &AlertClaim) -> Stmt<'t, D> {
    Stmt::new(sql)
        .text(&claim.metric)
        .text(&claim.key)
        .text(claim.kind.as_str())
        .time(claim.timestamp)
        .text(&claim.token)
        .time(claim.claimed_at)
        .json(Some(ids_text(&claim.detector_ids)))
}
