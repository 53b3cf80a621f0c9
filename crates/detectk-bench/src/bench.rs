//! `fleet-bench run`: measures `dtk` on one fleet.
//!
//! 1. History load (unless skipped): the storage is emptied, then
//!    `dtk backfill DIR --execution-time END --concurrency C` loads every series.
//! 2. Ticks, repeated: `advance` appends one interval to every series, then a real tick
//!    `dtk run DIR --execution-time T --concurrency C` collects, stores and scores that
//!    one new point per metric; an idle tick runs again for the same T (nothing new).
//!    Every repeat is one new point on the same history, so repeats are comparable;
//!    medians and bests are reported.
//! 3. The storage is counted: every interval of every series stored once, and scored by
//!    both detectors.

use std::path::{Path, PathBuf};

use crate::error::BenchError;
use crate::generate::advance;
use crate::manifest::{Manifest, StorageChoice};
use crate::measure::{Usage, measure};
use crate::storage::{self, StoredRows};

/// Detectors of every generated metric.
pub const DETECTORS_PER_METRIC: i64 = 2;

/// How to measure.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `dtk` binary (a release build).
    pub dtk: PathBuf,
    /// `--concurrency` of `dtk backfill` and `dtk run`.
    pub concurrency: u32,
    /// Real ticks (each followed by an idle tick).
    pub ticks: u32,
    /// Load the history first (emptying the storage); false: tick on what is stored.
    pub load: bool,
}

/// What one fleet measured.
#[derive(Debug, Clone)]
pub struct FleetResult {
    /// The fleet after the run.
    pub manifest: Manifest,
    /// The history load and the points it loaded.
    pub load: Option<(Usage, i64)>,
    /// Real ticks, in order.
    pub real: Vec<Usage>,
    /// Idle ticks, in order.
    pub idle: Vec<Usage>,
    /// Rows counted at the end.
    pub stored: StoredRows,
    /// The machine line (cores, load average) before the first command.
    pub machine_at_start: String,
}

impl FleetResult {
    /// Rows the fleet implies: every interval of every series, scored by every detector.
    pub fn expected_rows(&self) -> (i64, i64) {
        let points = i64::from(self.manifest.metrics) * self.manifest.points_per_series();
        (points, points * DETECTORS_PER_METRIC)
    }

    /// Whether the stored rows are the ones the fleet implies.
    pub fn rows_ok(&self) -> bool {
        self.expected_rows() == (self.stored.datapoints, self.stored.detections)
    }
}

/// `--execution-time` text of a time.
fn time_arg(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn dtk_args(command: &str, dir: &Path, at: &str, concurrency: u32) -> Vec<String> {
    vec![
        command.into(),
        dir.display().to_string(),
        "--execution-time".into(),
        at.into(),
        "--concurrency".into(),
        concurrency.to_string(),
    ]
}

/// Measures the fleet in `dir`; progress goes to stderr.
pub async fn run_fleet(dir: &Path, options: &RunOptions) -> Result<FleetResult, BenchError> {
    let mut manifest = Manifest::load(dir)?;
    let machine_at_start = crate::table::machine_line();
    let scratch = std::env::temp_dir();
    let mut load = None;
    if options.load {
        storage::reset(dir, &manifest.storage).await?;
        let at = time_arg(manifest.end);
        eprintln!("history load: dtk backfill {} ...", dir.display());
        let usage = measure(
            &options.dtk,
            &dtk_args("backfill", dir, &at, options.concurrency),
            &scratch,
        )?;
        let points = i64::from(manifest.metrics) * manifest.points_per_series();
        eprintln!("  {:.2} s wall, {:.2} s CPU", usage.wall_s, usage.cpu_s());
        load = Some((usage, points));
    }
    let mut real = Vec::new();
    let mut idle = Vec::new();
    for i in 1..=options.ticks {
        manifest = advance(dir, 1).await?.manifest;
        let args = dtk_args("run", dir, &time_arg(manifest.end), options.concurrency);
        let tick = measure(&options.dtk, &args, &scratch)?;
        let again = measure(&options.dtk, &args, &scratch)?;
        eprintln!(
            "tick {i}/{}: real {:.2} s wall {:.2} s CPU; idle {:.2} s wall {:.2} s CPU",
            options.ticks,
            tick.wall_s,
            tick.cpu_s(),
            again.wall_s,
            again.cpu_s()
        );
        real.push(tick);
        idle.push(again);
    }
    let stored = storage::count(dir, &manifest.storage).await?;
    Ok(FleetResult {
        manifest,
        load,
        real,
        idle,
        stored,
        machine_at_start,
    })
}

/// Short name of a storage for tables.
pub fn storage_label(storage: &StorageChoice) -> &'static str {
    match storage {
        StorageChoice::Sqlite => "SQLite",
        StorageChoice::Postgres { .. } => "PostgreSQL",
    }
}
