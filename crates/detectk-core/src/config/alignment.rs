//! `collector.timestamp_alignment` and `collector.aggregation`: what to do with query
//! rows off the metric's interval grid (the pipeline's `align` applies them).

use serde::Serialize;

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
}
