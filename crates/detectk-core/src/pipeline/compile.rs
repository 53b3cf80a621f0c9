//! What the next `dtk run` of a metric would send: its range, batches and rendered
//! queries (`dtk compile`). Shares the range rules and the query rendering with
//! [`Runner::run`](crate::pipeline::Runner::run).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::config::template::format_time;
use crate::error::Error;
use crate::pipeline::grid::{
    batch_size, batches, floor_to_interval, neg, newest_complete_end, shifted,
};
use crate::pipeline::plan::MetricPlan;
use crate::pipeline::query::render_collect_query;
use crate::pipeline::runner::Runner;

/// Where the range of a compiled run starts, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileStart {
    /// Read the storage's newest point (falls back to a first run when unreachable).
    Storage,
    /// Assume a first run: no stored point.
    FirstRun,
    /// Start at this time (as if the newest stored point were just before it).
    From(DateTime<Utc>),
}

/// One query the run would send.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CompiledQuery {
    /// Range start (inclusive).
    pub from: DateTime<Utc>,
    /// Range end (exclusive).
    pub to: DateTime<Utc>,
    /// The rendered query, exactly as sent.
    pub query: String,
}

/// The next run of a metric, as `dtk compile` shows it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CompiledRun {
    /// Metric name.
    pub metric: String,
    /// Where the data comes from.
    pub collector: String,
    /// The newest complete interval's start at the execution time.
    pub newest: DateTime<Utc>,
    /// What the range start rests on, in words.
    pub assumption: String,
    /// True when the metric is up to date: the run would collect nothing, and the
    /// query shown is the newest interval's.
    pub up_to_date: bool,
    /// The queries, one per `batch_load_days` batch.
    pub queries: Vec<CompiledQuery>,
}

/// The range, batches and queries of the next `dtk run` of `plan` at `execution_time`.
/// Reads nothing but (with [`CompileStart::Storage`]) the newest stored point.
pub async fn compile_next_run(
    plan: &MetricPlan,
    execution_time: DateTime<Utc>,
    start: CompileStart,
) -> Result<CompiledRun, Error> {
    let config = &plan.config;
    let metric = config.name.as_str();
    let interval = config.schedule.interval.delta();
    let delay = config
        .schedule
        .delay
        .as_ref()
        .map(|d| d.delta())
        .unwrap_or_else(TimeDelta::zero);
    let end = match newest_complete_end(execution_time, interval, delay) {
        Some(end) => end,
        None => shifted(metric, execution_time, neg(delay), "the newest interval")?,
    };
    let newest = shifted(metric, end, neg(interval), "the newest interval")?;
    let first_run = shifted(
        metric,
        end,
        neg(Runner::new().bootstrap_span(plan)),
        "the first run's history (the largest detector window)",
    )?;
    let (from, assumption) = match start {
        CompileStart::FirstRun => (
            first_run,
            "assuming the first run (--offline): no stored point, so the range reaches back one detector window".to_string(),
        ),
        CompileStart::From(t) => (
            floor_to_interval(t, interval),
            format!("assuming the range starts at {} (--from)", format_time(&t)),
        ),
        CompileStart::Storage => {
            let storage = plan.storage.as_ref();
            match storage.last_datapoint_time(metric).await {
                Ok(Some(last)) => (
                    shifted(
                        metric,
                        floor_to_interval(last, interval),
                        interval,
                        "the interval after the newest stored point",
                    )?,
                    format!(
                        "the newest stored point is {} (read from {})",
                        format_time(&last),
                        storage.describe()
                    ),
                ),
                Ok(None) => (
                    first_run,
                    format!(
                        "no stored point in {}: a first run, reaching back one detector window",
                        storage.describe()
                    ),
                ),
                Err(e) => (
                    first_run,
                    format!("could not read the storage ({e}); assuming the first run"),
                ),
            }
        }
    };
    let up_to_date = from >= end;
    let ranges = if up_to_date {
        vec![(newest, end)]
    } else {
        batches(
            from,
            end,
            batch_size(config.schedule.batch_load_days, interval),
        )
    };
    let queries = ranges
        .into_iter()
        .map(|(from, to)| {
            render_collect_query(config, from, to, execution_time).map(|query| CompiledQuery {
                from,
                to,
                query,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| *e)?;
    Ok(CompiledRun {
        metric: metric.to_string(),
        collector: plan.collector.describe(),
        newest,
        assumption,
        up_to_date,
        queries,
    })
}
