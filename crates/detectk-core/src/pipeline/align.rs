//! Putting query rows on the metric's interval grid (`collector.timestamp_alignment`).
//!
//! Real series are often a little off the grid (`04:00:01` for a 10-minute metric). With
//! `floor` (the default) each row belongs to the interval containing it, and rows sharing
//! an interval are combined by `collector.aggregation` (default `mean`). With `strict`
//! the first off-grid row is an error.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::model::DataPoint;
use crate::pipeline::grid::floor_to_interval;
use crate::pipeline::mapping::MappingError;

/// What to do with a row whose timestamp is not an interval start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimestampAlignment {
    /// Move the row to the start of the interval containing it (default).
    #[default]
    Floor,
    /// Reject the query result, naming the first off-grid timestamp.
    Strict,
}

impl TimestampAlignment {
    /// Accepted config values.
    pub const CHOICES: &'static [&'static str] = &["floor", "strict"];

    /// From a config value already checked against [`Self::CHOICES`].
    pub fn parse(s: &str) -> Self {
        if s == "strict" {
            Self::Strict
        } else {
            Self::Floor
        }
    }
}

/// How rows that fall into the same interval are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Aggregation {
    /// Arithmetic mean of the values (default: keeps the series' scale).
    #[default]
    Mean,
    /// Sum (for counts reported in pieces).
    Sum,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// The earliest row.
    First,
    /// The latest row.
    Last,
}

impl Aggregation {
    /// Accepted config values.
    pub const CHOICES: &'static [&'static str] = &["mean", "sum", "min", "max", "first", "last"];

    /// From a config value already checked against [`Self::CHOICES`].
    pub fn parse(s: &str) -> Self {
        match s {
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "first" => Self::First,
            "last" => Self::Last,
            _ => Self::Mean,
        }
    }

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
            Self::First => "first",
            Self::Last => "last",
        }
    }

    /// Combines the values of one interval's rows (NULLs already left out).
    fn combine(self, values: &[f64]) -> Option<f64> {
        let first = *values.first()?;
        Some(match self {
            Self::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Self::Sum => values.iter().sum(),
            Self::Min => values.iter().copied().fold(first, f64::min),
            Self::Max => values.iter().copied().fold(first, f64::max),
            Self::First => first,
            Self::Last => values[values.len() - 1],
        })
    }
}

/// Points on the grid, and what aligning did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aligned {
    /// One point per interval that had rows, sorted.
    pub points: Vec<DataPoint>,
    /// Rows whose timestamp was not an interval start.
    pub off_grid: usize,
    /// Intervals that had more than one row.
    pub combined: usize,
}

/// Aligns sorted points (one per query row, in row order) to the grid of `interval`.
pub fn align(
    points: Vec<DataPoint>,
    interval: TimeDelta,
    alignment: TimestampAlignment,
    aggregation: Aggregation,
) -> Result<Aligned, MappingError> {
    let mut out = Aligned::default();
    let mut group: Vec<DataPoint> = Vec::new();
    let mut group_start: Option<DateTime<Utc>> = None;
    for (row, point) in points.into_iter().enumerate() {
        let start = floor_to_interval(point.timestamp, interval);
        if start != point.timestamp {
            if alignment == TimestampAlignment::Strict {
                return Err(MappingError {
                    message: format!(
                        "row {}: timestamp {} is off the {} interval grid (its interval starts at {})",
                        row + 1,
                        point.timestamp,
                        crate::duration::HumanDuration::from_seconds(interval.num_seconds()),
                        start
                    ),
                    hint: Some(
                        "return interval starts (group by the interval start in the query), or set `collector.timestamp_alignment: floor`"
                            .into(),
                    ),
                });
            }
            out.off_grid += 1;
        }
        if group_start.is_some_and(|s| s != start) {
            flush(&mut out, &mut group, group_start, aggregation);
        }
        group_start = Some(start);
        group.push(point);
    }
    flush(&mut out, &mut group, group_start, aggregation);
    Ok(out)
}

