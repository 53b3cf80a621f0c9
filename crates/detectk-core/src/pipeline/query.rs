//! The collector query of one range, rendered as every collect call sends it.

use chrono::{DateTime, Utc};

use crate::config::MetricConfig;
use crate::config::template::{QueryVars, format_time, render_query, sql_interval};
use crate::error::Error;

/// Renders the collector query of `config` for `[from, to)`, as every collect call
/// does. A template that fails is an [`Error::Data`] naming the metric (boxed: this is
/// a plain function and the error is large).
pub fn render_collect_query(
    config: &MetricConfig,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    execution_time: DateTime<Utc>,
) -> Result<String, Box<Error>> {
    let interval = &config.schedule.interval;
    let tz = config.collector.timezone;
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string();
    let vars = QueryVars {
        period_start: local(from),
        period_finish: local(to),
        interval: sql_interval(interval.seconds()),
        interval_seconds: interval.seconds(),
        metric_name: config.name.clone(),
        execution_time: format_time(&execution_time),
    };
    render_query(&config.collector.query, &vars).map_err(|e| {
        Box::new(Error::Data {
            metric: config.name.clone(),
            message: format!("rendering collector.params.query failed: {e}"),
            hint: Some(
                "`dtk validate` checks the template; see docs/configuration.md for its variables"
                    .into(),
            ),
        })
    })
}
