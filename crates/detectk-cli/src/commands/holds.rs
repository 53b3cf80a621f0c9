//! `dtk snooze`, `dtk unsnooze`, `dtk ack` and `dtk snoozes`: the holds on a metric's
//! alerts, kept in its alert-state storage (`dtk_alert_holds`) so every runner sees them.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::Args;
use detectk_core::alert::format_time;
use detectk_core::config::parse_time;
use detectk_core::pipeline::MetricPlan;
use detectk_core::traits::{AlertHold, HoldKind};
use detectk_core::{ConfigError, ConfigIssue, Error, HumanDuration, Registry};
use serde_json::json;

use crate::args::{Format, Selection};
use crate::commands::{FAILED, OK, prepare, print_config_errors};
use crate::render::error_text;

/// Which metrics a hold command acts on.
#[derive(Debug, Clone, Args)]
pub struct HoldTarget {
    /// The metric (the same as `--select NAME`).
    pub metric: Option<String>,
    /// Metrics matching: `tag:NAME`, a name, or a glob on names. Repeatable.
    #[arg(short, long)]
    pub select: Vec<String>,
    /// Leave out metrics matching. Repeatable.
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Config files or directories holding the metrics. Repeatable. Default: the working directory.
    #[arg(long = "configs", value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
}

/// `dtk snooze`.
#[derive(Debug, Args)]
pub struct SnoozeArgs {
    /// The metrics to snooze.
    #[command(flatten)]
    pub target: HoldTarget,
    /// How long: `30m`, `2h`, `1d`, `1h 30m`.
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: String,
    /// Why (shown in run reports and `dtk snoozes`).
    #[arg(long)]
    pub reason: Option<String>,
    /// The snooze starts at TIME instead of now (tests).
    #[arg(long, hide = true, value_name = "TIME")]
    pub now: Option<String>,
}

/// `dtk unsnooze`.
#[derive(Debug, Args)]
pub struct UnsnoozeArgs {
    /// The metrics to unsnooze.
    #[command(flatten)]
    pub target: HoldTarget,
}

/// `dtk ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// The metrics whose open incident to acknowledge.
    #[command(flatten)]
    pub target: HoldTarget,
    /// Why (shown in run reports and `dtk snoozes`).
    #[arg(long)]
    pub reason: Option<String>,
}

