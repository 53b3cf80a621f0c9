//! `dtk backfill` (alias `load-history`): load a metric's history in batches.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use detectk_core::fleet::{Fleet, FleetOptions};
use detectk_core::pipeline::{BackfillOptions, BackfillReport, BatchProgress};
use detectk_core::{ConfigError, Registry};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::Format;
use crate::cli::BackfillArgs;
use crate::commands::{FAILED, INVALID, OK, execution_time, prepare, print_config_errors};
use crate::output::time;
use crate::render::{error_json, error_text, issue_json};

/// Runs `dtk backfill`; returns the exit code. Metrics are loaded one after another.
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
    let show_progress =
        args.format == Format::Text && std::io::stdout().is_terminal() && !args.dry_run;
    // One bar per metric, made at its first batch and cleared when it is done.
    let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
    let progress = |metric: &str, p: BatchProgress| {
        if !show_progress {
            return;
        }
        let mut bars = bars.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bars
            .entry(metric.to_string())
            .or_insert_with(|| new_bar(metric));
        bar.set_length(p.total as u64);
        bar.set_position(p.index as u64);
        bar.set_message(format!("up to {}", time(&p.to)));
    };
    let fleet = Fleet::from_plans(prepared.plans);
    // Metrics are loaded one after another (a later issue adds `--concurrency`).
    let mut outcomes = fleet.backfill_each(options, FleetOptions::with_concurrency(1), &progress);
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut json_metrics = Vec::new();
    while let Some(outcome) = outcomes.next().await {
        let bar = bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&outcome.metric);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match outcome.failure() {
            None => ok += 1,
            Some(_) => failed += 1,
        }
        let (name, result) = (outcome.metric, outcome.result);
        match args.format {
            Format::Text => match &result {
                Ok(report) => print_report(report),
                Err(e) => eprint!("{}", error_text(e)),
            },
            Format::Json => json_metrics.push(match result {
                Ok(report) => json!({"name": name, "status": "ok", "report": report}),
                Err(e) => json!({"name": name, "status": "failed", "error": error_json(&e)}),
            }),
        }
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

fn new_bar(metric: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} batches {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(metric.to_string());
    bar
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
