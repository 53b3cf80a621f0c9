//! Command-line definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::args::{Format, Selection};

/// DetectK: collect metrics from SQL databases, detect anomalies, send alerts.
#[derive(Debug, Parser)]
#[command(name = "dtk", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: info, -vv: debug, -vvv: trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors: no reports or summaries (alerts and `--format json` output still print).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Project root: profiles are read from DIR/detectk_profiles.yaml. Default: the nearest
    /// ancestor of the configs holding detectk_profiles.yaml or detectk_project.yaml, else
    /// the working directory.
    #[arg(long, global = true, env = "DETECTK_PROJECT_DIR", value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect new intervals, detect anomalies and send alerts for each metric.
    Run(RunArgs),
    /// Check configs without connecting to anything.
    Validate(ValidateArgs),
    /// Load `schedule.start_time..end_time` in batches (detection on, alerts off).
    #[command(alias = "load-history")]
    Backfill(BackfillArgs),
    /// Write a new metric config.
    Init(InitArgs),
    /// Create a project: metrics folder, profiles, and (for SQLite) a sample database.
    InitProject(InitProjectArgs),
    /// List the collector types of this build.
    ListCollectors(ListArgs),
    /// List the detector types of this build.
    ListDetectors(ListArgs),
    /// List the alerter types of this build.
    ListAlerters(ListArgs),
    /// List the metrics found in configs.
    ListMetrics(ListMetricsArgs),
    /// Send a sample message through a metric's alerter.
    TestAlert(TestAlertArgs),
    /// Replay detectors and the alert policy over history and score them against labelled incidents.
    Backtest(crate::commands::backtest::BacktestArgs),
    /// Search detector settings and alert policies against labelled incidents.
    Tune(crate::commands::tune::TuneArgs),
    /// Connect to every source, storage and alerter endpoint the selected configs use
    /// (no alert is sent) and report each as ok or the error.
    Debug(DebugArgs),
    /// Print the query the next `dtk run` would send, with its period.
    Compile(CompileArgs),
    /// Write one self-contained HTML report: per metric the series, bands, anomalies,
    /// alerts sent and suppressed (with why), missing points; and a fleet summary.
    Report(ReportArgs),
    /// Draw one metric's chart (series, bands, anomalies, alerts) as a PNG or SVG image.
    Plot(PlotArgs),
    /// Hold back a metric's alerts for a while (kept in storage: every runner sees it).
    Snooze(crate::commands::holds::SnoozeArgs),
    /// Remove a metric's snooze.
    Unsnooze(crate::commands::holds::UnsnoozeArgs),
    /// Acknowledge a metric's open incident: no repeated alerts until it is normal again.
    Ack(crate::commands::holds::AckArgs),
    /// List the snoozes and acknowledgements in force.
    Snoozes(crate::commands::holds::SnoozesArgs),
}

impl Command {
    /// The command's `--concurrency`, when it has one.
    pub fn concurrency(&self) -> Option<usize> {
        match self {
            Command::Run(a) => Some(a.concurrency),
            Command::Backfill(a) => Some(a.concurrency),
            Command::Report(a) => Some(a.concurrency),
            _ => None,
        }
    }
}

/// Arguments of `dtk report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Config files or directories (default: the working directory).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Only metrics matching: `tag:NAME`, a name, or a glob on names. Repeatable.
    #[arg(short, long)]
    pub select: Vec<String>,
    /// Leave out metrics matching. Repeatable.
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Start of the period, UTC unless it carries an offset (default: 7 days before --to).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the period, exclusive (default: now).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// The HTML file to write (replaced atomically).
    #[arg(short, long, default_value = "report.html")]
    pub output: PathBuf,
    /// Metrics read from storage at the same time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// Arguments of `dtk plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The metric's config file.
    pub config: PathBuf,
    /// Start of the period, UTC unless it carries an offset (default: 7 days before --to).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the period, exclusive (default: now).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// The image to write: `.png` or `.svg`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1200)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 420)]
    pub height: u32,
}

