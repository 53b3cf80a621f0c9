//! `dtk backtest`: replay each metric's detectors and alert policy over its history
//! and score them against labelled incident windows. Writes nothing, sends nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;
use detectk_core::backtest::{
    BacktestOptions, Labels, MetricBacktest, Scores, Tally, backtest_metric,
};
use detectk_core::config::parse_time;
use detectk_core::{ConfigError, ConfigIssue, Registry};
use serde_json::{Value, json};

use crate::args::{Format, Selection};
use crate::commands::{FAILED, INVALID, OK, prepare, print_config_errors, print_warnings};
use crate::output::{num, time};
use crate::render::{error_json, error_text, issue_json};

/// `dtk backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Configs to replay.
    #[command(flatten)]
    pub selection: Selection,
    /// What to replay and score against.
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Also write every replayed point (one row per point and detector) to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// The arguments `dtk backtest` and `dtk tune` share: labels and the replayed range.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Incident windows: YAML (`metric: [[start, end], ...]`), CSV (`metric,start,end`)
    /// or NAB's `combined_windows.json`.
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
    /// First point to score (default: `schedule.start_time`).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the range, exclusive (default: `schedule.end_time`, else now).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Collect the history from the source into memory instead of reading storage.
    #[arg(long)]
    pub collect: bool,
}

impl ReplayArgs {
    /// The replay options at `now`.
    pub fn options(&self, now: DateTime<Utc>) -> Result<BacktestOptions, ConfigError> {
        Ok(BacktestOptions {
            from: time_arg("--from", self.from.as_deref())?,
            to: time_arg("--to", self.to.as_deref())?,
            collect: self.collect,
            execution_time: now,
        })
    }
}

/// Parses `--from` / `--to` (UTC unless they carry an offset).
pub fn time_arg(flag: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, ConfigError> {
    text.map(|t| {
        parse_time(t, chrono_tz::Tz::UTC)
            .map_err(|e| ConfigError::single(ConfigIssue::new(flag, e)))
    })
    .transpose()
}

/// Reads `--labels`; a problem is a usage error naming the file.
pub fn load_labels(path: &Path) -> Result<Labels, ConfigError> {
    Labels::load(path).map_err(|e| {
        ConfigError::single(
            ConfigIssue::new("--labels", e.to_string())
                .with_hint("see docs/backtesting.md for the labels file forms"),
        )
    })
}

/// Counts summed per detector ID and for the alert decision over all metrics.
#[derive(Default)]
struct Totals {
    detectors: Vec<(String, String, Value, Tally)>,
    alert: Tally,
    metrics: usize,
}

impl Totals {
    fn add(&mut self, m: &MetricBacktest) {
        self.metrics += 1;
        self.alert.add(&m.alert.tally);
        for d in &m.detectors {
            match self.detectors.iter_mut().find(|(id, ..)| *id == d.info.id) {
                Some((.., tally)) => tally.add(&d.tally),
                None => self.detectors.push((
                    d.info.id.clone(),
                    d.info.kind.clone(),
                    d.info.params.clone(),
                    d.tally,
                )),
            }
        }
    }

    fn json(&self) -> Value {
        json!({
            "metrics": self.metrics,
            "detectors": self.detectors.iter().map(|(id, kind, params, tally)| json!({
                "id": id, "kind": kind, "params": params, "tally": tally, "scores": tally.scores(),
            })).collect::<Vec<_>>(),
            "alert": {"tally": self.alert, "scores": self.alert.scores()},
        })
    }
}

fn score_line(label: &str, tally: &Tally, scores: &Scores, per: &str) -> String {
    format!(
        "  {label:<28} caught {}/{}  P {:.3}  R {:.3}  F1 {:.3}  false events/1000 pts {}  {per}/week {}",
        tally.hits,
        tally.windows,
        scores.precision,
        scores.recall,
        scores.f1,
        num((scores.false_events_per_1000 * 100.0).round() / 100.0),
        num((scores.per_week * 100.0).round() / 100.0),
    )
}

fn print_metric(m: &MetricBacktest) {
    println!(
        "{}: [{} .. {}) {} point(s), {} labelled window(s){}",
        m.metric,
        time(&m.from),
        time(&m.to),
        m.points,
        m.windows.len(),
        m.labels_key
            .as_ref()
            .map(|k| format!(" ({k})"))
            .unwrap_or_default()
    );
    for d in &m.detectors {
        let label = format!("detector {} ({})", d.info.id, d.info.kind);
        println!("{}", score_line(&label, &d.tally, &d.scores, "anomalies"));
    }
    println!(
        "{}",
        score_line("alerts sent", &m.alert.tally, &m.alert.scores, "alerts")
    );
    for note in &m.notes {
        println!("  note: {note}");
    }
}

fn write_csv(path: &Path, results: &[MetricBacktest]) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(
        out,
        "metric,timestamp,value,detector_id,verdict,score,lower_bound,upper_bound,alert_sent,in_window"
    )?;
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for m in results {
        for row in &m.rows {
            for (d, v) in m.detectors.iter().zip(&row.verdicts) {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{}",
                    m.metric,
                    row.timestamp.to_rfc3339(),
                    opt(row.value),
                    d.info.id,
                    v.state,
                    opt(v.score),
                    opt(v.lower_bound),
                    opt(v.upper_bound),
                    row.alert_sent,
                    row.in_window
                )?;
            }
        }
    }
    out.flush()
}

