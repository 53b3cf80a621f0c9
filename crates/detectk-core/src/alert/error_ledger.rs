//! The cross-host half of `on_error`: a metric's error incident in its alert ledger,
//! under the state key `<metric>#on_error`, decided on and claimed under that key's
//! alert lease, so runs on different hosts announce an incident (and its recovery)
//! once. Used when the metric's storage answers; when it does not (the storage is the
//! database that is down), the caller decides by its local state file alone.

use chrono::{DateTime, Utc};

use crate::alert::lease::{HeldLease, unique_token};
use crate::alert::process::alert_key;
use crate::error::{AlertError, Error};
use crate::traits::{AlertClaim, AlertKind, AlertOutcome, AlertStatus, FinishAlert, Storage};

/// A claimed announcement, with the lease held.
pub(crate) struct Claimed<'a> {
    pub(crate) lease: HeldLease<'a>,
    storage: &'a dyn Storage,
    state_key: &'a str,
    key: String,
    token: String,
}

/// Under the lease of `state_key`: whether the error incident is open, and a claim of
/// the announcement of `kind` (opening for an anomaly, closing for a recovery) when
/// that changes it; `None` when there is nothing to announce because another run did
/// (the incident is already open, or already closed). An error means the storage did
/// not answer.
pub(crate) async fn gate<'a>(
    storage: &'a dyn Storage,
    state_key: &'a str,
    kind: AlertKind,
    now: DateTime<Utc>,
) -> Result<Option<Claimed<'a>>, Error> {
    let lease = HeldLease::acquire(storage, state_key).await?;
    match claim(storage, state_key, kind, now).await {
        Ok(Some((key, token))) => Ok(Some(Claimed {
            lease,
            storage,
            state_key,
            key,
            token,
        })),
        Ok(None) => {
            lease.release().await;
            Ok(None)
        }
        Err(e) => {
            lease.release().await;
            Err(e)
        }
    }
}

async fn claim(
    storage: &dyn Storage,
    state_key: &str,
    kind: AlertKind,
    now: DateTime<Utc>,
) -> Result<Option<(String, String)>, Error> {
    let err = |source| Error::Storage {
        metric: state_key.to_string(),
        source: Box::new(source),
    };
    let last = |k| storage.last_sent_alert(state_key, Some(k));
    let opened = last(AlertKind::Anomaly).await.map_err(err)?;
    let closed = last(AlertKind::Recovery).await.map_err(err)?;
    let open = opened.is_some_and(|o| closed.is_none_or(|c| c.timestamp < o.timestamp));
    if open == (kind == AlertKind::Anomaly) {
        return Ok(None);
    }
    let key = alert_key(kind, now);
    let token = unique_token(now);
    // We hold the lease: a pending claim made before now belongs to a dead run.
    let request = AlertClaim::new(state_key, &key, kind, now, &token, now, now);
    let won = storage.claim_alert(&request).await.map_err(err)?;
    Ok(won.then_some((key, token)))
}

impl Claimed<'_> {
    /// Records how the announcement went (`sent` or `failed`, so a failed one is
    /// announced again by the next run) and releases the lease.
    pub(crate) async fn finish(self, result: &Result<(), AlertError>, text: &str) {
        let status = if result.is_ok() {
            AlertStatus::Sent
        } else {
            AlertStatus::Failed
        };
        let mut outcome = AlertOutcome::new(status, Utc::now(), text.to_string());
        outcome.error = result.as_ref().err().map(|e| e.to_string());
        let op = FinishAlert::new(self.state_key, &self.key, &self.token, outcome);
        if let Err(e) = self.storage.finish_alert(&op).await {
            tracing::error!(
                state_key = self.state_key,
                "could not record the on_error announcement: {e}"
            );
        }
        self.lease.release().await;
    }
}
