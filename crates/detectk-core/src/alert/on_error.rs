//! The project's `on_error` channel: one message when metrics of a run start failing,
//! one when they recover, once per incident.
//!
//! An error incident is per metric. Its state is a small JSON file in the project
//! directory (`.detectk/on_error.json`: the metrics whose incident is open), read,
//! decided on, sent and rewritten under a lock file (`.detectk/on_error.lock`), so
//! overlapping `dtk run` processes on one host send each message once. The state is
//! deliberately not kept in a metric's storage: the storage may be the database that is
//! down. The price is that it is per host: two hosts running the same failing metric
//! each alert once.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Severity;
use crate::error::AlertError;
use crate::traits::{AlertKind, AlertMessage, Alerter};

/// Where the state lives, under the project directory.
pub const ON_ERROR_STATE_DIR: &str = ".detectk";
const STATE_FILE: &str = "on_error.json";
const LOCK_FILE: &str = "on_error.lock";
/// A lock file older than this belongs to a dead process and is broken.
const STALE_LOCK: Duration = Duration::from_secs(120);
/// How long a run waits for the lock before giving up on the error alert.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// How one metric's run ended, as `on_error` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRunResult {
    /// Metric name.
    pub metric: String,
    /// The failure (already scrubbed of secrets), or `None` when the run succeeded.
    pub error: Option<String>,
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
    let failing: Vec<Failure<'_>> = results
        .iter()
        .filter_map(|r| r.error.as_deref().map(|e| (r.metric.as_str(), e)))
        .collect();
    let (new, old): (Vec<Failure<'_>>, Vec<Failure<'_>>) = failing
        .iter()
        .copied()
        .partition(|(m, _)| !state.contains_key(*m));
    report.still_failing = old.iter().map(|(m, _)| m.to_string()).collect();
    let recovered: Vec<&str> = results
        .iter()
        .filter(|r| r.error.is_none() && state.contains_key(&r.metric))
        .map(|r| r.metric.as_str())
        .collect();
    let mut changed = false;
    if !new.is_empty() {
        let message = failing_message(&new, now);
        if dry_run || send(alerter, &message, &mut report).await {
            for (m, e) in &new {
                let incident = OpenIncident {
                    since: now,
                    error: e.to_string(),
                };
                state.insert(m.to_string(), incident);
                report.opened.push(m.to_string());
            }
            report.messages.push(message);
            changed = true;
        }
    }
    if !recovered.is_empty() {
        let message = recovery_message(&recovered, &state, now);
        if dry_run || send(alerter, &message, &mut report).await {
            for m in &recovered {
                state.remove(*m);
                report.recovered.push(m.to_string());
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

/// Sends `message`; a failure is logged and kept in `report`.
async fn send(
    alerter: &dyn Alerter,
    message: &AlertMessage,
    report: &mut ErrorAlertReport,
) -> bool {
    match alerter.send(message).await {
        Ok(()) => true,
        Err(e) => {
            let e: AlertError = e;
            tracing::error!(channel = alerter.describe(), "on_error alert failed: {e}");
            report.error.get_or_insert(e.to_string());
            false
        }
    }
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
        let error = "boom".to_string();
        state.insert("orders".into(), OpenIncident { since, error });
        write_state(dir.path(), &state).unwrap();
        assert_eq!(read_state(&file), state);
    }
}
