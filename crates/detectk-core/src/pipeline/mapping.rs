//! Mapping a collector's [`Table`] to datapoints: column lookup, type checks, ordering,
//! and missing intervals. Every problem names the metric, the column and the row.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::config::{CollectorConfig, local_to_utc, parse_time};
use crate::model::{Cell, Context, DataPoint, Table};
use crate::pipeline::grid::slots;

/// A problem with a query result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl MappingError {
    fn new(message: String, hint: Option<&str>) -> Self {
        Self {
            message,
            hint: hint.map(str::to_string),
        }
    }
}

/// Points mapped from a table, and what was noticed on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    /// Present points (and NULL-valued ones, as missing), sorted.
    pub points: Vec<DataPoint>,
    /// Rows whose value was NULL (stored as missing points).
    pub null_values: usize,
}

fn column_index(
    table: &Table,
    name: &str,
    role: &str,
    setting: &str,
) -> Result<usize, MappingError> {
    table
        .columns
        .iter()
        .position(|c| c == name)
        .or_else(|| {
            // Databases differ in identifier case; accept a unique case-insensitive match.
            let matches: Vec<usize> = table
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.eq_ignore_ascii_case(name))
                .map(|(i, _)| i)
                .collect();
            (matches.len() == 1).then(|| matches[0])
        })
        .ok_or_else(|| {
            MappingError::new(
                format!(
                    "the query returned no {role} column `{name}` (columns returned: {})",
                    if table.columns.is_empty() {
                        "none".to_string()
                    } else {
                        table.columns.join(", ")
                    }
                ),
                Some(&format!(
                    "alias the column in the query (`... AS {name}`) or set `collector.{setting}`"
                )),
            )
        })
}

fn to_utc(cell: &Cell, tz: Tz) -> Result<DateTime<Utc>, String> {
    match cell {
        Cell::DateTimeUtc(t) => Ok(*t),
        Cell::DateTime(naive) => local_to_utc(*naive, tz),
        Cell::Date(d) => local_to_utc(d.and_hms_opt(0, 0, 0).expect("midnight exists"), tz),
        Cell::Text(s) => parse_time(s, tz),
        Cell::Int(secs) => DateTime::from_timestamp(*secs, 0)
            .ok_or_else(|| format!("{secs} is out of range as Unix seconds")),
        other => Err(format!(
            "expected a timestamp, got {} {}",
            other.kind(),
            describe_cell(other)
        )),
    }
}

fn describe_cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => format!("{:?}", truncate(s)),
        Cell::Other(s) => s.clone(),
        other => format!("{:?}", other.to_json()),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Maps `table` to points using the collector's column settings.
pub fn map_table(table: &Table, collector: &CollectorConfig) -> Result<Mapped, MappingError> {
    if table.rows.is_empty() {
        return Ok(Mapped::default());
    }
    let ts_idx = column_index(
        table,
        &collector.timestamp_column,
        "timestamp",
        "timestamp_column",
    )?;
    let value_idx = column_index(table, &collector.value_column, "value", "value_column")?;
    let context_idx: Vec<(String, usize)> = collector
        .context_columns
        .iter()
        .map(|c| column_index(table, c, "context", "context_columns").map(|i| (c.clone(), i)))
        .collect::<Result<_, _>>()?;

    let mut mapped = Mapped::default();
    let mut previous: Option<DateTime<Utc>> = None;
    for (row_no, row) in table.rows.iter().enumerate() {
        let row_label = format!("row {}", row_no + 1);
        let ts_cell = row.get(ts_idx).unwrap_or(&Cell::Null);
        if matches!(ts_cell, Cell::Null) {
            return Err(MappingError::new(
                format!(
                    "{row_label}: timestamp column `{}` is NULL",
                    collector.timestamp_column
                ),
                Some("filter out rows without a timestamp in the query"),
            ));
        }
        let timestamp = to_utc(ts_cell, collector.timezone).map_err(|e| {
            MappingError::new(
                format!(
                    "{row_label}: timestamp column `{}`: {e}",
                    collector.timestamp_column
                ),
                None,
            )
        })?;
        if let Some(prev) = previous {
            if timestamp == prev {
                return Err(MappingError::new(
                    format!("{row_label}: duplicate timestamp {timestamp} in the query result"),
                    Some("group by the interval start so each interval has one row"),
                ));
            }
            if timestamp < prev {
                return Err(MappingError::new(
                    format!(
                        "{row_label}: timestamps are not sorted ({timestamp} comes after {prev})"
                    ),
                    Some(&format!(
                        "add `ORDER BY {}` to the query",
                        collector.timestamp_column
                    )),
                ));
            }
        }
        previous = Some(timestamp);

        let value_cell = row.get(value_idx).unwrap_or(&Cell::Null);
        let value = match value_cell {
            Cell::Null => None,
            Cell::Int(i) => Some(*i as f64),
            Cell::UInt(u) => Some(*u as f64),
            Cell::Float(f) => Some(*f),
            Cell::Bool(b) => Some(f64::from(u8::from(*b))),
            other => {
                return Err(MappingError::new(
                    format!(
                        "{row_label} ({timestamp}): value column `{}` holds {} {}, not a number",
                        collector.value_column,
                        other.kind(),
                        describe_cell(other)
                    ),
                    Some(
                        "the value must be numeric: cast it in the query, e.g. `CAST(x AS DOUBLE PRECISION)`",
                    ),
                ));
            }
        };
        if let Some(v) = value
            && !v.is_finite()
        {
            return Err(MappingError::new(
                format!(
                    "{row_label} ({timestamp}): value column `{}` is {v}",
                    collector.value_column
                ),
                Some(
                    "NaN and infinite values cannot be scored; return NULL for an interval without data",
                ),
            ));
        }
        let mut context = Context::new();
        for (name, idx) in &context_idx {
            context.insert(name.clone(), row.get(*idx).unwrap_or(&Cell::Null).to_json());
        }
        let point = match value {
            Some(v) => DataPoint::new(timestamp, v).with_context(context),
            None => {
                mapped.null_values += 1;
                DataPoint::missing(timestamp).with_context(context)
            }
        };
        mapped.points.push(point);
    }
    Ok(mapped)
}

