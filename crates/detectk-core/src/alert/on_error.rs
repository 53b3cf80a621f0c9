//! The project's `on_error` channel: one message when metrics of a run start failing,
//! one when they recover, once per incident.
//!
//! An error incident is per metric. Each host keeps the open incidents in a small JSON
//! file in the project directory (`.detectk/on_error.json`), read, decided on, sent
//! and rewritten under a lock file (`.detectk/on_error.lock`), so overlapping `dtk run`
//! processes on one host send each message once. When the metric's storage answers,
//! the incident is also decided on and claimed in its alert ledger under
//! `<metric>#on_error` (under that key's alert lease, see `error_ledger`), so runs on
//! other hosts agree too. When the storage is the database that is down, the file
//! alone decides: still one message per incident on that host.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use futures::future::join_all;

use crate::alert::Severity;
use crate::alert::error_ledger::{Claimed, gate};
use crate::traits::{AlertKind, AlertMessage, Alerter, Storage};

/// Where the state lives, under the project directory.
pub const ON_ERROR_STATE_DIR: &str = ".detectk";
const STATE_FILE: &str = "on_error.json";
const LOCK_FILE: &str = "on_error.lock";
/// A lock file older than this belongs to a dead process and is broken.
const STALE_LOCK: Duration = Duration::from_secs(120);
/// How long a run waits for the lock before giving up on the error alert.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// How one metric's run ended, as `on_error` sees it.
#[derive(Debug, Clone)]
pub struct MetricRunResult {
    /// Metric name.
    pub metric: String,
    /// The failure (already scrubbed of secrets), or `None` when the run succeeded.
    pub error: Option<String>,
    /// The metric's alert-state storage, where the incident is also kept (under
    /// [`MetricRunResult::state_key`]) so runs on other hosts agree; `None` to use the
    /// local state file only.
    pub storage: Option<Arc<dyn Storage>>,
    /// `<metric>#on_error`: the incident's key in the alert ledger.
    pub state_key: String,
}

impl MetricRunResult {
    /// The result of `metric`'s run, its incident kept in `storage` (if given) and
    /// the local state file.
    pub fn new(
        metric: impl Into<String>,
        error: Option<String>,
        storage: Option<Arc<dyn Storage>>,
    ) -> Self {
        let metric = metric.into();
        let state_key = crate::alert::alerter_state_key(&metric, "on_error");
        Self {
            metric,
            error,
            storage,
            state_key,
        }
    }
}

/// What the `on_error` step did in one run.
#[derive(Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ErrorAlertReport {
    /// Metrics whose error incident this run opened (and announced).
    pub opened: Vec<String>,
    /// Metrics whose error incident this run closed (and announced).
    pub recovered: Vec<String>,
    /// Metrics failing with an incident already open: nothing sent for them.
    pub still_failing: Vec<String>,
    /// Messages delivered (or, in a dry run, that would have been).
    pub messages: Vec<AlertMessage>,
    /// A delivery or state failure; the incidents it concerns stay as they were, so
    /// the next run tries again.
    pub error: Option<String>,
}

/// One open error incident in the state file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct OpenIncident {
    since: DateTime<Utc>,
    error: String,
    /// Whether the incident is also open in the metric's alert ledger (its storage
    /// answered): its recovery is then claimed there too.
    #[serde(default)]
    ledger: bool,
}

impl OpenIncident {
    fn new(since: DateTime<Utc>, error: &str, ledger: bool) -> Self {
        Self {
            since,
            error: error.to_string(),
            ledger,
        }
    }
}

type State = BTreeMap<String, OpenIncident>;

/// A failing metric and its error text.
type Failure<'a> = (&'a str, &'a str);

