//! `fleet-bench generate` and `fleet-bench advance`.

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};

use crate::configs::write_configs;
use crate::error::BenchError;
use crate::manifest::{AlerterChoice, Manifest, SOURCE_FILE, STORAGE_FILE, StorageChoice};
use crate::series::{INTERVAL_SECONDS, SeriesModel};
use crate::{source, storage};

/// The fixed "now" of a generated fleet: its data ends here.
pub const DEFAULT_END: &str = "2026-01-01 00:00:00";

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Number of metrics.
    pub metrics: u32,
    /// Days of history per series.
    pub days: u32,
    /// Seed of the value model.
    pub seed: u64,
    /// End of the data (exclusive), on the 10-minute grid.
    pub end: DateTime<Utc>,
    /// Storage of the metrics.
    pub storage: StorageChoice,
    /// Alerter of the metrics.
    pub alerter: AlerterChoice,
    /// Whether each metric's query returns an `hour_of_day` context column that its
    /// MAD detector uses as a seasonal feature.
    pub context_column: bool,
}

/// What `generate` or `advance` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The fleet's manifest after the step.
    pub manifest: Manifest,
    /// Source rows inserted.
    pub rows: u64,
    /// Seconds taken.
    pub seconds: f64,
}

fn models(manifest: &Manifest) -> Vec<(u32, SeriesModel)> {
    (1..=manifest.metrics)
        .map(|id| (id, manifest.model(id)))
        .collect()
}

/// Writes a fresh fleet into `dir`: source, configs, manifest, and an empty storage
/// (a previous `detectk.db`, or the PostgreSQL schema, is dropped).
pub async fn generate(dir: &Path, options: &GenerateOptions) -> Result<Written, BenchError> {
    if options.metrics == 0 || options.days == 0 {
        return Err(BenchError::Usage(
            "--metrics and --days must be at least 1".into(),
        ));
    }
    if options.end.timestamp() % INTERVAL_SECONDS != 0 {
        return Err(BenchError::Usage(format!(
            "--end {} is not on the 10-minute grid",
            options.end
        )));
    }
    let started = Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    let manifest = Manifest {
        metrics: options.metrics,
        seed: options.seed,
        start: options.end - TimeDelta::days(i64::from(options.days)),
        end: options.end,
        storage: options.storage.clone(),
        alerter: options.alerter.clone(),
        context_column: options.context_column,
    };
    let stale_metrics = dir.join(crate::manifest::METRICS_DIR);
    if stale_metrics.exists() {
        std::fs::remove_dir_all(&stale_metrics).map_err(|e| BenchError::io(&stale_metrics, e))?;
    }
    storage::reset(dir, &manifest.storage).await?;
    let rows = source::create(
        &dir.join(SOURCE_FILE),
        &models(&manifest),
        manifest.start_slot()..manifest.end_slot(),
    )
    .await?;
    write_configs(&manifest, dir)?;
    manifest.save(dir)?;
    Ok(Written {
        manifest,
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Appends the next `intervals` points to every series of the fleet in `dir` and
/// moves its end on.
pub async fn advance(dir: &Path, intervals: u32) -> Result<Written, BenchError> {
    let started = Instant::now();
    let before = Manifest::load(dir)?;
    let after = before.advanced(i64::from(intervals));
    let rows = source::append(
        &dir.join(SOURCE_FILE),
        &models(&before),
        before.end_slot()..after.end_slot(),
    )
    .await?;
    after.save(dir)?;
    Ok(Written {
        manifest: after,
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Parses `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, BenchError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc())
        .map_err(|e| {
            BenchError::Usage(format!(
                "time `{text}`: {e}; expected YYYY-MM-DD HH:MM:SS (UTC)"
            ))
        })
}

/// The sqlite storage file of a fleet directory.
pub fn storage_file(dir: &Path) -> std::path::PathBuf {
    dir.join(STORAGE_FILE)
}
