//! `dtk init-project [DIR]`: a ready-to-run project.

use std::path::Path;

#[cfg(feature = "sqlite")]
use chrono::TimeDelta;
#[cfg(feature = "sqlite")]
use detectk_core::pipeline::floor_to_interval;
use detectk_core::{ConfigError, ConfigIssue};

use crate::cli::{Database, InitProjectArgs};
use crate::commands::OK;
#[cfg(feature = "sqlite")]
use crate::commands::execution_time;
#[cfg(feature = "sqlite")]
use crate::output::time;
use crate::templates::metric_config;
#[cfg(feature = "sqlite")]
use crate::templates::{QUICKSTART_METRICS, QUICKSTART_PROFILES};

fn io_error(path: &Path, e: std::io::Error) -> ConfigError {
    ConfigError::single(ConfigIssue::new(
        "",
        format!("cannot write {}: {e}", path.display()),
    ))
}

fn write(path: &Path, text: &str, force: bool) -> Result<(), ConfigError> {
    if path.exists() && !force {
        return Err(ConfigError::single(
            ConfigIssue::new("", format!("{} already exists", path.display()))
                .with_hint("pass --force to overwrite"),
        ));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    std::fs::write(path, text).map_err(|e| io_error(path, e))
}

/// Marks the project root; `dtk` finds it from any config below it.
const PROJECT_MARKER_TEXT: &str = "# The root of a DetectK project. dtk finds this directory from any metric config\n# below it, wherever it runs (cron, Airflow, systemd), and reads detectk_profiles.yaml\n# here. Relative SQLite paths resolve against the file that names them.\nversion: 1\n";

/// How to call this `dtk` in the printed next steps: `dtk` when that is what the
/// PATH finds, else the full path of the running binary.
fn dtk_command() -> String {
    let Ok(me) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return "dtk".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .filter_map(|dir| dir.join("dtk").canonicalize().ok())
            .any(|found| found == me)
    });
    if on_path {
        "dtk".into()
    } else {
        me.display().to_string()
    }
}

/// Runs `dtk init-project`; returns the exit code.
pub async fn init_project(args: &InitProjectArgs) -> Result<u8, ConfigError> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir.join("metrics")).map_err(|e| io_error(dir, e))?;
    write(
        &dir.join(detectk_core::config::PROJECT_MARKER),
        PROJECT_MARKER_TEXT,
        args.force,
    )?;
    match args.database {
        Database::Sqlite => sqlite_project(args).await?,
        other => {
            let (kind, profile) = match other {
                Database::Postgres => (
                    "postgres",
                    "main_postgres:\n    type: postgres\n    connection_string: \"${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}\"\n",
                ),
                Database::Mysql => (
                    "mysql",
                    "main_mysql:\n    type: mysql\n    host: \"${MYSQL_HOST:-127.0.0.1}\"\n    port: 3306\n    user: \"${MYSQL_USER:-root}\"\n    password: \"${MYSQL_PASSWORD:-}\"\n    database: \"${MYSQL_DATABASE:-test}\"\n",
                ),
                _ => (
                    "clickhouse",
                    "main_clickhouse:\n    type: clickhouse\n    host: \"${CLICKHOUSE_HOST:-127.0.0.1}\"\n    port: 8123\n    user: \"${CLICKHOUSE_USER:-default}\"\n    password: \"${CLICKHOUSE_PASSWORD:-}\"\n    database: \"${CLICKHOUSE_DATABASE:-default}\"\n",
                ),
            };
            let profile_name = profile.split(':').next().unwrap_or("main");
            write(
                &dir.join("detectk_profiles.yaml"),
                &format!(
                    "# Connection profiles; secrets come from the environment.\nprofiles:\n  {profile}"
                ),
                args.force,
            )?;
            write(
                &dir.join("metrics/events_10min.yaml"),
                &metric_config(
                    "events_10min",
                    kind,
                    Some(profile_name),
                    crate::templates::RECOMMENDED_DETECTOR,
                ),
                args.force,
            )?;
            write(
                &dir.join("events.sql"),
                crate::templates::sample_events_sql(kind),
                args.force,
            )?;
            println!("created a {kind} project in {}", dir.display());
            let dtk = dtk_command();
            println!(
                "load events.sql (a sample `events` table) or edit metrics/events_10min.yaml for your table, then: cd {} && {dtk} validate metrics && {dtk} run metrics",
                dir.display()
            );
            println!("steps for each database: docs/cli.md, section init-project");
        }
    }
    if !args.minimal {
        write(
            &dir.join(".gitignore"),
            "*.db\n*.db-wal\n*.db-shm\n.detectk/\n",
            args.force,
        )?;
    }
    Ok(OK)
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite_project(_args: &InitProjectArgs) -> Result<(), ConfigError> {
    Err(ConfigError::single(
        ConfigIssue::new(
            "--database",
            "the SQLite project is not available in this build",
        )
        .with_hint("it needs dtk's `sqlite` feature (crate detectk-collectors-sql)"),
    ))
}

#[cfg(feature = "sqlite")]
async fn sqlite_project(args: &InitProjectArgs) -> Result<(), ConfigError> {
    let dir = &args.dir;
    let end = floor_to_interval(
        execution_time(args.sample_end.as_deref())?,
        TimeDelta::minutes(10),
    );
    let start = end - TimeDelta::days(crate::sample_data::SAMPLE_DAYS);
    let backfill_end = end - TimeDelta::hours(1);
    write(
        &dir.join("detectk_profiles.yaml"),
        QUICKSTART_PROFILES,
        args.force,
    )?;
    let metrics = if args.minimal {
        &QUICKSTART_METRICS[..1]
    } else {
        QUICKSTART_METRICS
    };
    for (file, template) in metrics {
        let text = template
            .replace("@START@", &time(&start))
            .replace("@BACKFILL_END@", &time(&backfill_end));
        write(&dir.join("metrics").join(file), &text, args.force)?;
    }
    let db = dir.join("quickstart.db");
    if db.exists() && !args.force {
        return Err(ConfigError::single(
            ConfigIssue::new("", format!("{} already exists", db.display()))
                .with_hint("pass --force to overwrite"),
        ));
    }
    let summary = crate::sample_data::write_sample_db(&db, end)
        .await
        .map_err(|e| ConfigError::single(ConfigIssue::new("", e)))?;
    println!(
        "created a SQLite project in {}: {} rows of 10-minute data [{} .. {}) in quickstart.db",
        dir.display(),
        summary.rows,
        time(&summary.start),
        time(&summary.end)
    );
    println!("incidents in the sample data:");
    for incident in &summary.incidents {
        println!("  {incident}");
    }
    let dtk = dtk_command();
    println!(
        "next: cd {} && {dtk} backfill metrics && {dtk} run metrics --execution-time '{}'",
        dir.display(),
        time(&end)
    );
    Ok(())
}