/// Opens error incidents for newly failing metrics and closes those of metrics that
/// ran fine, sending one message for each group (see the module docs). A dry run
/// reads the state, sends and writes nothing, and reports the would-be messages.
pub async fn alert_errors(
    alerter: &dyn Alerter,
    project_dir: &Path,
    results: &[MetricRunResult],
    now: DateTime<Utc>,
    dry_run: bool,
) -> ErrorAlertReport {
    let dir = project_dir.join(ON_ERROR_STATE_DIR);
    let mut report = ErrorAlertReport::default();
    let lock = if dry_run {
        None
    } else {
        match StateLock::acquire(&dir).await {
            Ok(lock) => Some(lock),
            Err(e) => {
                tracing::error!("on_error: {e}");
                report.error = Some(e);
                return report;
            }
        }
    };
    let mut state = read_state(&dir.join(STATE_FILE));
    let mut changed = false;

    // Newly failing metrics: announce unless another run (host) already did.
    let mut opening: Vec<(Failure<'_>, Option<Box<Claimed<'_>>>, bool)> = Vec::new();
    for r in results {
        let Some(error) = r.error.as_deref() else {
            continue;
        };
        if state.contains_key(&r.metric) {
            report.still_failing.push(r.metric.clone());
            continue;
        }
        match ledger(r, AlertKind::Anomaly, now, dry_run).await {
            Ledger::Claimed(c) => opening.push(((&r.metric, error), Some(c), true)),
            Ledger::Unreachable => opening.push(((&r.metric, error), None, false)),
            Ledger::AlreadyDone => {
                // Announced by another host: remember it, so its recovery is announced.
                let incident = OpenIncident::new(now, error, true);
                state.insert(r.metric.clone(), incident);
                report.still_failing.push(r.metric.clone());
                changed = true;
            }
        }
    }
    if !opening.is_empty() {
        let failures: Vec<Failure<'_>> = opening.iter().map(|(f, _, _)| *f).collect();
        let message = failing_message(&failures, now);
        let (claims, sent) = deliver(alerter, &message, opening, dry_run, &mut report).await;
        if sent {
            for ((metric, error), in_ledger) in claims {
                let incident = OpenIncident::new(now, error, in_ledger);
                state.insert(metric.to_string(), incident);
                report.opened.push(metric.to_string());
            }
            report.messages.push(message);
            changed = true;
        }
    }

    // Metrics running again: announce the recovery unless another run already did.
    let mut closing: Vec<(&str, Option<Box<Claimed<'_>>>, bool)> = Vec::new();
    for r in results.iter().filter(|r| r.error.is_none()) {
        let Some(open) = state.get(&r.metric) else {
            continue;
        };
        if !open.ledger {
            closing.push((&r.metric, None, false));
            continue;
        }
        match ledger(r, AlertKind::Recovery, now, dry_run).await {
            Ledger::Claimed(c) => closing.push((&r.metric, Some(c), true)),
            Ledger::Unreachable => closing.push((&r.metric, None, false)),
            Ledger::AlreadyDone => {
                state.remove(&r.metric);
                changed = true;
            }
        }
    }
    if !closing.is_empty() {
        let names: Vec<&str> = closing.iter().map(|(m, _, _)| *m).collect();
        let message = recovery_message(&names, &state, now);
        let (claims, sent) = deliver(alerter, &message, closing, dry_run, &mut report).await;
        if sent {
            for (metric, _) in claims {
                state.remove(metric);
                report.recovered.push(metric.to_string());
            }
            report.messages.push(message);
            changed = true;
        }
    }
    if changed
        && !dry_run
        && let Err(e) = write_state(&dir, &state)
    {
        report.error.get_or_insert(e);
    }
    drop(lock);
    report
}

/// What the metric's alert ledger says about an announcement.
enum Ledger<'a> {
    /// This run announces it, holding the claim.
    Claimed(Box<Claimed<'a>>),
    /// Another run announced it already.
    AlreadyDone,
    /// The storage did not answer (or there is none, or a dry run): the state file decides.
    Unreachable,
}

async fn ledger<'a>(
    r: &'a MetricRunResult,
    kind: AlertKind,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Ledger<'a> {
    let Some(storage) = r.storage.as_deref().filter(|_| !dry_run) else {
        return Ledger::Unreachable;
    };
    match gate(storage, &r.state_key, kind, now).await {
        Ok(Some(c)) => Ledger::Claimed(Box::new(c)),
        Ok(None) => Ledger::AlreadyDone,
        Err(e) => {
            tracing::warn!(
                metric = r.metric.as_str(),
                "on_error: the alert ledger did not answer ({e}); deciding by the local state"
            );
            Ledger::Unreachable
        }
    }
}

/// Sends `message` (not in a dry run) while renewing every claim's lease, records
/// each claim's outcome; returns the items (with whether they are in the ledger) and
/// whether the message went out.
async fn deliver<'a, T>(
    alerter: &dyn Alerter,
    message: &AlertMessage,
    items: Vec<(T, Option<Box<Claimed<'a>>>, bool)>,
    dry_run: bool,
    report: &mut ErrorAlertReport,
) -> (Vec<(T, bool)>, bool) {
    let result = if dry_run {
        Ok(())
    } else {
        // Renew every claim's lease while sending (there may be none: file-only).
        let renewals = join_all(
            items
                .iter()
                .filter_map(|(_, c, _)| c.as_ref())
                .map(|c| c.lease.while_held(std::future::pending::<()>())),
        );
        let renewing = async {
            renewals.await;
            std::future::pending::<()>().await
        };
        tokio::select! {
            biased;
            r = alerter.send(message) => r,
            () = renewing => unreachable!("lease renewals never end"),
        }
    };
    if let Err(e) = &result {
        tracing::error!(channel = alerter.describe(), "on_error alert failed: {e}");
        report.error.get_or_insert(e.to_string());
    }
    let mut out = Vec::new();
    for (item, claim, in_ledger) in items {
        if let Some(c) = claim {
            c.finish(&result, &message.text).await;
        }
        out.push((item, in_ledger));
    }
    (out, result.is_ok())
}

