//! `embed-service [--once] [--every SECONDS] [--execution-time RFC3339] DIR`: runs every
//! metric under DIR now and then every SECONDS (default 600), printing a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};

struct Args {
    dir: PathBuf,
    once: bool,
    every: Duration,
    execution_time: Option<DateTime<Utc>>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut once, mut every, mut execution_time) = (None, false, 600, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => once = true,
            "--every" => {
                let value = args.next().ok_or("--every needs a number of seconds")?;
                every = value
                    .parse()
                    .map_err(|_| format!("--every: `{value}` is not a number of seconds"))?;
            }
            "--execution-time" => {
                let value = args.next().ok_or("--execution-time needs a time")?;
                let t = DateTime::parse_from_rfc3339(&value)
                    .map_err(|e| format!("--execution-time: `{value}`: {e}"))?;
                execution_time = Some(t.with_timezone(&Utc));
            }
            other if !other.starts_with('-') && dir.is_none() => dir = Some(PathBuf::from(other)),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Ok(Args {
        dir: dir.ok_or("usage: embed-service [--once] [--every SECONDS] DIR")?,
        once,
        every: Duration::from_secs(every.max(1)),
        execution_time,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let registry = embed_service::registry();
    let mut timer = tokio::time::interval(args.every);
    loop {
        timer.tick().await;
        let now = args.execution_time.unwrap_or_else(Utc::now);
        match embed_service::tick(&registry, &args.dir, now, 4).await {
            Ok(report) => {
                print!("{}", embed_service::summary(&report));
                if args.once {
                    let clean = report.failed() == 0 && report.invalid.is_empty();
                    return ExitCode::from(if clean { 0 } else { 1 });
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                if args.once {
                    return ExitCode::from(2);
                }
            }
        }
    }
}
