//! `dtk report`: one self-contained HTML page of the selected metrics over a period.

use chrono::{DateTime, TimeDelta, Utc};
use detectk_core::config::parse_time;
use detectk_core::{ConfigError, ConfigIssue, Registry};
use detectk_report::{MetricEntry, Period};
use futures::StreamExt;

use crate::cli::{ReportArgs, Selection};
use crate::commands::{FAILED, INVALID, OK, prepare, print_config_errors};

/// The default length of a report's period.
pub const DEFAULT_DAYS: i64 = 7;

fn time_arg(field: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, ConfigError> {
    text.map(|t| {
        parse_time(t, chrono_tz::Tz::UTC)
            .map_err(|e| ConfigError::single(ConfigIssue::new(field, e)))
    })
    .transpose()
}

/// The period of `--from` / `--to`: `to` defaults to now, `from` to [`DEFAULT_DAYS`]
/// before `to`. An empty or reversed period is an error naming both.
pub fn period(from: Option<&str>, to: Option<&str>) -> Result<Period, ConfigError> {
    let now = Utc::now();
    let to = time_arg("--to", to)?.unwrap_or(now);
    let from = time_arg("--from", from)?.unwrap_or(to - TimeDelta::days(DEFAULT_DAYS));
    if from >= to {
        return Err(ConfigError::single(
            ConfigIssue::new(
                "--from",
                format!("the period is empty: --from {from} is not before --to {to}"),
            )
            .with_hint("--from must be earlier than --to (default: now)"),
        ));
    }
    Ok(Period::new(from, to, now))
}

/// Runs `dtk report`; returns the exit code.
pub async fn report(registry: &Registry, args: &ReportArgs) -> Result<u8, ConfigError> {
    let period = period(args.from.as_deref(), args.to.as_deref())?;
    let selection = Selection {
        paths: args.paths.clone(),
        select: args.select.clone(),
        exclude: args.exclude.clone(),
    };
    let prepared = prepare(registry, &selection, period.now)?;
    print_config_errors(&prepared.errors);
    let entries: Vec<MetricEntry> = futures::stream::iter(prepared.plans.iter())
        .map(|plan| async move {
            match detectk_report::source::load_metric(plan, &period).await {
                Ok(data) => MetricEntry::Loaded(Box::new(data)),
                Err(e) => MetricEntry::Failed {
                    name: plan.config.name.clone(),
                    error: e.to_string(),
                },
            }
        })
        .buffered(args.concurrency.max(1))
        .collect()
        .await;
    let failed = entries
        .iter()
        .filter(|e| matches!(e, MetricEntry::Failed { .. }))
        .count();
    for e in &entries {
        if let MetricEntry::Failed { error, .. } = e {
            eprintln!("error: {error}");
        }
    }
    if failed > 0 {
        eprintln!("  hint: if nothing was stored yet, run `dtk backfill` or `dtk run` first");
    }
    let page = detectk_report::html::render_page(&entries, &period);
    if let Err(e) = crate::monitor::write_atomically(&args.output, &page) {
        eprintln!("error: cannot write {}: {e}", args.output.display());
        return Ok(FAILED);
    }
    if !crate::output::quiet() {
        println!(
            "wrote {}: {} metric(s), {} .. {} UTC, {} KiB",
            args.output.display(),
            entries.len(),
            period.from.format("%Y-%m-%d %H:%M"),
            period.to.format("%Y-%m-%d %H:%M"),
            page.len().div_ceil(1024)
        );
    }
    Ok(if !prepared.errors.is_empty() {
        INVALID
    } else if failed > 0 {
        FAILED
    } else {
        OK
    })
}
