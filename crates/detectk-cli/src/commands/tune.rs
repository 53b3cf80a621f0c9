//! `dtk tune`: search detector settings and alert policies against labelled incidents
//! and print the best as a YAML block to paste.

use std::time::Instant;

use chrono::Utc;
use clap::Args;
use detectk_core::backtest::tune::{
    DEFAULT_GRID, Objective, Ranked, TuneSeries, parse_grid, search, yaml_block,
};
use detectk_core::backtest::{load_series, resolve_range};
use detectk_core::{ConfigError, ConfigIssue, Registry};
use serde_json::json;

use crate::args::{Format, Selection};
use crate::commands::backtest::{ReplayArgs, load_labels};
use crate::commands::{FAILED, INVALID, OK, prepare, print_config_errors};
use crate::render::error_text;

/// `dtk tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Configs whose history to tune on (one setting is searched for all of them).
    #[command(flatten)]
    pub selection: Selection,
    /// Labels and the replayed range, as for `dtk backtest`.
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// The search grid: a YAML file, or YAML text (default: the built-in grid).
    #[arg(long, value_name = "FILE|YAML")]
    pub grid: Option<String>,
    /// Rank by recall among settings sending at most this many alerts per metric and week.
    #[arg(long, value_name = "ALERTS_PER_WEEK")]
    pub budget: Option<f64>,
    /// How many ranked settings to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Threads for the search (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print the built-in grid and exit.
    #[arg(long, conflicts_with = "grid")]
    pub show_grid: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn grid_text(arg: Option<&str>) -> Result<String, ConfigError> {
    let Some(arg) = arg else {
        return Ok(DEFAULT_GRID.to_string());
    };
    let path = std::path::Path::new(arg);
    if path.is_file() {
        return std::fs::read_to_string(path).map_err(|e| {
            ConfigError::single(ConfigIssue::new(
                "--grid",
                format!("cannot read {}: {e}", path.display()),
            ))
        });
    }
    Ok(arg.to_string())
}

fn row(rank: usize, r: &Ranked) -> String {
    let params = serde_json::to_string(&r.detector.params).unwrap_or_default();
    let conditions = serde_json::to_string(&r.policy.conditions).unwrap_or_default();
    format!(
        "{rank:>3}. F1 {:.3}  R {:.3}  P {:.3}  caught {}/{}  false events/1000 {:.2}  alerts/week {:.2}  {} {params} {conditions}",
        r.scores.f1,
        r.scores.recall,
        r.scores.precision,
        r.tally.hits,
        r.tally.windows,
        r.scores.false_events_per_1000,
        r.scores.per_week,
        r.detector.kind,
    )
}

/// Runs `dtk tune`; returns the exit code.
pub async fn tune(registry: &Registry, args: &TuneArgs) -> Result<u8, ConfigError> {
    if args.show_grid {
        print!("{DEFAULT_GRID}");
        return Ok(OK);
    }
    let now = Utc::now();
    let grid = parse_grid(&grid_text(args.grid.as_deref())?, registry).map_err(|problems| {
        ConfigError {
            issues: problems
                .into_iter()
                .map(|p| ConfigIssue::new("--grid", p))
                .collect(),
        }
    })?;
    let options = args.replay.options(now)?;
    let labels = load_labels(&args.replay.labels)?;
    let prepared = prepare(registry, &args.selection, now)?;
    if args.format == Format::Text {
        print_config_errors(&prepared.errors);
    }
    if !prepared.errors.is_empty() {
        return Ok(INVALID);
    }
    let mut inputs = Vec::new();
    for plan in &prepared.plans {
        let metric = plan.config.name.as_str();
        let loaded = async {
            let (from, to) = resolve_range(plan, &options)?;
            let (series, _) = load_series(plan, from, to, options.collect, now).await?;
            Ok::<_, detectk_core::Error>((from, to, series))
        }
        .await;
        let (from, to, series) = match loaded {
            Ok(x) => x,
            Err(e) => {
                eprint!("{}", error_text(&e));
                return Ok(FAILED);
            }
        };
        let key = plan
            .config
            .metadata
            .get("labels_key")
            .and_then(|v| v.as_str());
        let windows = match labels.find(metric, key, &args.replay.labels) {
            Ok(found) => found.map(|(_, w)| w.to_vec()).unwrap_or_default(),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(INVALID);
            }
        };
        inputs.push(TuneSeries {
            metric: metric.to_string(),
            series,
            from,
            to,
            interval: plan.config.schedule.interval.delta(),
            windows,
        });
    }
    let objective = match args.budget {
        Some(b) => Objective::RecallWithin(b),
        None => Objective::F1,
    };
    let started = Instant::now();
    let ranked = match tokio::task::block_in_place(|| {
        search(registry, &grid, &inputs, objective, args.threads)
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(FAILED);
        }
    };
    let elapsed = started.elapsed();
    let points: usize = inputs.iter().map(|i| i.series.len()).sum();
    let Some(best) = ranked.first() else {
        eprintln!("error: the grid has no candidate");
        return Ok(INVALID);
    };
    match args.format {
        Format::Text => {
            println!(
                "{} setting(s) ({} detector x {} policy) over {} metric(s), {points} point(s), in {:.2} s",
                grid.size(),
                grid.detectors.len(),
                grid.policies.len(),
                inputs.len(),
                elapsed.as_secs_f64()
            );
            match objective {
                Objective::F1 => println!("Ranked by event F1 of the alerts sent:"),
                Objective::RecallWithin(b) => {
                    println!("Ranked by recall within {b} alerts per metric-week:")
                }
            }
            for (i, r) in ranked.iter().take(args.top.max(1)).enumerate() {
                println!("{}", row(i + 1, r));
            }
            println!("\nBest setting (paste into the metric config):\n");
            print!("{}", yaml_block(best));
        }
        Format::Json => {
            let doc = json!({
                "candidates": grid.size(),
                "metrics": inputs.len(),
                "points": points,
                "seconds": elapsed.as_secs_f64(),
                "results": ranked.iter().take(args.top.max(1)).collect::<Vec<_>>(),
                "best_yaml": yaml_block(best),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(OK)
}
