//! `dtk_alerts`: claiming an alert, recording its outcome, and the last sent alert.

use chrono::{DateTime, Utc};
use detectk_core::BackendErrorKind;
use detectk_core::traits::{
    AlertClaim, AlertKind, AlertOutcome, AlertRecord, AlertStatus, StorageResult,
};

use super::ClickHouseStorage;
use super::claims::{ALERT_COLUMNS, AlertRow, LOST, claim_won, holder};
use super::versions::{from_datetime_secs, reserve};

const TABLE: &str = "dtk_alerts";

fn parse_kind(text: &str) -> Option<AlertKind> {
    [AlertKind::Anomaly, AlertKind::Recovery, AlertKind::Test]
        .into_iter()
        .find(|k| k.as_str() == text)
}

fn seconds(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp()).unwrap_or(0)
}

impl ClickHouseStorage {
    /// Inserts a claim row, waits for racing claims to land, then replays all claims of
    /// the key (see `claims`). A loser marks its row `lost`.
    pub(super) async fn claim(&self, claim: &AlertClaim) -> StorageResult<bool> {
        let seq = reserve(1);
        let row = AlertRow {
            metric_name: claim.metric.clone(),
            alert_key: claim.key.clone(),
            token: claim.token.clone(),
            kind: claim.kind.as_str().to_string(),
            alert_time: seconds(claim.timestamp),
            status: AlertStatus::Pending.as_str().to_string(),
            detector_ids: claim.detector_ids.clone(),
            claimed_at: seconds(claim.claimed_at),
            claimed_at_us: claim.claimed_at.timestamp_micros(),
            stale_before_us: claim.stale_before.timestamp_micros(),
            claim_seq: seq,
            finished_at_us: None,
            message: String::new(),
            error: None,
            version: seq,
        };
        self.insert_rows(TABLE, std::slice::from_ref(&row)).await?;
        tokio::time::sleep(self.claim_settle).await;
        let rows = self.alert_rows(&claim.metric, &claim.key).await?;
        let won = claim_won(&rows, &claim.token).ok_or_else(|| {
            self.error(
                BackendErrorKind::Other,
                format!(
                    "the claim of alert `{}` of `{}` is not visible after inserting it",
                    claim.key, claim.metric
                ),
            )
        })?;
        if !won {
            // Tidiness only: a losing row never holds the key, marked or not.
            let mut lost = row;
            lost.status = LOST.to_string();
            lost.version = reserve(1);
            if let Err(e) = self.insert_rows(TABLE, &[lost]).await {
                tracing::warn!(metric = %claim.metric, key = %claim.key, error = %e,
                    "could not mark a lost alert claim");
            }
        }
        Ok(won)
    }

    /// Records the outcome on the row of `token`, if that claim still holds the key and
    /// has not been finished yet.
    pub(super) async fn finish(
        &self,
        metric: &str,
        key: &str,
        token: &str,
        outcome: &AlertOutcome,
    ) -> StorageResult<()> {
        let rows = self.alert_rows(metric, key).await?;
        // Only a pending holder is finished, once: the finish time of a row is part of
        // the replay, so changing it later could change earlier verdicts.
        let pending = AlertStatus::Pending.as_str();
        let Some(current) = holder(&rows).filter(|r| r.token == token && r.status == pending)
        else {
            tracing::warn!(
                metric,
                key,
                "alert outcome ignored: the claim no longer holds this alert or is already finished"
            );
            return Ok(());
        };
        let mut row = current.clone();
        row.status = outcome.status.as_str().to_string();
        row.finished_at_us = Some(outcome.finished_at.timestamp_micros());
        row.message = outcome.message.clone();
        row.error = outcome.error.clone();
        row.version = reserve(1);
        self.insert_rows(TABLE, &[row]).await
    }

    /// The newest `sent` alert of `metric` by alert time, optionally of one kind.
    pub(super) async fn newest_sent_alert(
        &self,
        metric: &str,
        kind: Option<AlertKind>,
    ) -> StorageResult<Option<AlertRecord>> {
        // Filter on non-key columns outside FINAL, so old versions cannot match.
        let mut sql = format!(
            "SELECT {ALERT_COLUMNS} FROM (SELECT {ALERT_COLUMNS} FROM {TABLE} FINAL \
             WHERE metric_name = ?) WHERE status = 'sent'"
        );
        if kind.is_some() {
            sql.push_str(" AND kind = ?");
        }
        sql.push_str(" ORDER BY alert_time DESC, finished_at_us DESC LIMIT 1");
        let mut query = self.client().query(&sql).bind(metric);
        if let Some(kind) = kind {
            query = query.bind(kind.as_str());
        }
        let rows: Vec<AlertRow> = self
            .fetch_all(&format!("last sent alert of `{metric}`"), query)
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let kind = parse_kind(&row.kind)
            .ok_or_else(|| self.decode_error(TABLE, format!("unknown kind {:?}", row.kind)))?;
        Ok(Some(AlertRecord {
            metric: row.metric_name,
            key: row.alert_key,
            kind,
            timestamp: from_datetime_secs(row.alert_time),
            status: AlertStatus::Sent,
            sent_at: row.finished_at_us.and_then(DateTime::from_timestamp_micros),
            detector_ids: row.detector_ids,
        }))
    }

    /// Every claim row of one alert key (newest version of each).
    async fn alert_rows(&self, metric: &str, key: &str) -> StorageResult<Vec<AlertRow>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM {TABLE} FINAL WHERE metric_name = ? AND alert_key = ?"
        );
        let query = self.client().query(&sql).bind(metric).bind(key);
        self.fetch_all(
            &format!("read claims of alert `{key}` of `{metric}`"),
            query,
        )
        .await
    }
}
