//! `dtk compile CONFIG`: the query the next `dtk run` would send, with its period.

use detectk_core::config::{load_file, parse_time};
use detectk_core::pipeline::{CompileStart, build_plan, compile_next_run};
use detectk_core::{ConfigError, ConfigIssue, Registry};
use serde_json::json;

use crate::args::Format;
use crate::cli::CompileArgs;
use crate::commands::{FAILED, OK, execution_time};
use crate::output::time;
use crate::render::{error_json, error_text};

/// Runs `dtk compile`; returns the exit code.
pub async fn compile(registry: &Registry, args: &CompileArgs) -> Result<u8, ConfigError> {
    let at = execution_time(args.execution_time.as_deref())?;
    let start = match (&args.from, args.offline) {
        (Some(text), _) => CompileStart::From(
            parse_time(text, chrono_tz::Tz::UTC)
                .map_err(|e| ConfigError::single(ConfigIssue::new("--from", e)))?,
        ),
        (None, true) => CompileStart::FirstRun,
        (None, false) => CompileStart::Storage,
    };
    let options = crate::project::load_options(std::slice::from_ref(&args.config), at)?;
    let loaded = load_file(&args.config, &options)?;
    crate::commands::print_warnings(&loaded.warnings);
    let plan = build_plan(registry, loaded.config)?;
    let compiled = match compile_next_run(&plan, at, start).await {
        Ok(c) => c,
        Err(e) => {
            match args.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"error": error_json(&e)}))
                        .unwrap_or_default()
                ),
                Format::Text => eprint!("{}", error_text(&e)),
            }
            return Ok(FAILED);
        }
    };
    match args.format {
        Format::Json => {
            let doc = json!({
                "metric": compiled.metric,
                "file": args.config.display().to_string(),
                "collector": compiled.collector,
                "execution_time": at,
                "newest": compiled.newest,
                "assumption": compiled.assumption,
                "up_to_date": compiled.up_to_date,
                "queries": compiled.queries,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => {
            println!("-- metric: {} ({})", compiled.metric, args.config.display());
            println!("-- collector: {}", compiled.collector);
            println!("-- execution time: {}", time(&at));
            println!("-- {}", compiled.assumption);
            if compiled.up_to_date {
                println!(
                    "-- up to date: the run collects nothing new; this is the query of the newest interval"
                );
            }
            let n = compiled.queries.len();
            for (i, q) in compiled.queries.iter().enumerate() {
                let batch = if n > 1 {
                    format!(" (batch {} of {n})", i + 1)
                } else {
                    String::new()
                };
                println!("-- period: [{}, {}){batch}", time(&q.from), time(&q.to));
                println!("{}", q.query.trim_end());
                if i + 1 < n {
                    println!();
                }
            }
        }
    }
    Ok(OK)
}
