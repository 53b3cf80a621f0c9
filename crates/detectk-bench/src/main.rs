//! `fleet-bench`: generate a fleet of DetectK metrics and measure `dtk` on it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use detectk_bench::generate::{self, DEFAULT_END, GenerateOptions};
use detectk_bench::{AlerterChoice, BenchError, StorageChoice};

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
///   fleet-bench generate --metrics 1000 --days 31 --dir /work/bench-data/f1000
///   dtk backfill /work/bench-data/f1000 --execution-time '2026-01-01 00:00:00' --concurrency 4
///   fleet-bench advance --dir /work/bench-data/f1000 --intervals 1    # prints the new execution time
///   dtk run /work/bench-data/f1000 --execution-time '2026-01-01 00:10:00'
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
        /// Where the metrics store DetectK's tables: `detectk.db` in DIR, or PostgreSQL.
        #[arg(long, value_enum, default_value_t = Storage::Sqlite)]
        storage: Storage,
        /// PostgreSQL URL for --storage postgres.
        #[arg(long, default_value = "postgresql://postgres@127.0.0.1:5432/postgres")]
        pg_url: String,
        /// PostgreSQL schema of the fleet's tables (dropped and recreated); default bench_<METRICS>.
        #[arg(long)]
        pg_schema: Option<String>,
        /// The metrics' alerter: none, or a generic webhook posting to --webhook-url.
        #[arg(long, value_enum, default_value_t = Alerter::None)]
        alerter: Alerter,
        /// URL of --alerter webhook.
        #[arg(long, default_value = "http://127.0.0.1:18099/fleet-bench")]
        webhook_url: String,
        /// End of the data (exclusive, UTC, on the 10-minute grid): the fleet's "now".
        #[arg(long, default_value = DEFAULT_END)]
        end: String,
        /// Seed of the values.
        #[arg(long, default_value_t = 11)]
        seed: u64,
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
            pg_url,
            pg_schema,
            alerter,
            webhook_url,
            end,
            seed,
        } => {
            let storage = match storage {
                Storage::Sqlite => StorageChoice::Sqlite,
                Storage::Postgres => StorageChoice::Postgres {
                    url: pg_url,
                    schema: pg_schema.unwrap_or_else(|| format!("bench_{metrics}")),
                },
            };
            let alerter = match alerter {
                Alerter::None => AlerterChoice::None,
                Alerter::Webhook => AlerterChoice::Webhook { url: webhook_url },
            };
            let options = GenerateOptions {
                metrics,
                days,
                seed,
                end: generate::parse_time(&end)?,
                storage,
                alerter,
            };
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