/// Runs `dtk backtest`; returns the exit code.
pub async fn backtest(registry: &Registry, args: &BacktestArgs) -> Result<u8, ConfigError> {
    let now = Utc::now();
    let options = args.replay.options(now)?;
    let labels = load_labels(&args.replay.labels)?;
    let prepared = prepare(registry, &args.selection, now)?;
    if args.format == Format::Text {
        print_config_errors(&prepared.errors);
        for plan in &prepared.plans {
            print_warnings(&plan.warnings);
        }
    }
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for plan in &prepared.plans {
        match backtest_metric(plan, &labels, &args.replay.labels, &options).await {
            Ok(r) => results.push(r),
            Err(e) => failures.push((plan.config.name.clone(), e)),
        }
    }
    let mut totals = Totals::default();
    for r in &results {
        totals.add(r);
    }
    if let Some(path) = &args.csv
        && let Err(e) = write_csv(path, &results)
    {
        eprintln!("error: cannot write {}: {e}", path.display());
        return Ok(FAILED);
    }
    match args.format {
        Format::Text => {
            for r in &results {
                print_metric(r);
            }
            for (_, e) in &failures {
                eprint!("{}", error_text(e));
            }
            println!(
                "Totals over {} metric(s) (counts summed, then ratios):",
                totals.metrics
            );
            for (id, kind, _, tally) in &totals.detectors {
                let label = format!("detector {id} ({kind})");
                println!(
                    "{}",
                    score_line(&label, tally, &tally.scores(), "anomalies")
                );
            }
            println!(
                "{}",
                score_line(
                    "alerts sent",
                    &totals.alert,
                    &totals.alert.scores(),
                    "alerts"
                )
            );
            println!("(backtest: nothing written, nothing sent)");
        }
        Format::Json => {
            let mut metrics: Vec<Value> = results
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                .collect();
            for (name, e) in &failures {
                metrics.push(json!({"metric": name, "status": "failed", "error": error_json(e)}));
            }
            let invalid: Vec<Value> = prepared
                .errors
                .iter()
                .map(|e| json!({"errors": e.issues.iter().map(issue_json).collect::<Vec<_>>()}))
                .collect();
            let doc = json!({
                "labels": args.replay.labels.display().to_string(),
                "metrics": metrics,
                "invalid": invalid,
                "totals": totals.json(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(if !prepared.errors.is_empty() {
        INVALID
    } else if !failures.is_empty() {
        FAILED
    } else {
        OK
    })
}
