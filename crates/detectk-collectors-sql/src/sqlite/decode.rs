//! Decoding SQLite values by their storage class (expression columns have no
//! declared type), refined by the column's declared type when there is one.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use detectk_core::model::Cell;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::time_text::parse_naive_exact;
use crate::collect::DecodeFailure;

/// Decodes every cell of `row`.
pub(crate) fn decode_row(row: &SqliteRow) -> Result<Vec<Cell>, DecodeFailure> {
    (0..row.len()).map(|i| decode_cell(row, i)).collect()
}

fn decode_cell(row: &SqliteRow, i: usize) -> Result<Cell, DecodeFailure> {
    let fail = |e: sqlx::Error| DecodeFailure::new(i, e.to_string());
    let raw = row.try_get_raw(i).map_err(fail)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let declared = row.column(i).type_info().name();
    Ok(match raw.type_info().name() {
        "INTEGER" | "BOOLEAN" => {
            let v: i64 = row.try_get_unchecked(i).map_err(fail)?;
            match declared {
                "BOOLEAN" => Cell::Bool(v != 0),
                "DATETIME" => DateTime::<Utc>::from_timestamp(v, 0)
                    .map(Cell::DateTimeUtc)
                    .unwrap_or(Cell::Int(v)),
                _ => Cell::Int(v),
            }
        }
        "REAL" => Cell::Float(row.try_get_unchecked::<f64, _>(i).map_err(fail)?),
        "TEXT" | "DATETIME" | "DATE" | "TIME" => {
            let text: &str = row.try_get_unchecked(i).map_err(fail)?;
            match parse_naive_exact(text.as_bytes()) {
                Some(t) => Cell::DateTime(t),
                None => text_cell(text.to_string()),
            }
        }
        other => Cell::Other(other.to_string()),
    })
}

/// What of a column's declared type changes how a value decodes: sqlx names the column
/// `BOOLEAN` for a declared `BOOLEAN`/`BOOL` and `DATETIME` for `DATETIME`/`TIMESTAMP`
/// (any case); every other declared type (or none: an expression) decodes by the
/// value's storage class alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Declared {
    /// `BOOLEAN` or `BOOL`: integers are booleans.
    Boolean,
    /// `DATETIME` or `TIMESTAMP`: integers are Unix seconds.
    Datetime,
    /// Anything else.
    Other,
}

impl Declared {
    /// The declared type `decl` (SQLite's `sqlite3_column_decltype`), as sqlx reads it.
    pub(crate) fn of(decl: Option<&str>) -> Self {
        match decl.map(str::to_ascii_lowercase).as_deref() {
            Some("boolean" | "bool") => Declared::Boolean,
            Some("datetime" | "timestamp") => Declared::Datetime,
            _ => Declared::Other,
        }
    }
}

/// Decodes value `value` of column `i` (rusqlite's view of it) exactly as
/// [`decode_row`] decodes sqlx's.
pub(crate) fn decode_value(
    value: rusqlite::types::ValueRef<'_>,
    declared: Declared,
    i: usize,
) -> Result<Cell, DecodeFailure> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(v) => match declared {
            Declared::Boolean => Cell::Bool(v != 0),
            Declared::Datetime => DateTime::<Utc>::from_timestamp(v, 0)
                .map(Cell::DateTimeUtc)
                .unwrap_or(Cell::Int(v)),
            Declared::Other => Cell::Int(v),
        },
        ValueRef::Real(v) => Cell::Float(v),
        ValueRef::Text(bytes) => match parse_naive_exact(bytes) {
            Some(t) => Cell::DateTime(t),
            None => match std::str::from_utf8(bytes) {
                Ok(text) => text_cell(text.to_string()),
                // sqlx's wording of the same failure.
                Err(e) => {
                    return Err(DecodeFailure::new(
                        i,
                        format!("error occurred while decoding column {i}: {e}"),
                    ));
                }
            },
        },
        ValueRef::Blob(_) => Cell::Other("BLOB".to_string()),
    })
}

/// Text in one of SQLite's date/time formats (the common `YYYY-MM-DD HH:MM:SS[.f]`
/// is read by [`parse_naive_exact`] before this) becomes a date or time (with zone when it
/// carries `Z` or an offset); any other text stays text.
pub(crate) fn text_cell(s: String) -> Cell {
    let b = s.as_bytes();
    let looks_like_date = b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[8..10].iter().all(u8::is_ascii_digit);
    if !looks_like_date {
        return Cell::Text(s);
    }
    if b.len() == 10 {
        return NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map(Cell::Date)
            .unwrap_or(Cell::Text(s));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)) {
        return Cell::DateTimeUtc(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&s, format) {
            return Cell::DateTime(t);
        }
    }
    Cell::Text(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_texts_become_times() {
        let naive = NaiveDate::from_ymd_opt(2024, 3, 10)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            text_cell("2024-03-10 02:30:00".into()),
            Cell::DateTime(naive)
        );
        assert_eq!(text_cell("2024-03-10T02:30".into()), Cell::DateTime(naive));
        assert_eq!(
            text_cell("2024-03-10 05:30:00+03:00".into()),
            Cell::DateTimeUtc(naive.and_utc())
        );
        assert_eq!(
            text_cell("2024-03-10T02:30:00Z".into()),
            Cell::DateTimeUtc(naive.and_utc())
        );
        assert_eq!(text_cell("2024-03-10".into()), Cell::Date(naive.date()));
        assert_eq!(
            text_cell("2024-13-10".into()),
            Cell::Text("2024-13-10".into())
        );
        assert_eq!(text_cell("web".into()), Cell::Text("web".into()));
        assert_eq!(
            text_cell("2024-03-10 is a date".into()),
            Cell::Text("2024-03-10 is a date".into())
        );
    }

    proptest::proptest! {
        /// The exact parser, tried first on a text cell, reads what `text_cell` reads.
        #[test]
        fn the_exact_parser_reads_text_cells_as_text_cell_does(
            s in "[0-9]{4}-[0-1][0-9]-[0-3][0-9][ T][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?"
        ) {
            if let Some(t) = parse_naive_exact(s.as_bytes()) {
                proptest::prop_assert_eq!(text_cell(s), Cell::DateTime(t));
            }
        }
    }
}
