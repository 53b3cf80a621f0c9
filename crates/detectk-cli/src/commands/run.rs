//! `dtk run`: collect, detect and alert for each selected metric, concurrently.

use std::time::Duration;

use chrono::Utc;
use detectk_core::alert::{ErrorAlertReport, MetricRunResult, alert_errors};
use detectk_core::fleet::{Fleet, FleetOptions, Shard};
use detectk_core::pipeline::{RunOptions, RunReport};
use detectk_core::{ConfigError, ConfigIssue, Error, Registry};
use futures::StreamExt;
use serde_json::json;

use crate::args::Format;
use crate::cli::RunArgs;
use crate::commands::{FAILED, INVALID, OK, execution_time, prepare, print_config_errors};
use crate::monitor::MetricOutcome;
use crate::output::{anomaly_line, time};
use crate::render::{error_json, error_text, issue_json};

/// Runs `dtk run`; returns the exit code.
pub async fn run(registry: &Registry, args: &RunArgs) -> Result<u8, ConfigError> {
    let at = execution_time(args.execution_time.as_deref())?;
    let shard = shard(args)?;
    let monitor = crate::monitor::Monitor::start(args)?;
    let prepared = prepare(registry, &args.selection, at)?;
    let on_error = crate::on_error::channel(registry, &args.selection.paths)?;
    let options = RunOptions {
        execution_time: at,
        dry_run: args.dry_run,
    };
    if args.format == Format::Text {
        print_config_errors(&prepared.errors);
        for plan in &prepared.plans {
            crate::commands::print_warnings(&plan.warnings);
        }
    }
    let mut fleet = Fleet::from_plans(prepared.plans);
    if let Some(shard) = shard {
        fleet.retain_shard(shard);
    }
    let mut fleet_options = FleetOptions::with_concurrency(args.concurrency)
        .timeout(args.metric_timeout.map(Duration::from_secs));
    if let Some(n) = args.per_storage {
        fleet_options = fleet_options.per_storage(n);
    }
    if let Some(n) = args.per_source {
        fleet_options = fleet_options.per_source(n);
    }
    let mut outcomes = fleet.run_each(options, fleet_options);

    let (mut ok, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut json_metrics = Vec::new();
    let mut digest_items = Vec::new();
    let mut monitored = Vec::new();
    let mut run_results = Vec::new();
    // The fleet yields its outcomes in the order of its plans.
    let mut plans = fleet.plans().iter();
    while let Some(mut outcome) = outcomes.next().await {
        let plan = plans.next();
        if let Some(reason) = outcome.skipped() {
            skipped += 1;
            match args.format {
                Format::Text if !crate::output::quiet() => {
                    println!("{}: skipped: {reason}", outcome.metric)
                }
                Format::Text => {}
                Format::Json => json_metrics.push(json!({
                    "name": outcome.metric, "status": "skipped", "reason": reason,
                })),
            }
            continue;
        }
        if let Some(plan) = plan {
            monitored.push(MetricOutcome::new(
                plan,
                &outcome.result,
                outcome.elapsed,
                at,
            ));
        }
        if let Ok(report) = outcome.result.as_mut() {
            digest_items.append(&mut report.digest);
        }
        match outcome.failure() {
            None => ok += 1,
            Some(_) => failed += 1,
        }
        // on_error: the metric's own run failing counts, its alert delivery does not.
        run_results.push(MetricRunResult::new(
            outcome.metric.clone(),
            outcome.result.as_ref().err().map(error_text),
            plan.map(|p| std::sync::Arc::clone(&p.storage)),
        ));
        // A failed alert delivery fails the metric, but its run report is still shown.
        let alert_failure = outcome
            .result
            .as_ref()
            .ok()
            .and_then(|r| r.alert_failure.clone());
        let (name, result) = (outcome.metric, outcome.result);
        match args.format {
            Format::Text => match &result {
                Ok(report) => {
                    print_report(report);
                    if let Some(e) = &alert_failure {
                        eprint!("{}", error_text(e));
                    }
                }
                Err(e) => eprint!("{}", error_text(e)),
            },
            Format::Json => json_metrics.push(match (result, alert_failure) {
                (Ok(report), None) => json!({"name": name, "status": "ok", "report": report}),
                (Ok(report), Some(e)) => json!({
                    "name": name, "status": "failed", "report": report, "error": error_json(&e),
                }),
                (Err(e), _) => json!({"name": name, "status": "failed", "error": error_json(&e)}),
            }),
        }
    }
    drop(outcomes);
    let digests = detectk_core::alert::send_digests(digest_items).await;
    let digest_failed = digests.iter().any(|d| d.error.is_some());
    let mut json_digests = Vec::new();
    for d in &digests {
        match args.format {
            Format::Text => {
                if let Some(m) = &d.message
                    && d.error.is_none()
                    && !crate::output::quiet()
                {
                    println!("digest sent via {}: {}", d.channel, m.title);
                }
                if !d.skipped.is_empty() && !crate::output::quiet() {
                    println!(
                        "  left out (already sent by another run): {}",
                        d.skipped.join(", ")
                    );
                }
                if let Some(e) = &d.error {
                    eprint!("{}", error_text(e));
                }
            }
            Format::Json => json_digests.push(json!({
                "channel": d.channel,
                "status": if d.error.is_some() { "failed" } else { "ok" },
                "message": d.message,
                "skipped": d.skipped,
                "error": d.error.as_ref().map(error_json),
            })),
        }
    }
    let error_alert = match &on_error {
        Some(channel) => Some((
            channel.alerter.describe(),
            alert_errors(
                channel.alerter.as_ref(),
                &channel.root,
                &run_results,
                Utc::now(),
                args.dry_run,
            )
            .await,
        )),
        None => None,
    };
    if args.format == Format::Text
        && let Some((channel, report)) = &error_alert
    {
        print_error_alert(channel, report, args.dry_run);
    }
    let invalid = prepared.errors.len();
    match args.format {
        Format::Text => {
            let mut summary = format!(
                "{} metric(s): {ok} ok, {failed} failed",
                ok + failed + skipped + invalid
            );
            if skipped > 0 {
                summary.push_str(&format!(", {skipped} skipped (held by another worker)"));
            }
            if let Some(shard) = shard {
                summary.push_str(&format!(" (shard {shard})"));
            }
            if invalid > 0 {
                summary.push_str(&format!(", {invalid} invalid"));
            }
            if args.dry_run {
                summary.push_str(" (dry run: nothing written, nothing sent)");
            }
            if !crate::output::quiet() {
                println!("{summary}");
            }
        }
        Format::Json => {
            for e in &prepared.errors {
                json_metrics.push(json!({
                    "file": e.issues.first().and_then(|i| i.file.as_ref()).map(|f| f.display().to_string()),
                    "status": "invalid",
                    "errors": e.issues.iter().map(issue_json).collect::<Vec<_>>(),
                }));
            }
            let mut doc = json!({
                "execution_time": at,
                "dry_run": args.dry_run,
                "metrics": json_metrics,
                "summary": {"ok": ok, "failed": failed, "skipped": skipped, "invalid": invalid},
            });
            if let Some(shard) = shard {
                doc["shard"] = json!(shard.to_string());
            }
            if !json_digests.is_empty() {
                doc["digests"] = json_digests.into();
            }
            if let Some((channel, report)) = &error_alert {
                doc["on_error"] = json!({
                    "channel": channel,
                    "opened": report.opened,
                    "recovered": report.recovered,
                    "still_failing": report.still_failing,
                    "status": if report.error.is_some() { "failed" } else if args.dry_run { "dry_run" } else { "ok" },
                    "error": report.error,
                });
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    let monitor_failed = monitor.finish(&monitored, ok, failed, invalid).await;
    Ok(if invalid > 0 {
        INVALID
    } else if failed > 0 || digest_failed || monitor_failed {
        FAILED
    } else {
        OK
    })
}

/// What the `on_error` channel did: sent (or would send) which messages, held
/// which failures of open incidents, or failed (on stderr, never hiding the failures).
fn print_error_alert(channel: &str, report: &ErrorAlertReport, dry_run: bool) {
    let verb = if dry_run { "would be sent" } else { "sent" };
    if !crate::output::quiet() {
        if !report.opened.is_empty() {
            println!(
                "error alert {verb} via {channel}: failing: {}",
                report.opened.join(", ")
            );
        }
        if !report.recovered.is_empty() {
            println!(
                "error recovery {verb} via {channel}: recovered: {}",
                report.recovered.join(", ")
            );
        }
        if !report.still_failing.is_empty() {
            println!(
                "error alert held: still failing since an earlier run (already alerted): {}",
                report.still_failing.join(", ")
            );
        }
    }
    if let Some(e) = &report.error {
        eprintln!("error: the on_error channel ({channel}) failed: {e}");
    }
}

/// The shard of `--shard` (or `DETECTK_SHARD`), or of `--shard-index-env VAR
/// --shard-count N`; none runs every metric.
fn shard(args: &RunArgs) -> Result<Option<Shard>, ConfigError> {
    let bad = |flag: &str, message: String| ConfigError::single(ConfigIssue::new(flag, message));
    if let Some(text) = &args.shard {
        return text
            .parse::<Shard>()
            .map(Some)
            .map_err(|e| bad("--shard", e.to_string()));
    }
    let (Some(var), Some(count)) = (&args.shard_index_env, args.shard_count) else {
        return Ok(None);
    };
    let value = std::env::var(var).map_err(|_| {
        bad(
            "--shard-index-env",
            format!("environment variable `{var}` is not set (or not UTF-8)"),
        )
    })?;
    let index = value.trim().parse::<u64>().map_err(|_| {
        bad(
            "--shard-index-env",
            format!("environment variable `{var}` is `{value}`, not a shard index (0, 1, ...)"),
        )
    })?;
    Shard::new(index, count)
        .map(Some)
        .map_err(|e| bad("--shard-index-env", e.to_string()))
}

fn print_report(report: &RunReport) {
    if crate::output::quiet() {
        return;
    }
    let range = &report.range;
    let collected = match (range.from, range.to) {
        (Some(from), Some(to)) => format!(
            "collected {} point(s) [{} .. {}), {} missing",
            range.points,
            time(&from),
            time(&to),
            range.missing
        ),
        _ => format!("up to date (newest interval {})", time(&report.newest)),
    };
    println!(
        "{}: {collected}; {} detection(s), {} anomal{}",
        report.metric,
        range.detections,
        range.anomalies.len(),
        if range.anomalies.len() == 1 {
            "y"
        } else {
            "ies"
        }
    );
    for note in &range.notes {
        println!("  note: {note}");
    }
    const SHOWN: usize = 10;
    for record in range.anomalies.iter().rev().take(SHOWN).rev() {
        println!("  {}", anomaly_line(record));
    }
    if range.anomalies.len() > SHOWN {
        println!(
            "  ... and {} earlier anomalies",
            range.anomalies.len() - SHOWN
        );
    }
    if let Some(alert) = &report.alert {
        crate::output::print_alert_report(alert);
    }
}

/// Renders a run failure for callers outside this module.
pub fn failure_text(e: &Error) -> String {
    error_text(e)
}
