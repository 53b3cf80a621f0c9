//! The pipeline: build a metric's parts, then `run` or `backfill` it.

mod align;
mod compile;
mod grid;
mod mapping;
mod plan;
mod query;
mod retry;
mod runner;

pub use align::{Aggregation, Aligned, TimestampAlignment, align};
pub use compile::{CompileStart, CompiledQuery, CompiledRun, compile_next_run};
pub use grid::{batches, floor_to_interval, newest_complete_end, slots};
pub use mapping::{Mapped, MappingError, fill_missing, map_table};
pub use plan::{AlertPlan, MetricPlan, PlannedDetector, build_partial, build_plan};
pub use query::render_collect_query;
pub use retry::{BACKOFF, CONNECT_BACKOFF, retry_delays, with_retry};
pub use runner::{
    BackfillOptions, BackfillReport, BatchProgress, RangeReport, RunOptions, RunReport, Runner,
    history_span,
};