/// Arguments of `dtk debug`.
#[derive(Debug, Args)]
pub struct DebugArgs {
    /// Config files or directories (default: the working directory).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Only metrics matching: `tag:NAME`, a name, or a glob on names. Repeatable.
    #[arg(short, long)]
    pub select: Vec<String>,
    /// Leave out metrics matching. Repeatable.
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `dtk compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The metric's config file.
    pub config: PathBuf,
    /// The run's time (default now), UTC unless it carries an offset.
    #[arg(long, value_name = "TIME")]
    pub execution_time: Option<String>,
    /// Do not read the storage: assume the first run (or the range start given by `--from`).
    #[arg(long)]
    pub offline: bool,
    /// Assume the range starts at TIME (implies `--offline`).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `dtk run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configs to run.
    #[command(flatten)]
    pub selection: Selection,
    /// Run as if it were this time (`YYYY-MM-DD HH:MM:SS` UTC, or RFC 3339). Default: now.
    #[arg(long, value_name = "TIME")]
    pub execution_time: Option<String>,
    /// Collect and detect, but write nothing and send nothing; print the alerts that would be sent.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Metrics processed at the same time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// At most N metrics at a time per storage (default: only `--concurrency` bounds them).
    #[arg(long, value_name = "N")]
    pub per_storage: Option<usize>,
    /// At most N metrics at a time per source (default: only `--concurrency` bounds them).
    #[arg(long, value_name = "N")]
    pub per_source: Option<usize>,
    /// Fail a metric that takes longer than SECONDS (the others go on). Default: no limit.
    #[arg(long, value_name = "SECONDS")]
    pub metric_timeout: Option<u64>,
    /// Run only shard I of N (`I/N`, from 0): the metrics whose name's FNV-1a hash
    /// modulo N is I. See docs/scale-out.md.
    #[arg(
        long,
        value_name = "I/N",
        env = "DETECTK_SHARD",
        conflicts_with = "shard_index_env"
    )]
    pub shard: Option<String>,
    /// Read the shard index from this environment variable (e.g. JOB_COMPLETION_INDEX of
    /// a Kubernetes Indexed Job); needs `--shard-count`.
    #[arg(long, value_name = "VAR", requires = "shard_count")]
    pub shard_index_env: Option<String>,
    /// The number of shards, with `--shard-index-env`.
    #[arg(long, value_name = "N", requires = "shard_index_env")]
    pub shard_count: Option<u64>,
    /// After the run, write its metrics (Prometheus text format: last success, duration,
    /// points, lag, anomalies, alerts sent and failed) to PATH, atomically, for the
    /// node_exporter textfile collector. Counters carry over from the previous file.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// After the run, PUT the same metrics to the Prometheus Pushgateway at URL
    /// (`URL/metrics/job/dtk`).
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
}

/// `dtk validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Configs to check.
    #[command(flatten)]
    pub selection: Selection,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `dtk backfill`.
#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// Configs to load.
    #[command(flatten)]
    pub selection: Selection,
    /// Show the batches that would be loaded, and load nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Ignore the checkpoint and reload the whole range.
    #[arg(long)]
    pub force: bool,
    /// Load points only; do not run detectors.
    #[arg(long)]
    pub no_detect: bool,
    /// Cap the range at the newest complete interval at this time. Default: now.
    #[arg(long, value_name = "TIME")]
    pub execution_time: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Metrics loaded at the same time (each metric's batches stay in order).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// `dtk init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// File to write.
    pub file: PathBuf,
    /// Detector type (default: the recommended one of docs/detectors.md).
    #[arg(short, long, default_value = crate::templates::RECOMMENDED_DETECTOR)]
    pub detector: String,
    /// Collector type.
    #[arg(short, long, default_value = "sqlite")]
    pub collector: String,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Database of a new project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Database {
    /// A local SQLite file with sample data (no server needed).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// ClickHouse.
    Clickhouse,
}

/// `dtk init-project`.
#[derive(Debug, Args)]
pub struct InitProjectArgs {
    /// Project directory (created if needed).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Only the folder layout and one metric, no sample data or extra examples.
    #[arg(long)]
    pub minimal: bool,
    /// Database the metrics are read from.
    #[arg(long, value_enum, default_value_t = Database::Sqlite)]
    pub database: Database,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// End of the sample data (default: now); fixed in tests so output is reproducible.
    #[arg(long, hide = true, value_name = "TIME")]
    pub sample_end: Option<String>,
}

/// `dtk list-collectors|list-detectors|list-alerters`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `dtk list-metrics`.
#[derive(Debug, Args)]
pub struct ListMetricsArgs {
    /// Configs to list.
    #[command(flatten)]
    pub selection: Selection,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `dtk test-alert`.
#[derive(Debug, Args)]
pub struct TestAlertArgs {
    /// The metric config whose alerter to use.
    pub config: PathBuf,
}
