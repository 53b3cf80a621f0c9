//! What `dtk snooze` and `dtk ack` do to a run's alert step: a metric's holds are
//! read from the alert-state storage, so every runner on any machine sees them.
//!
//! - A snooze (until it expires) suppresses every alert and recovery message of the
//!   metric; the run reports what was suppressed and why.
//! - An ack suppresses anomaly alerts (repeats after the cooldown included) until a
//!   run finds the metric's newest point normal; that run removes the ack and the
//!   recovery message (if configured) is sent as usual, so a later incident alerts again.

use chrono::{DateTime, Utc};

use crate::alert::text::format_time;
use crate::model::DetectionRecord;
use crate::traits::{AlertHold, AlertKind, AlertMessage, HoldKind, Storage, StorageResult};

/// The holds of a metric in force now.
#[derive(Debug, Default)]
pub(crate) struct ActiveHolds {
    /// An unexpired snooze.
    pub(crate) snooze: Option<AlertHold>,
    /// An acknowledgement.
    pub(crate) ack: Option<AlertHold>,
}

impl ActiveHolds {
    /// Reads the holds of `metric` in force at `now` (expired snoozes are ignored).
    pub(crate) async fn read(
        storage: &dyn Storage,
        metric: &str,
        now: DateTime<Utc>,
    ) -> StorageResult<Self> {
        let mut active = Self::default();
        for hold in storage.load_alert_holds(metric).await? {
            if !hold.active_at(now) {
                continue;
            }
            match hold.kind {
                HoldKind::Snooze => active.snooze = Some(hold),
                HoldKind::Ack => active.ack = Some(hold),
            }
        }
        Ok(active)
    }
}

/// Why a snooze held the run's alert back: what would have been sent, or why nothing
/// would have been.
pub(crate) fn snoozed(hold: &AlertHold, would: Result<&AlertMessage, &str>) -> String {
    let until = hold.until.map(format_time).unwrap_or_default();
    format!("snoozed until {until}{}: {}", because(hold), what(would))
}

/// Why an ack held the run's alert back.
pub(crate) fn acknowledged(hold: &AlertHold, would: Result<&AlertMessage, &str>) -> String {
    format!(
        "acknowledged at {}{}: {} until the metric is normal again",
        format_time(hold.created_at),
        because(hold),
        what(would)
    )
}

/// What was suppressed.
fn what(would: Result<&AlertMessage, &str>) -> String {
    match would {
        Ok(m) if m.kind == AlertKind::Recovery => "the recovery message was suppressed".into(),
        Ok(_) => "the anomaly alert was suppressed".into(),
        Err(reason) => format!("nothing to send ({reason})"),
    }
}

fn because(hold: &AlertHold) -> String {
    hold.reason
        .as_deref()
        .map(|r| format!(" (reason: {r})"))
        .unwrap_or_default()
}

/// Whether the point `at` is normal: it has a scored detection and no detector flags it.
pub(crate) fn is_normal(detections: &[DetectionRecord], at: DateTime<Utc>) -> bool {
    let newest: Vec<_> = detections
        .iter()
        .filter(|r| r.detection.timestamp == at)
        .collect();
    newest.iter().any(|r| r.detection.skipped.is_none())
        && newest.iter().all(|r| !r.detection.is_anomaly)
}
