//! Monitoring the monitor: after `dtk run`, the metrics file (`--metrics-file`), the
//! Pushgateway push (`--pushgateway`) and the heartbeat pings (`heartbeat_url`).
//!
//! `dtk run` records one [`MetricOutcome`] per metric and calls [`after_run`] once at
//! the end; nothing here changes what the run did.

pub mod exposition;
pub mod heartbeat;
pub mod push;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use detectk_core::pipeline::{MetricPlan, RunReport};
use detectk_core::{ConfigError, ConfigIssue, Error, Secret};

pub use exposition::{RunTotals, render, write_atomically};

/// What one metric's run did, for the metrics file and the heartbeat.
#[derive(Debug, Clone)]
pub struct MetricOutcome {
    /// Metric name.
    pub metric: String,
    /// The run succeeded (an undelivered alert counts as a failure).
    pub ok: bool,
    /// Wall time of the metric's run.
    pub duration: Duration,
    /// Points stored by this run (missing ones included).
    pub points: usize,
    /// Anomalous detections of this run.
    pub anomalies: usize,
    /// Alert messages delivered.
    pub alerts_sent: usize,
    /// Alert deliveries that failed.
    pub alerts_failed: usize,
    /// Seconds from the end of the newest stored interval to the run time (on success).
    pub lag_seconds: Option<f64>,
    /// The metric's own `heartbeat_url`.
    pub heartbeat_url: Option<Secret>,
}

impl MetricOutcome {
    /// The outcome of `plan`'s run at `at`, which took `duration`.
    pub fn new(
        plan: &MetricPlan,
        result: &Result<RunReport, Error>,
        duration: Duration,
        at: DateTime<Utc>,
    ) -> Self {
        let interval = plan.config.schedule.interval.delta();
        let mut outcome = Self {
            metric: plan.config.name.clone(),
            ok: false,
            duration,
            points: 0,
            anomalies: 0,
            alerts_sent: 0,
            alerts_failed: 0,
            lag_seconds: None,
            heartbeat_url: plan.config.heartbeat_url.clone(),
        };
        if let Ok(report) = result {
            outcome.ok = report.alert_failure.is_none();
            outcome.points = report.range.points;
            outcome.anomalies = report.range.anomalies.len();
            outcome.alerts_sent = report.alert.as_ref().map_or(0, |a| a.sent.len());
            outcome.alerts_failed = usize::from(report.alert_failure.is_some());
            let end = report.newest + interval;
            outcome.lag_seconds = Some(((at - end).num_milliseconds().max(0)) as f64 / 1000.0);
        }
        outcome
    }
}

/// Where `dtk run` reports about itself.
#[derive(Debug, Clone, Default)]
pub struct MonitorTargets {
    /// `--metrics-file`.
    pub metrics_file: Option<PathBuf>,
    /// `--pushgateway` base URL.
    pub pushgateway: Option<Secret>,
    /// The project's `heartbeat_url`.
    pub project_heartbeat: Option<Secret>,
    /// Dry run: write, push and ping nothing (the run itself writes and sends nothing).
    pub dry_run: bool,
}

/// Writes the metrics file, pushes, and pings the heartbeats. Returns the problems to
/// print (already free of secrets); a failed metrics file or push makes the run fail,
/// a failed heartbeat ping is only reported.
pub async fn after_run(
    targets: &MonitorTargets,
    outcomes: &[MetricOutcome],
    totals: &RunTotals,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if targets.dry_run {
        return problems;
    }
    // The exposition is rendered only for a target that takes it.
    if targets.metrics_file.is_some() || targets.pushgateway.is_some() {
        let previous = targets
            .metrics_file
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| exposition::Previous::parse(&text))
            .unwrap_or_default();
        let text = render(outcomes, totals, &previous);
        if let Some(path) = &targets.metrics_file
            && let Err(e) = write_atomically(path, &text)
        {
            problems.push(Problem::fatal(format!(
                "--metrics-file: cannot write {}: {e}",
                path.display()
            )));
        }
        if let Some(url) = &targets.pushgateway
            && let Err(e) = push::push(url, &text).await
        {
            problems.push(Problem::fatal(format!("--pushgateway: {e}")));
        }
    }
    problems
        .extend(heartbeat::ping_all(targets.project_heartbeat.as_ref(), outcomes, totals).await);
    problems
}

/// Something that went wrong while reporting about the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The message (no secrets).
    pub message: String,
    /// Whether it fails the run (exit code 1).
    pub fails_run: bool,
}

impl Problem {
    fn fatal(message: String) -> Self {
        Self {
            message,
            fails_run: true,
        }
    }

    fn warning(message: String) -> Self {
        Self {
            message,
            fails_run: false,
        }
    }
}

/// The monitoring of one `dtk run`: what to report to, and the run's start.
#[derive(Debug)]
pub struct Monitor {
    targets: MonitorTargets,
    started: DateTime<Utc>,
    clock: std::time::Instant,
}

impl Monitor {
    /// Checks the targets of `dtk run` (metrics file directory, Pushgateway and project
    /// heartbeat URLs) before anything runs, and starts the clock.
    pub fn start(args: &crate::cli::RunArgs) -> Result<Self, ConfigError> {
        let issue =
            |field: &str, message: String| ConfigError::single(ConfigIssue::new(field, message));
        if let Some(path) = &args.metrics_file {
            check_metrics_file(path).map_err(|m| issue("--metrics-file", m))?;
        }
        let pushgateway = match &args.pushgateway {
            Some(url) => {
                detectk_core::config::check_heartbeat_url(url)
                    .map_err(|m| issue("--pushgateway", m))?;
                Some(Secret::new(url.clone()))
            }
            None => None,
        };
        let root = crate::project::project_root(&args.selection.paths)?;
        Ok(Self {
            targets: MonitorTargets {
                metrics_file: args.metrics_file.clone(),
                pushgateway,
                project_heartbeat: heartbeat::project_heartbeat(&root)?,
                dry_run: args.dry_run,
            },
            started: Utc::now(),
            clock: std::time::Instant::now(),
        })
    }

    /// Reports the run (see [`after_run`]) and prints the problems on stderr. Returns
    /// true when one of them fails the run.
    pub async fn finish(
        &self,
        outcomes: &[MetricOutcome],
        ok: usize,
        failed: usize,
        invalid: usize,
    ) -> bool {
        let totals = RunTotals {
            started: self.started,
            duration: self.clock.elapsed(),
            ok,
            failed,
            invalid,
        };
        let problems = after_run(&self.targets, outcomes, &totals).await;
        for p in &problems {
            let level = if p.fails_run { "error" } else { "warning" };
            eprintln!("{level}: {}", p.message);
        }
        problems.iter().any(|p| p.fails_run)
    }
}

/// The metrics file's directory must exist; returns the clear error when it does not.
pub fn check_metrics_file(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "--metrics-file: directory {} does not exist",
            dir.display()
        ));
    }
    Ok(())
}
