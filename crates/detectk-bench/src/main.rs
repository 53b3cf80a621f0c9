//! `fleet-bench`: generate a fleet of DetectK metrics and measure `dtk` on it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use detectk_bench::bench::{FleetResult, RunOptions, run_fleet};
use detectk_bench::floor::measure_floor;
use detectk_bench::generate::{self, DEFAULT_END, GenerateOptions};
use detectk_bench::measure::measure_child;
use detectk_bench::table;
use detectk_bench::{AlerterChoice, BenchError, Manifest, StorageChoice};

/// The fleet benchmark of DetectK.
///
/// A fleet is a directory: `source.db` (SQLite; table `series_points(series_id, ts,
/// value)` with one realistic 10-minute series per metric), `detectk_project.yaml`,
/// `metrics/fleet_NNNNN.yaml` (one config per metric: `type: sql` collector on the source,
/// `storage`, a `mad` detector over 30 days and a `zscore` detector over 7 days),
/// `fleet.json` (what was generated) and, with SQLite storage, `detectk.db`.
///
/// Typical use:
///
///   fleet-bench generate --metrics 1000 --days 31 --dir fleets/f1000
///   dtk backfill fleets/f1000 --execution-time '2026-01-01 00:00:00' --concurrency 4
///   fleet-bench advance --dir fleets/f1000 --intervals 1    # prints the new execution time
///   dtk run fleets/f1000 --execution-time '2026-01-01 00:10:00'
#[derive(Debug, Parser)]
#[command(name = "fleet-bench", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Storage {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Alerter {
    None,
    Webhook,
}

/// How a fleet is generated (besides its size).
#[derive(Debug, Clone, clap::Args)]
struct StorageArgs {
    /// Where the metrics store DetectK's tables: `detectk.db` in DIR, or PostgreSQL.
    #[arg(long, value_enum, default_value_t = Storage::Sqlite)]
    storage: Storage,
    /// PostgreSQL URL for --storage postgres.
    #[arg(long, default_value = "postgresql://postgres@127.0.0.1:5432/postgres")]
    pg_url: String,
    /// PostgreSQL schema of the fleet's tables (dropped and recreated); default `bench_<METRICS>`.
    #[arg(long)]
    pg_schema: Option<String>,
    /// The metrics' alerter: none, or a generic webhook posting to --webhook-url.
    #[arg(long, value_enum, default_value_t = Alerter::None)]
    alerter: Alerter,
    /// URL of --alerter webhook.
    #[arg(long, default_value = "http://127.0.0.1:18099/fleet-bench")]
    webhook_url: String,
    /// Each query also returns the point's hour as a context column (`context_columns:
    /// [hour_of_day]`), which the MAD detector uses as its seasonal feature.
    #[arg(long)]
    context_column: bool,
    /// End of the data (exclusive, UTC, on the 10-minute grid): the fleet's "now".
    #[arg(long, default_value = DEFAULT_END)]
    end: String,
    /// Seed of the values.
    #[arg(long, default_value_t = 11)]
    seed: u64,
}

impl StorageArgs {
    fn options(&self, metrics: u32, days: u32) -> Result<GenerateOptions, BenchError> {
        let storage = match self.storage {
            Storage::Sqlite => StorageChoice::Sqlite,
            Storage::Postgres => StorageChoice::Postgres {
                url: self.pg_url.clone(),
                schema: self
                    .pg_schema
                    .clone()
                    .unwrap_or_else(|| format!("bench_{metrics}")),
            },
        };
        let alerter = match self.alerter {
            Alerter::None => AlerterChoice::None,
            Alerter::Webhook => AlerterChoice::Webhook {
                url: self.webhook_url.clone(),
            },
        };
        Ok(GenerateOptions {
            metrics,
            days,
            seed: self.seed,
            end: generate::parse_time(&self.end)?,
            storage,
            alerter,
            context_column: self.context_column,
        })
    }
}

