//! Plain data carried between collectors, storages, detectors and alerters.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::context::Context;

/// One interval of a metric's time series, as stored in `dtk_datapoints`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPoint {
    /// Start of the interval the value belongs to (UTC).
    pub timestamp: DateTime<Utc>,
    /// The value; `None` when the point is missing.
    pub value: Option<f64>,
    /// True when the collector returned no row (or a NULL value) for this interval.
    pub is_missing: bool,
    /// Context columns of the row (for example `hour_of_day`), possibly empty.
    pub context: Context,
}

impl DataPoint {
    /// A present point with a value and no context.
    pub fn new(timestamp: DateTime<Utc>, value: f64) -> Self {
        Self {
            timestamp,
            value: Some(value),
            is_missing: false,
            context: Context::new(),
        }
    }

    /// A missing point: an interval for which the source had no value.
    pub fn missing(timestamp: DateTime<Utc>) -> Self {
        Self {
            timestamp,
            value: None,
            is_missing: true,
            context: Context::new(),
        }
    }

    /// Adds context to the point (builder style).
    pub fn with_context(mut self, context: impl Into<Context>) -> Self {
        self.context = context.into();
        self
    }

    /// The value when the point is present and finite.
    pub fn present_value(&self) -> Option<f64> {
        if self.is_missing {
            None
        } else {
            self.value.filter(|v| v.is_finite())
        }
    }
}

/// Which side of the expected range a value lies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Above the upper bound (or above the expected value).
    Up,
    /// Below the lower bound (or below the expected value).
    Down,
}

impl Direction {
    /// `"up"` or `"down"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(Direction::Up),
            "down" => Some(Direction::Down),
            _ => None,
        }
    }
}

/// The result of scoring one point with one detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Timestamp of the scored point.
    pub timestamp: DateTime<Utc>,
    /// The scored value (`None` for a missing point).
    pub value: Option<f64>,
    /// Whether the point is anomalous.
    pub is_anomaly: bool,
    /// Anomaly score (detector specific; for MAD/z-score the distance in sigmas).
    pub score: Option<f64>,
    /// Lower bound of the expected range.
    pub lower_bound: Option<f64>,
    /// Upper bound of the expected range.
    pub upper_bound: Option<f64>,
    /// Side of the deviation, when there is one.
    pub direction: Option<Direction>,
    /// Deviation from the expected value in percent.
    pub percent_deviation: Option<f64>,
    /// Why the point was not scored (too little history, missing value); `None` when scored.
    pub skipped: Option<String>,
    /// Statistics the decision was based on (median, mad, mean, std, q1, q3, n, ...).
    pub stats: Map<String, Value>,
}

impl Detection {
    /// A result that says the point was not scored, and why.
    pub fn skipped(
        timestamp: DateTime<Utc>,
        value: Option<f64>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            timestamp,
            value,
            is_anomaly: false,
            score: None,
            lower_bound: None,
            upper_bound: None,
            direction: None,
            percent_deviation: None,
            skipped: Some(reason.into()),
            stats: Map::new(),
        }
    }
}

/// A detection as stored in `dtk_detections`, with the metric and detector it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionRecord {
    /// Metric name.
    pub metric: String,
    /// Detector ID (section 4 of the design).
    pub detector_id: String,
    /// Detector type, e.g. `mad`.
    pub detector_type: String,
    /// Detector params as configured.
    pub detector_params: Value,
    /// The detection itself.
    pub detection: Detection,
    /// Whether an alert was sent for this detection.
    pub alert_sent: bool,
    /// Context of the scored point, plus `stats` and `skipped` of the detection.
    pub context: Context,
}

/// A table returned by a collector's query, before column mapping.
///
/// Collectors decode each cell by its real type; the pipeline maps columns to
/// timestamp, value and context, and reports every problem with the metric's name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names in query order.
    pub columns: Vec<String>,
    /// Rows; each has `columns.len()` cells.
    pub rows: Vec<Vec<Cell>>,
}

/// One decoded cell of a query result.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer of any width that fits in `i64`.
    Int(i64),
    /// Unsigned integer too big for `i64`.
    UInt(u64),
    /// Floating point (DOUBLE, REAL, Float64, and NUMERIC/DECIMAL converted).
    Float(f64),
    /// Text; a numeric-looking text is still text (a value column of text is an error).
    Text(String),
    /// A time without zone (TIMESTAMP, DATETIME); interpreted in the collector's time zone.
    DateTime(NaiveDateTime),
    /// A time with zone (TIMESTAMPTZ, MySQL TIMESTAMP, ClickHouse DateTime).
    DateTimeUtc(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// A JSON document.
    Json(Value),
    /// Anything else, described by its type name (BLOB, arrays, ...).
    Other(String),
}

impl Cell {
    /// Short name of the cell's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Bool(_) => "boolean",
            Cell::Int(_) | Cell::UInt(_) => "integer",
            Cell::Float(_) => "float",
            Cell::Text(_) => "text",
            Cell::DateTime(_) => "datetime",
            Cell::DateTimeUtc(_) => "datetime with time zone",
            Cell::Date(_) => "date",
            Cell::Json(_) => "json",
            Cell::Other(_) => "unsupported type",
        }
    }

    /// The cell as a JSON value, for context columns.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::from(*i),
            Cell::UInt(u) => Value::from(*u),
            Cell::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Cell::Text(s) => Value::String(s.clone()),
            Cell::DateTime(t) => Value::String(t.format("%Y-%m-%d %H:%M:%S").to_string()),
            Cell::DateTimeUtc(t) => Value::String(t.format("%Y-%m-%d %H:%M:%S").to_string()),
            Cell::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            Cell::Json(v) => v.clone(),
            Cell::Other(s) => Value::String(s.clone()),
        }
    }
}