/// `dtk snoozes`.
#[derive(Debug, Args)]
pub struct SnoozesArgs {
    /// Config files or directories. Default: the working directory.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Only metrics matching. Repeatable.
    #[arg(short, long)]
    pub select: Vec<String>,
    /// Leave out metrics matching. Repeatable.
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The selected metrics' plans; config errors are printed and make the exit code `FAILED`.
fn plans(registry: &Registry, selection: &Selection) -> Result<(Vec<MetricPlan>, u8), ConfigError> {
    let prepared = prepare(registry, selection, Utc::now())?;
    print_config_errors(&prepared.errors);
    let code = if prepared.errors.is_empty() {
        OK
    } else {
        FAILED
    };
    Ok((prepared.plans, code))
}

fn target_selection(target: &HoldTarget) -> Result<Selection, ConfigError> {
    let mut select = target.select.clone();
    select.extend(target.metric.iter().cloned());
    if select.is_empty() {
        return Err(ConfigError::single(
            ConfigIssue::new("METRIC", "name a metric or pass --select")
                .with_hint("e.g. `dtk snooze orders --for 2h` or `--select tag:payments`"),
        ));
    }
    Ok(Selection {
        paths: target.paths.clone(),
        select,
        exclude: target.exclude.clone(),
    })
}

fn time_arg(field: &str, text: Option<&str>) -> Result<DateTime<Utc>, ConfigError> {
    match text {
        None => Ok(Utc::now()),
        Some(t) => parse_time(t, chrono_tz::Tz::UTC)
            .map_err(|e| ConfigError::single(ConfigIssue::new(field, e))),
    }
}

/// Prints a storage error of `plan` and returns `FAILED`.
fn failed(plan: &MetricPlan, source: detectk_core::BackendError) -> u8 {
    let e = Error::Storage {
        metric: plan.config.name.clone(),
        source: Box::new(source),
    };
    eprint!("{}", error_text(&e));
    FAILED
}

/// Sets `hold` (for each selected metric) after creating the tables if needed.
async fn put(plan: &MetricPlan, hold: AlertHold) -> Result<(), detectk_core::BackendError> {
    plan.storage.migrate().await?;
    plan.storage.put_alert_hold(&hold).await
}

fn because(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

/// Runs `dtk snooze`; returns the exit code.
pub async fn snooze(registry: &Registry, args: &SnoozeArgs) -> Result<u8, ConfigError> {
    let duration = HumanDuration::parse(&args.duration)
        .map_err(|e| ConfigError::single(ConfigIssue::new("--for", e)))?;
    let now = time_arg("--now", args.now.as_deref())?;
    let until = now
        .checked_add_signed(duration.delta())
        .ok_or_else(|| ConfigError::single(ConfigIssue::new("--for", "too long")))?;
    let (plans, mut code) = plans(registry, &target_selection(&args.target)?)?;
    for plan in &plans {
        let name = &plan.config.name;
        let hold = AlertHold::new(name.as_str(), HoldKind::Snooze, now)
            .until(until)
            .reason(args.reason.clone());
        match put(plan, hold).await {
            Ok(()) => println!(
                "snoozed `{name}` until {}{}",
                format_time(until),
                because(args.reason.as_deref())
            ),
            Err(e) => code = failed(plan, e),
        }
    }
    Ok(code)
}

/// Runs `dtk unsnooze`; returns the exit code.
pub async fn unsnooze(registry: &Registry, args: &UnsnoozeArgs) -> Result<u8, ConfigError> {
    let (plans, mut code) = plans(registry, &target_selection(&args.target)?)?;
    for plan in &plans {
        let name = &plan.config.name;
        let removed = async {
            plan.storage.migrate().await?;
            plan.storage.remove_alert_hold(name, HoldKind::Snooze).await
        };
        match removed.await {
            Ok(true) => println!("unsnoozed `{name}`"),
            Ok(false) => println!("`{name}` was not snoozed"),
            Err(e) => code = failed(plan, e),
        }
    }
    Ok(code)
}

/// Runs `dtk ack`; returns the exit code.
pub async fn ack(registry: &Registry, args: &AckArgs) -> Result<u8, ConfigError> {
    let (plans, mut code) = plans(registry, &target_selection(&args.target)?)?;
    for plan in &plans {
        let name = &plan.config.name;
        let hold =
            AlertHold::new(name.as_str(), HoldKind::Ack, Utc::now()).reason(args.reason.clone());
        match put(plan, hold).await {
            Ok(()) => println!(
                "acknowledged `{name}`{}: no anomaly alert until it is normal again",
                because(args.reason.as_deref())
            ),
            Err(e) => code = failed(plan, e),
        }
    }
    Ok(code)
}

/// Runs `dtk snoozes`: the snoozes and acks in force; returns the exit code.
pub async fn snoozes(registry: &Registry, args: &SnoozesArgs) -> Result<u8, ConfigError> {
    let selection = Selection {
        paths: args.paths.clone(),
        select: args.select.clone(),
        exclude: args.exclude.clone(),
    };
    let (plans, mut code) = plans(registry, &selection)?;
    let now = Utc::now();
    let mut holds: Vec<AlertHold> = Vec::new();
    for plan in &plans {
        let loaded = async {
            plan.storage.migrate().await?;
            plan.storage.load_alert_holds(&plan.config.name).await
        };
        match loaded.await {
            Ok(found) => holds.extend(found.into_iter().filter(|h| h.active_at(now))),
            Err(e) => code = failed(plan, e),
        }
    }
    match args.format {
        Format::Json => {
            let doc = json!({ "holds": holds });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text if holds.is_empty() => println!("no metric is snoozed or acknowledged"),
        Format::Text => {
            for h in &holds {
                let what = match h.until {
                    Some(until) => format!("snoozed until {}", format_time(until)),
                    None => format!("acknowledged at {}", format_time(h.created_at)),
                };
                println!("{}  {what}{}", h.metric, because(h.reason.as_deref()));
            }
        }
    }
    Ok(code)
}