/// How `dtk` is measured.
#[derive(Debug, Clone, clap::Args)]
struct MeasureArgs {
    /// The `dtk` binary to measure (a release build: `cargo build --release -p detectk-cli`).
    #[arg(long)]
    dtk: PathBuf,
    /// `--concurrency` of `dtk backfill` and `dtk run`.
    #[arg(long, default_value_t = 4)]
    concurrency: u32,
    /// Real ticks to measure (each followed by an idle tick); medians are reported.
    #[arg(long, default_value_t = 3)]
    ticks: u32,
    /// Skip the history load and tick on what is stored.
    #[arg(long)]
    no_load: bool,
}

impl MeasureArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            dtk: self.dtk.clone(),
            concurrency: self.concurrency,
            ticks: self.ticks,
            load: !self.no_load,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a fresh fleet into DIR (replacing its source, configs and storage).
    ///
    /// Deterministic: the same arguments give the same files. The data covers DAYS days
    /// of 10-minute intervals ending at --end (exclusive); every metric's
    /// `schedule.start_time` is the first of them, so `dtk backfill DIR --execution-time END`
    /// loads the whole history and `dtk run DIR --execution-time END` has nothing new.
    Generate {
        /// Number of metrics (series).
        #[arg(long)]
        metrics: u32,
        /// Days of history per series.
        #[arg(long, default_value_t = 31)]
        days: u32,
        /// The fleet directory (created if missing).
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Measure `dtk` on the fleet in DIR: history load, then real and idle ticks; prints
    /// a markdown table (one row per case) and the fleet's row of the cost curve on stdout.
    ///
    /// The history load empties the storage and runs `dtk backfill DIR --execution-time END
    /// --concurrency C`. Each tick appends one interval to every series (as `advance`),
    /// runs `dtk run DIR --execution-time T --concurrency C` (the real tick), then the same
    /// command again (the idle tick: nothing new). Each command runs under a fresh
    /// `fleet-bench measure` process, so wall time, user+sys CPU and peak RSS are the
    /// command's own (getrusage RUSAGE_CHILDREN). Afterwards the stored rows are checked
    /// against what the fleet implies.
    Run {
        /// The fleet directory (from `generate`).
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        measure: MeasureArgs,
    },
    /// The per-metric cost curve: for each size, generate a fleet under BASE_DIR, run it
    /// as `run` does, and print the curve table (then the per-case rows).
    Curve {
        /// Directory for the fleets (BASE_DIR/curve-N[-pg]).
        #[arg(long)]
        base_dir: PathBuf,
        /// Fleet sizes.
        #[arg(long, value_delimiter = ',', default_value = "100,300,1000,3000,10000")]
        sizes: Vec<u32>,
        /// Days of history per series.
        #[arg(long, default_value_t = 31)]
        days: u32,
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        measure: MeasureArgs,
        /// Keep each fleet (default: deleted after it is measured).
        #[arg(long)]
        keep: bool,
    },
    /// The storage engine's floor under the fleet's history load: copy its stored points
    /// and detections into fresh tables of the same schema inside the same engine
    /// (`INSERT ... SELECT`, one transaction), and print what that cost. Needs a loaded
    /// history; the copy is deleted afterwards.
    ///
    /// Every insert and index update of a load, without parsing, binding or detection:
    /// no history load can be faster than this on the same engine and machine.
    Floor {
        /// The fleet directory (history loaded).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Serve the HTTP endpoint the fleet's webhook alerters post to (`generate --alerter
    /// webhook`): answer every request at once and append each body as a line to --out.
    /// Prints `listening on http://ADDR`, then runs until stopped.
    Receive {
        /// Address to listen on (`127.0.0.1:0`: any free port).
        #[arg(long, default_value = "127.0.0.1:18099")]
        addr: String,
        /// File the request bodies are appended to, one per line.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// (internal) Run CMD as the only child and print its usage as one JSON line.
    #[command(hide = true)]
    Measure {
        /// Where the command's stderr goes.
        #[arg(long)]
        stderr: PathBuf,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Append the next K points to every series of the fleet in DIR (the next cron
    /// intervals), and print the execution time at which they are all complete.
    Advance {
        /// The fleet directory.
        #[arg(long)]
        dir: PathBuf,
        /// Intervals to append.
        #[arg(long, default_value_t = 1)]
        intervals: u32,
    },
}

async fn run(cli: Cli) -> Result<(), BenchError> {
    match cli.command {
        Command::Generate {
            metrics,
            days,
            dir,
            storage,
        } => {
            let options = storage.options(metrics, days)?;
            let written = generate::generate(&dir, &options).await?;
            eprintln!(
                "generated {} metrics, {} source rows in {:.1} s into {}",
                metrics,
                written.rows,
                written.seconds,
                dir.display()
            );
            println!("{}", written.manifest.end.format("%Y-%m-%d %H:%M:%S"));
        }
        Command::Run { dir, measure } => {
            let result = run_fleet(&dir, &measure.options()).await?;
            print_cases(std::slice::from_ref(&result))?;
            println!();
            println!("{}", table::CURVE_HEADER);
            println!("{}", table::curve_row(&result));
        }
        Command::Curve {
            base_dir,
            sizes,
            days,
            storage,
            measure,
            keep,
        } => {
            let mut results = Vec::new();
            for metrics in sizes {
                let suffix = match storage.storage {
                    Storage::Sqlite => "",
                    Storage::Postgres => "-pg",
                };
                let dir = base_dir.join(format!("curve-{metrics}{suffix}"));
                let options = storage.options(metrics, days)?;
                let written = generate::generate(&dir, &options).await?;
                eprintln!(
                    "generated {metrics} metrics ({} rows) in {:.1} s",
                    written.rows, written.seconds
                );
                let result = run_fleet(&dir, &measure.options()).await?;
                eprintln!("{}", table::curve_row(&result));
                if !keep {
                    detectk_bench::storage::reset(&dir, &result.manifest.storage).await?;
                    std::fs::remove_dir_all(&dir).map_err(|e| BenchError::io(&dir, e))?;
                }
                results.push(result);
            }
            println!("{}", table::CURVE_HEADER);
            for result in &results {
                println!("{}", table::curve_row(result));
            }
            println!();
            print_cases(&results)?;
        }
        Command::Floor { dir } => {
            let manifest = Manifest::load(&dir)?;
            let floor = measure_floor(&dir, &manifest.storage).await?;
            println!("{}: {}", manifest.metrics, table::machine_line());
            println!();
            println!("{}", table::FLOOR_HEADER);
            println!("{}", table::floor_row(&manifest, &floor));
        }
        Command::Receive { addr, out } => {
            detectk_bench::receive::receive(&addr, out.as_deref()).await?;
        }
        Command::Measure { stderr, command } => {
            let (program, args) = command.split_first().expect("clap requires a command");
            let usage = measure_child(program, args, &stderr)?;
            println!(
                "{}",
                serde_json::to_string(&usage).expect("usage serialises")
            );
        }
        Command::Advance { dir, intervals } => {
            let written = generate::advance(&dir, intervals).await?;
            eprintln!(
                "appended {} source rows in {:.2} s",
                written.rows, written.seconds
            );
            println!("{}", written.manifest.end.format("%Y-%m-%d %H:%M:%S"));
        }
    }
    Ok(())
}

/// Prints the per-case table of measured fleets; an error if a fleet's stored rows are
/// not the ones it implies.
fn print_cases(results: &[FleetResult]) -> Result<(), BenchError> {
    for result in results {
        println!(
            "{} metrics: at start {}",
            result.manifest.metrics, result.machine_at_start
        );
    }
    println!("at end: {}", table::machine_line());
    println!();
    println!("{}", table::CASE_HEADER);
    for result in results {
        for row in table::case_rows(result) {
            println!("{row}");
        }
    }
    for result in results {
        let (points, detections) = result.expected_rows();
        if !result.rows_ok() {
            return Err(BenchError::Usage(format!(
                "fleet of {} metrics: stored {} datapoints and {} detections; expected {points} and {detections}",
                result.manifest.metrics, result.stored.datapoints, result.stored.detections
            )));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
