//! A small service embedding DetectK: it registers the backends it wants, loads a
//! directory of metric configs, and runs the fleet on a timer, printing a summary of
//! each tick. See `src/main.rs` for the loop and `tests/once.rs` for a run on SQLite.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use detectk_core::config::LoadOptions;
use detectk_core::fleet::{Fleet, FleetOptions, FleetReport};
use detectk_core::pipeline::{RunOptions, RunReport};
use detectk_core::{ConfigError, Registry};

/// The backends this service links, registered explicitly: the `console` alerter of the
/// core, the detectors, and SQLite (collector and storage). Nothing registers itself.
pub fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    detectk_detectors::register(&mut registry);
    detectk_collectors_sql::register(&mut registry);
    registry
}

/// One tick: load every config under `dir` afresh (edits are picked up without a
/// restart), build the metrics, and run them all, `concurrency` at a time.
///
/// An unreadable `dir` is an error; an invalid config is reported in the summary and
/// does not stop the other metrics.
pub async fn tick(
    registry: &Registry,
    dir: &Path,
    execution_time: DateTime<Utc>,
    concurrency: usize,
) -> Result<FleetReport<RunReport>, ConfigError> {
    let options = LoadOptions {
        execution_time,
        project_dir: Some(dir.to_path_buf()),
        ..LoadOptions::default()
    };
    let fleet = Fleet::load(registry, &[PathBuf::from(dir)], &options)?;
    let run = RunOptions {
        execution_time,
        dry_run: false,
    };
    Ok(fleet
        .run(run, FleetOptions::with_concurrency(concurrency))
        .await)
}

/// The summary of one tick: a line per metric, then the totals.
pub fn summary(report: &FleetReport<RunReport>) -> String {
    let mut out = String::new();
    for outcome in &report.metrics {
        let line = match (&outcome.result, outcome.failure()) {
            (Ok(r), None) => format!(
                "{}: {} point(s), {} anomal{}, {}",
                outcome.metric,
                r.range.points,
                r.range.anomalies.len(),
                if r.range.anomalies.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                match &r.alert {
                    Some(a) if !a.sent.is_empty() => format!("{} alert(s) sent", a.sent.len()),
                    _ => "no alert".to_string(),
                }
            ),
            (_, Some(e)) => format!("{}: failed: {e}", outcome.metric),
            (Err(e), None) => format!("{}: failed: {e}", outcome.metric),
        };
        out.push_str(&line);
        out.push('\n');
    }
    for invalid in &report.invalid {
        out.push_str(&format!("invalid config: {invalid}\n"));
    }
    out.push_str(&format!(
        "{} ok, {} failed, {} invalid\n",
        report.ok(),
        report.failed(),
        report.invalid.len()
    ));
    out
}