fn message(
    kind: AlertKind,
    metrics: &[&str],
    title: String,
    text: String,
    now: DateTime<Utc>,
) -> AlertMessage {
    AlertMessage {
        metric: match metrics {
            [one] => one.to_string(),
            _ => "errors".to_string(),
        },
        kind,
        timestamp: now,
        title,
        text,
        detections: Vec::new(),
        severity: if kind == AlertKind::Recovery {
            Severity::Info
        } else {
            Severity::Critical
        },
        incident_start: None,
    }
}

/// The message naming the metrics that started failing, each with its error.
fn failing_message(failing: &[Failure<'_>], now: DateTime<Utc>) -> AlertMessage {
    let names: Vec<&str> = failing.iter().map(|(m, _)| *m).collect();
    let title = format!("DetectK: {} metric(s) failing", names.len());
    let mut text = format!("{title}\n");
    for (metric, error) in failing {
        text.push_str(&format!("\n{metric}:\n"));
        for line in error.trim_end().lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    message(
        AlertKind::Anomaly,
        &names,
        title,
        text.trim_end().into(),
        now,
    )
}

/// The message naming the metrics that run again, each with how long it failed.
fn recovery_message(recovered: &[&str], state: &State, now: DateTime<Utc>) -> AlertMessage {
    let title = format!("DetectK: {} metric(s) recovered", recovered.len());
    let mut text = format!("{title}\n");
    for metric in recovered {
        match state.get(*metric) {
            Some(open) => text.push_str(&format!(
                "\n{metric}: runs again (failing since {})",
                crate::alert::format_time(open.since)
            )),
            None => text.push_str(&format!("\n{metric}: runs again")),
        }
    }
    message(AlertKind::Recovery, recovered, title, text, now)
}

/// The open incidents; an unreadable or corrupt file counts as none (logged).
fn read_state(file: &Path) -> State {
    match std::fs::read_to_string(file) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(file = %file.display(), "on_error state unreadable ({e}); starting afresh");
            State::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::new(),
        Err(e) => {
            tracing::warn!(file = %file.display(), "on_error state unreadable ({e}); starting afresh");
            State::new()
        }
    }
}

/// Writes the state atomically (a temporary file renamed over the old one).
fn write_state(dir: &Path, state: &State) -> Result<(), String> {
    let file = dir.join(STATE_FILE);
    let tmp = dir.join(format!("{STATE_FILE}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &file));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write the on_error state {}: {e}", file.display())
    })
}

/// The lock file held while a run reads, decides on, sends and writes the state;
/// removed when dropped.
struct StateLock {
    path: PathBuf,
}

impl StateLock {
    /// Creates the lock file, waiting while another process holds it (a lock file
    /// older than [`STALE_LOCK`] is broken).
    async fn acquire(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let started = SystemTime::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > STALE_LOCK) {
                        tracing::warn!(lock = %path.display(), "breaking a stale on_error lock");
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed().unwrap_or_default() > LOCK_WAIT {
                        return Err(format!(
                            "another dtk run held {} for over {}s",
                            path.display(),
                            LOCK_WAIT.as_secs()
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_failing_message_groups_metrics_with_their_errors() {
        let now = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        let a = ("orders", "error: query failed\ncaused by: no such table");
        let b = ("sessions", "error: connection refused");
        let m = failing_message(&[a, b], now);
        assert_eq!(m.metric, "errors");
        assert_eq!(m.kind, AlertKind::Anomaly);
        assert_eq!(m.title, "DetectK: 2 metric(s) failing");
        assert_eq!(
            m.text,
            "DetectK: 2 metric(s) failing\n\norders:\n  error: query failed\n  caused by: no such table\n\nsessions:\n  error: connection refused"
        );
    }

    #[test]
    fn a_corrupt_state_file_counts_as_no_open_incident() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        std::fs::write(&file, "{not json").unwrap();
        assert!(read_state(&file).is_empty());
        let mut state = State::new();
        let since = Utc.with_ymd_and_hms(2024, 3, 1, 2, 0, 0).unwrap();
        state.insert("orders".into(), OpenIncident::new(since, "boom", true));
        write_state(dir.path(), &state).unwrap();
        assert_eq!(read_state(&file), state);
    }
}
