//! `dtk backfill` (alias `load-history`): load a metric's history in batches.

use std::collections::HashMap;
use std::sync::Mutex;

use detectk_core::fleet::{Fleet, FleetOptions};
use detectk_core::pipeline::{BackfillOptions, BackfillReport, BatchProgress};
use detectk_core::{ConfigError, Registry};
use futures::StreamExt;
use serde_json::json;

use crate::args::Format;
use crate::cli::BackfillArgs;
use crate::commands::{FAILED, INVALID, OK, execution_time, prepare, print_config_errors};
use crate::output::time;
use crate::progress::FleetProgress;
use crate::render::{error_json, error_text, issue_json};

/// Runs `dtk backfill`; returns the exit code. Metrics are loaded
/// `--concurrency` at a time (default 4, as `dtk run`).
pub async fn backfill(registry: &Registry, args: &BackfillArgs) -> Result<u8, ConfigError> {
    let at = execution_time(args.execution_time.as_deref())?;
    let prepared = prepare(registry, &args.selection, at)?;
    if args.format == Format::Text {
        print_config_errors(&prepared.errors);
        for plan in &prepared.plans {
            crate::commands::print_warnings(&plan.warnings);
        }
    }
    let options = BackfillOptions {
        execution_time: at,
        dry_run: args.dry_run,
        force: args.force,
        detect: !args.no_detect,
    };
    let bars = if args.format == Format::Text && !args.dry_run {
        FleetProgress::on_terminal(prepared.plans.len())
    } else {
        None
    };
    let intervals: HashMap<String, chrono::TimeDelta> = prepared
        .plans
        .iter()
        .map(|p| (p.config.name.clone(), p.config.schedule.interval.delta()))
        .collect();
    // The bars and the metric they show; batches of another metric switch them.
    let bars = Mutex::new(bars.map(|b| (b, String::new())));
    let progress = |metric: &str, p: BatchProgress| {
        let mut guard = bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bars, current)) = guard.as_mut() {
            if current != metric {
                bars.start_metric(metric);
                *current = metric.to_string();
            }
            if let Some(interval) = intervals.get(metric) {
                bars.batch(p, *interval);
            }
        }
    };
    let fleet = Fleet::from_plans(prepared.plans);
    let mut outcomes = fleet.backfill_each(
        options,
        FleetOptions::with_concurrency(args.concurrency),
        &progress,
    );
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut json_metrics = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        let mut guard = bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bars, current)) = guard.as_mut() {
            bars.finish_metric();
            current.clear();
        }
        match outcome.failure() {
            None => ok += 1,
            Some(_) => failed += 1,
        }
        let (name, result) = (outcome.metric, outcome.result);
        match args.format {
            Format::Text => {
                let print = || match &result {
                    Ok(report) => print_report(report),
                    Err(e) => eprint!("{}", error_text(e)),
                };
                match guard.as_ref() {
                    Some((bars, _)) => bars.suspend(print),
                    None => print(),
                }
            }
            Format::Json => json_metrics.push(match result {
                Ok(report) => json!({"name": name, "status": "ok", "report": report}),
                Err(e) => json!({"name": name, "status": "failed", "error": error_json(&e)}),
            }),
        }
    }
    drop(outcomes);
    if let Some((bars, _)) = bars.into_inner().unwrap_or_else(|e| e.into_inner()) {
        bars.finish();
    }
    let invalid = prepared.errors.len();
    if args.format == Format::Json {
        for e in &prepared.errors {
            json_metrics.push(json!({
                "file": e.issues.first().and_then(|i| i.file.as_ref()).map(|f| f.display().to_string()),
                "status": "invalid",
                "errors": e.issues.iter().map(issue_json).collect::<Vec<_>>(),
            }));
        }
        let doc = json!({"metrics": json_metrics, "summary": {"ok": ok, "failed": failed, "invalid": invalid}});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    Ok(if invalid > 0 {
        INVALID
    } else if failed > 0 {
        FAILED
    } else {
        OK
    })
}

fn print_report(r: &BackfillReport) {
    if crate::output::quiet() && !r.dry_run {
        return;
    }
    if r.dry_run {
        let resumed = r
            .resumed_from
            .map(|t| format!(", resuming from checkpoint {}", time(&t)))
            .unwrap_or_default();
        println!(
            "{}: would load [{} .. {}) in {} batch(es){resumed}",
            r.metric,
            time(&r.start),
            time(&r.end),
            r.batches.len()
        );
        for (from, to) in &r.batches {
            println!("  batch [{} .. {})", time(from), time(to));
        }
        return;
    }
    if r.batches.is_empty() {
        println!(
            "{}: already loaded [{} .. {}); nothing to do (use --force to reload)",
            r.metric,
            time(&r.start),
            time(&r.end)
        );
        return;
    }
    let resumed = r
        .resumed_from
        .map(|t| format!(" (resumed from {})", time(&t)))
        .unwrap_or_default();
    println!(
        "{}: loaded {} point(s) in {} batch(es) [{} .. {}){resumed}, {} missing; {} detection(s), {} anomal{}",
        r.metric,
        r.range.points,
        r.batches.len(),
        time(&r.start),
        time(&r.end),
        r.range.missing,
        r.range.detections,
        r.range.anomalies.len(),
        if r.range.anomalies.len() == 1 {
            "y"
        } else {
            "ies"
        }
    );
    let mut notes = r.range.notes.clone();
    notes.dedup();
    for note in notes {
        println!("  note: {note}");
    }
}
