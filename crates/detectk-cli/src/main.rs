//! `dtk`, the DetectK command line.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use detectk_cli::cli::{Cli, Command, LogFormat};
use detectk_cli::commands::{self, INVALID};
use detectk_core::registry::Component;
use tracing_subscriber::EnvFilter;

/// jemalloc (feature `jemalloc`, on by default): a fleet tick allocates and frees many
/// small buffers on several threads, where it costs about 8 % less CPU than the system
/// allocator for 4-5 MiB more peak RSS.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn init_logging(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.without_time().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    detectk_cli::output::set_quiet(cli.quiet);
    detectk_cli::project::set_project_dir(cli.project_dir.clone());
    let registry = detectk_cli::registry();
    let runtime = match detectk_cli::runtime::for_command(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => commands::run::run(&registry, args).await,
            Command::Validate(args) => commands::validate::validate(&registry, args),
            Command::Backfill(args) => commands::backfill::backfill(&registry, args).await,
            Command::Init(args) => commands::init::init(&registry, args),
            Command::InitProject(args) => commands::init_project::init_project(args).await,
            Command::ListCollectors(a) => Ok(commands::list::list_types(
                &registry,
                Component::Collector,
                a.format,
            )),
            Command::ListDetectors(a) => Ok(commands::list::list_types(
                &registry,
                Component::Detector,
                a.format,
            )),
            Command::ListAlerters(a) => Ok(commands::list::list_types(
                &registry,
                Component::Alerter,
                a.format,
            )),
            Command::ListMetrics(args) => commands::list::list_metrics(&registry, args),
            Command::TestAlert(args) => commands::test_alert::test_alert(&registry, args).await,
            Command::Backtest(args) => commands::backtest::backtest(&registry, args).await,
            Command::Tune(args) => commands::tune::tune(&registry, args).await,
            Command::Debug(args) => commands::debug::debug(&registry, args).await,
            Command::Compile(args) => commands::compile::compile(&registry, args).await,
            Command::Report(args) => commands::report::report(&registry, args).await,
            Command::Plot(args) => commands::plot::plot(&registry, args).await,
            Command::Snooze(args) => commands::holds::snooze(&registry, args).await,
            Command::Unsnooze(args) => commands::holds::unsnooze(&registry, args).await,
            Command::Ack(args) => commands::holds::ack(&registry, args).await,
            Command::Snoozes(args) => commands::holds::snoozes(&registry, args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprint!("{}", detectk_cli::render::config_error_text(&e));
            ExitCode::from(INVALID)
        }
    }
}