fn flush(
    out: &mut Aligned,
    group: &mut Vec<DataPoint>,
    start: Option<DateTime<Utc>>,
    aggregation: Aggregation,
) {
    let (Some(start), false) = (start, group.is_empty()) else {
        return;
    };
    if group.len() > 1 {
        out.combined += 1;
    }
    let rows = std::mem::take(group);
    let chosen = match aggregation {
        Aggregation::Last => rows.iter().rev().find(|p| p.value.is_some()),
        _ => rows.iter().find(|p| p.value.is_some()),
    };
    let context = chosen.unwrap_or(&rows[0]).context.clone();
    let values: Vec<f64> = rows.iter().filter_map(|p| p.value).collect();
    let point = match aggregation.combine(&values) {
        Some(v) => DataPoint::new(start, v),
        None => DataPoint::missing(start),
    };
    out.points.push(point.with_context(context));
}

/// The notes a run reports about aligning, e.g. `12 row(s) were off the 10 minutes grid
/// and were floored to their interval start`.
pub fn notes(aligned: &Aligned, interval: &str, aggregation: Aggregation) -> Vec<String> {
    let mut notes = Vec::new();
    if aligned.off_grid > 0 {
        notes.push(format!(
            "{} row(s) were off the {interval} grid and were floored to their interval start (collector.timestamp_alignment: floor)",
            aligned.off_grid
        ));
    }
    if aligned.combined > 0 {
        notes.push(format!(
            "{} interval(s) had more than one row, combined by {} (collector.aggregation)",
            aligned.combined,
            aggregation.name()
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64, second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_704_150_000 + minute * 60 + second, 0).unwrap()
    }

    fn rows() -> Vec<DataPoint> {
        vec![
            DataPoint::new(at(0, 1), 1.0),
            DataPoint::new(at(3, 0), 3.0),
            DataPoint::missing(at(5, 0)),
            DataPoint::new(at(10, 0), 10.0),
            DataPoint::new(at(20, 1), 20.0),
        ]
    }

    #[test]
    fn floors_rows_and_combines_shared_intervals() {
        let ten = TimeDelta::minutes(10);
        let a = align(rows(), ten, TimestampAlignment::Floor, Aggregation::Mean).unwrap();
        let shape: Vec<(DateTime<Utc>, Option<f64>)> =
            a.points.iter().map(|p| (p.timestamp, p.value)).collect();
        assert_eq!(
            shape,
            vec![
                (at(0, 0), Some(2.0)),
                (at(10, 0), Some(10.0)),
                (at(20, 0), Some(20.0))
            ]
        );
        assert_eq!((a.off_grid, a.combined), (4, 1));
        assert_eq!(
            notes(&a, "10 minutes", Aggregation::Mean),
            vec![
                "4 row(s) were off the 10 minutes grid and were floored to their interval start (collector.timestamp_alignment: floor)",
                "1 interval(s) had more than one row, combined by mean (collector.aggregation)",
            ]
        );
    }

    #[test]
    fn every_aggregation_combines_present_values() {
        let ten = TimeDelta::minutes(10);
        for (aggregation, expected) in [
            (Aggregation::Sum, 4.0),
            (Aggregation::Min, 1.0),
            (Aggregation::Max, 3.0),
            (Aggregation::First, 1.0),
            (Aggregation::Last, 3.0),
        ] {
            let a = align(rows(), ten, TimestampAlignment::Floor, aggregation).unwrap();
            assert_eq!(a.points[0].value, Some(expected), "{aggregation:?}");
        }
        let nulls = vec![DataPoint::missing(at(1, 0)), DataPoint::missing(at(2, 0))];
        let a = align(nulls, ten, TimestampAlignment::Floor, Aggregation::Mean).unwrap();
        assert!(a.points[0].is_missing);
        assert_eq!(a.points[0].timestamp, at(0, 0));
    }

    #[test]
    fn strict_names_the_first_off_grid_row() {
        let e = align(
            rows(),
            TimeDelta::minutes(10),
            TimestampAlignment::Strict,
            Aggregation::Mean,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "row 1: timestamp {} is off the 10 minutes interval grid (its interval starts at {})",
                at(0, 1),
                at(0, 0)
            )
        );
        let on_grid = vec![
            DataPoint::new(at(0, 0), 1.0),
            DataPoint::new(at(10, 0), 2.0),
        ];
        let a = align(
            on_grid.clone(),
            TimeDelta::minutes(10),
            TimestampAlignment::Strict,
            Aggregation::Mean,
        )
        .unwrap();
        assert_eq!(a.points, on_grid);
    }
}