/// Keeps points in `[from, to)` and adds a missing point for every interval of the range
/// that has no point. Returns the points and how many were dropped for lying outside.
pub fn fill_missing(
    points: Vec<DataPoint>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: TimeDelta,
) -> (Vec<DataPoint>, usize) {
    let total = points.len();
    let inside: Vec<DataPoint> = points
        .into_iter()
        .filter(|p| p.timestamp >= from && p.timestamp < to)
        .collect();
    let dropped = total - inside.len();
    let mut out = Vec::with_capacity(inside.len());
    let mut next = inside.into_iter().peekable();
    for slot in slots(from, to, interval) {
        let slot_end = slot + interval;
        // Points before this slot (off-grid, before the first slot) are kept as they are.
        while let Some(p) = next.next_if(|p| p.timestamp < slot) {
            out.push(p);
        }
        let mut filled = false;
        while let Some(p) = next.next_if(|p| p.timestamp < slot_end) {
            filled = true;
            out.push(p);
        }
        if !filled {
            out.push(DataPoint::missing(slot));
        }
    }
    out.extend(next);
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ParamMap;

    fn collector() -> CollectorConfig {
        CollectorConfig {
            kind: "sqlite".into(),
            profile: None,
            query: String::new(),
            timestamp_column: "period_time".into(),
            value_column: "value".into(),
            context_columns: vec!["hour".into()],
            timezone: Tz::UTC,
            timestamp_alignment: Default::default(),
            aggregation: Default::default(),
            params: ParamMap::default(),
        }
    }

    fn table(rows: Vec<Vec<Cell>>) -> Table {
        Table {
            columns: vec!["period_time".into(), "value".into(), "hour".into()],
            rows,
        }
    }

    fn ts(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn maps_values_context_and_nulls() {
        let t = table(vec![
            vec![ts("2024-01-01 00:00:00"), Cell::Int(5), Cell::Int(0)],
            vec![ts("2024-01-01 00:10:00"), Cell::Null, Cell::Int(0)],
        ]);
        let m = map_table(&t, &collector()).unwrap();
        assert_eq!(m.points.len(), 2);
        assert_eq!(m.points[0].value, Some(5.0));
        assert_eq!(m.points[0].context["hour"], 0);
        assert!(m.points[1].is_missing);
        assert_eq!(m.null_values, 1);
    }

    #[test]
    fn missing_column_lists_what_was_returned() {
        let t = Table {
            columns: vec!["ts".into(), "n".into()],
            rows: vec![vec![ts("2024-01-01"), Cell::Int(1)]],
        };
        let e = map_table(&t, &collector()).unwrap_err();
        assert_eq!(
            e.message,
            "the query returned no timestamp column `period_time` (columns returned: ts, n)"
        );
    }

    #[test]
    fn rejects_text_nan_duplicates_and_disorder() {
        let c = collector();
        let text = table(vec![vec![
            ts("2024-01-01"),
            Cell::Text("abc".into()),
            Cell::Null,
        ]]);
        assert!(
            map_table(&text, &c)
                .unwrap_err()
                .message
                .contains("holds text \"abc\", not a number")
        );
        let nan = table(vec![vec![
            ts("2024-01-01"),
            Cell::Float(f64::NAN),
            Cell::Null,
        ]]);
        assert!(map_table(&nan, &c).unwrap_err().message.contains("is NaN"));
        let dup = table(vec![
            vec![ts("2024-01-01"), Cell::Int(1), Cell::Null],
            vec![ts("2024-01-01 00:00:00"), Cell::Int(2), Cell::Null],
        ]);
        assert!(
            map_table(&dup, &c)
                .unwrap_err()
                .message
                .contains("duplicate timestamp")
        );
        let unsorted = table(vec![
            vec![ts("2024-01-02"), Cell::Int(1), Cell::Null],
            vec![ts("2024-01-01"), Cell::Int(2), Cell::Null],
        ]);
        let e = map_table(&unsorted, &c).unwrap_err();
        assert!(e.message.contains("not sorted"));
        assert_eq!(
            e.hint.as_deref(),
            Some("add `ORDER BY period_time` to the query")
        );
    }

    #[test]
    fn naive_times_use_the_collector_time_zone() {
        let mut c = collector();
        c.timezone = "Europe/Berlin".parse().unwrap();
        let t = table(vec![vec![
            ts("2024-01-01 01:00:00"),
            Cell::Int(1),
            Cell::Null,
        ]]);
        let m = map_table(&t, &c).unwrap();
        assert_eq!(
            m.points[0].timestamp.to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn fills_gaps_and_drops_outside_points() {
        let at = |m: i64| DateTime::from_timestamp(1_700_000_400 + m * 60, 0).unwrap();
        let ten = TimeDelta::minutes(10);
        let points = vec![
            DataPoint::new(at(-10), 1.0),
            DataPoint::new(at(0), 1.0),
            DataPoint::new(at(23), 2.0),
        ];
        let (filled, dropped) = fill_missing(points, at(0), at(40), ten);
        assert_eq!(dropped, 1);
        let shape: Vec<(i64, bool)> = filled
            .iter()
            .map(|p| ((p.timestamp - at(0)).num_minutes(), p.is_missing))
            .collect();
        assert_eq!(shape, vec![(0, false), (10, true), (23, false), (30, true)]);
    }
}
