//! One module per subcommand, plus what they share: loading and building metrics.

pub mod backfill;
pub mod backtest;
pub mod compile;
pub mod debug;
pub mod holds;
pub mod init;
pub mod init_project;
pub mod list;
pub mod plot;
pub mod report;
pub mod run;
pub mod test_alert;
pub mod tune;
pub mod validate;

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use detectk_core::config::parse_time;
use detectk_core::pipeline::{MetricPlan, build_partial};
use detectk_core::{ConfigError, ConfigIssue, Registry};

use crate::args::Selection;
use crate::discover::load_selected;
use crate::render::{config_error_text, issue_text};
use crate::select::parse_all;

/// Exit code: every metric succeeded.
pub const OK: u8 = 0;
/// Exit code: some metric failed at run time.
pub const FAILED: u8 = 1;
/// Exit code: bad usage or an invalid config.
pub const INVALID: u8 = 2;

/// Parses `--execution-time` (UTC unless it carries an offset); default now.
pub fn execution_time(arg: Option<&str>) -> Result<DateTime<Utc>, ConfigError> {
    match arg {
        None => Ok(Utc::now()),
        Some(text) => parse_time(text, chrono_tz::Tz::UTC)
            .map_err(|e| ConfigError::single(ConfigIssue::new("--execution-time", e))),
    }
}

/// Metrics ready to run, and the config errors of those that are not.
pub struct Prepared {
    /// Built metrics, in file order.
    pub plans: Vec<MetricPlan>,
    /// Invalid configs (each lists all its problems).
    pub errors: Vec<ConfigError>,
}

/// Loads the selection and builds each metric. Selection syntax errors and a
/// selection that matches nothing are errors of the whole command.
pub fn prepare(
    registry: &Registry,
    selection: &Selection,
    execution_time: DateTime<Utc>,
) -> Result<Prepared, ConfigError> {
    let select = parse_all(&selection.select)
        .map_err(|e| ConfigError::single(ConfigIssue::new("--select", e)))?;
    let exclude = parse_all(&selection.exclude)
        .map_err(|e| ConfigError::single(ConfigIssue::new("--exclude", e)))?;
    let options = crate::project::load_options(&selection.paths, execution_time)?;
    let loaded = load_selected(&selection.paths, &select, &exclude, &options)?;
    let mut prepared = Prepared {
        plans: Vec::new(),
        errors: loaded.errors,
    };
    for partial in loaded.configs {
        match build_partial(registry, partial) {
            Ok(plan) => prepared.plans.push(plan),
            Err(e) => prepared.errors.push(e),
        }
    }
    if prepared.plans.is_empty() && prepared.errors.is_empty() {
        let what = if selection.select.is_empty() && selection.exclude.is_empty() {
            "no metric configs found".to_string()
        } else {
            "no metric matches the selection".to_string()
        };
        let paths: Vec<String> = selection
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(ConfigError::single(
            ConfigIssue::new("", format!("{what} in {}", paths.join(", ")))
                .with_hint("pass metric config files (*.yaml) or directories holding them"),
        ));
    }
    Ok(prepared)
}

/// Prints config errors to stderr (text mode).
pub fn print_config_errors(errors: &[ConfigError]) {
    for e in errors {
        eprint!("{}", config_error_text(e));
    }
}

/// Prints config warnings to stderr.
pub fn print_warnings(warnings: &[ConfigIssue]) {
    for w in warnings {
        eprint!("{}", issue_text("warning", w));
    }
}

/// Turns a numeric code into an [`ExitCode`].
pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
