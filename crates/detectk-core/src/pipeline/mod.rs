//! The pipeline: build a metric's parts, then `run` or `backfill` it.

mod align;
mod carry;
mod compile;
mod cpu;
mod grid;
mod mapping;
mod plan;
mod query;
mod runner;

pub use crate::config::{Aggregation, TimestampAlignment};
pub use compile::{CompileStart, CompiledQuery, CompiledRun, compile_next_run};
pub use grid::floor_to_interval;
pub(crate) use grid::{batches, newest_complete_end};
pub use plan::{AlertPlan, MetricPlan, PlannedDetector, build_partial, build_plan};
pub use runner::{
    BackfillOptions, BackfillReport, BatchProgress, RangeReport, RunOptions, RunReport, Runner,
};
pub(crate) use runner::{Known, history_span};
