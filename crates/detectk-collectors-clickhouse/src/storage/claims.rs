//! Who owns an alert: a deterministic replay of the claim rows of one key.
//!
//! ClickHouse has no unique constraint or compare-and-set, so a claim is an insert of
//! a row with the claimant's token, and ownership is decided by reading all rows of
//! the key and replaying them in claim order (`claim_seq`, then token). Every reader
//! of the same rows reaches the same verdict. A claimant reads only after a settle
//! delay, so rows of racing claimants inserted at about the same time are visible to
//! all of them before anyone decides.
//!
//! Replay: the first row holds the key. A later row `r` takes it over when the holder
//! had already failed before `r` was claimed, or when the holder was still pending at
//! that point but was claimed before `r`'s `stale_before` (its owner is presumed
//! dead). Rows whose claimant saw that it lost are marked `lost` and skipped.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// Stored status of a claimant that lost (not an [`detectk_core::traits::AlertStatus`]).
pub const LOST: &str = "lost";

/// Column list of [`AlertRow`], in field order.
pub const ALERT_COLUMNS: &str = "metric_name, alert_key, token, kind, alert_time, status, \
    detector_ids, claimed_at, claimed_at_us, stale_before_us, claim_seq, finished_at_us, \
    message, error, version";

/// One row of `dtk_alerts`: one claimant of one alert key.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub metric_name: String,
    pub alert_key: String,
    pub token: String,
    pub kind: String,
    pub alert_time: u32,
    pub status: String,
    pub detector_ids: Vec<String>,
    pub claimed_at: u32,
    pub claimed_at_us: i64,
    pub stale_before_us: i64,
    pub claim_seq: u64,
    pub finished_at_us: Option<i64>,
    pub message: String,
    pub error: Option<String>,
    pub version: u64,
}

impl AlertRow {
    fn finished_before(&self, seq: u64) -> bool {
        matches!(self.status.as_str(), "sent" | "failed") && self.version < seq
    }
}

/// Replays the rows of one key; calls `visit(row, became_holder)` for each row in claim order.
fn replay<'a>(rows: &'a [AlertRow], mut visit: impl FnMut(&'a AlertRow, bool)) {
    let mut ordered: Vec<&AlertRow> = rows.iter().filter(|r| r.status != LOST).collect();
    ordered.sort_by(|a, b| (a.claim_seq, &a.token).cmp(&(b.claim_seq, &b.token)));
    let mut holder: Option<&AlertRow> = None;
    for r in ordered {
        let takes = match holder {
            None => true,
            Some(h) if h.finished_before(r.claim_seq) => h.status == "failed",
            Some(h) => h.claimed_at_us < r.stale_before_us,
        };
        if takes {
            holder = Some(r);
        }
        visit(r, takes);
    }
}

/// Whether the claim with `token` won the key. `None` when its row is not among `rows`.
pub fn claim_won(rows: &[AlertRow], token: &str) -> Option<bool> {
    let mut verdict = None;
    replay(rows, |r, took| {
        if r.token == token {
            verdict = Some(took);
        }
    });
    verdict
}

/// The row that holds the key now, if any.
pub fn holder(rows: &[AlertRow]) -> Option<&AlertRow> {
    let mut current = None;
    replay(rows, |r, took| {
        if took {
            current = Some(r);
        }
    });
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn row(token: &str, seq: u64, claimed_min: i64) -> AlertRow {
        AlertRow {
            metric_name: "m".into(),
            alert_key: "k".into(),
            token: token.into(),
            kind: "anomaly".into(),
            alert_time: 0,
            status: "pending".into(),
            detector_ids: vec![],
            claimed_at: 0,
            claimed_at_us: claimed_min * MIN,
            stale_before_us: (claimed_min - 10) * MIN,
            claim_seq: seq,
            finished_at_us: None,
            message: String::new(),
            error: None,
            version: seq,
        }
    }

    fn finish(mut r: AlertRow, status: &str, seq: u64) -> AlertRow {
        r.status = status.into();
        r.version = seq;
        r
    }

    #[test]
    fn first_claim_wins_and_fresh_pending_blocks() {
        let rows = vec![row("b", 2, 100), row("a", 1, 100)];
        assert_eq!(claim_won(&rows, "a"), Some(true));
        assert_eq!(claim_won(&rows, "b"), Some(false));
        assert_eq!(claim_won(&rows, "zzz"), None);
        assert_eq!(holder(&rows).map(|r| r.token.as_str()), Some("a"));
        // Equal sequence numbers are ordered by token, the same for every reader.
        let tie = vec![row("y", 5, 100), row("x", 5, 100)];
        assert_eq!(claim_won(&tie, "x"), Some(true));
    }

    #[test]
    fn failure_reopens_and_sent_closes() {
        let a = finish(row("a", 1, 100), "failed", 3);
        let rows = vec![
            a.clone(),
            row("b", 2, 100),
            row("c", 4, 100),
            row("d", 5, 100),
        ];
        // b was claimed while a was still pending: it lost, even though a failed later.
        assert_eq!(claim_won(&rows, "b"), Some(false));
        assert_eq!(claim_won(&rows, "c"), Some(true));
        assert_eq!(claim_won(&rows, "d"), Some(false));
        let rows = vec![a, finish(row("c", 4, 100), "sent", 6), row("e", 7, 100)];
        assert_eq!(claim_won(&rows, "e"), Some(false));
        assert_eq!(holder(&rows).map(|r| r.token.as_str()), Some("c"));
    }

    #[test]
    fn stale_pending_is_taken_over_once() {
        let rows = vec![row("dead", 1, 0), row("r1", 2, 100), row("r2", 3, 100)];
        assert_eq!(claim_won(&rows, "r1"), Some(true));
        assert_eq!(claim_won(&rows, "r2"), Some(false));
        assert_eq!(holder(&rows).map(|r| r.token.as_str()), Some("r1"));
    }

    #[test]
    fn lost_rows_are_skipped() {
        let rows = vec![
            finish(row("a", 1, 100), "failed", 2),
            finish(row("b", 3, 100), LOST, 4),
            row("c", 5, 100),
        ];
        assert_eq!(claim_won(&rows, "c"), Some(true));
        assert_eq!(claim_won(&rows, "b"), None);
    }
}
