//! Decoding MySQL/MariaDB values by the column's real type.
//!
//! The session time zone is UTC, so TIMESTAMP becomes a UTC time and DATETIME a
//! time without zone. DECIMAL arrives as text and becomes a float. MariaDB's JSON is
//! LONGTEXT on the wire, so it stays text; MySQL's JSON type becomes JSON.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use detectk_core::model::Cell;
use sqlx::mysql::MySqlRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use crate::collect::DecodeFailure;

/// Decodes every cell of `row`.
pub(crate) fn decode_row(row: &MySqlRow) -> Result<Vec<Cell>, DecodeFailure> {
    (0..row.len()).map(|i| decode_cell(row, i)).collect()
}

fn decode_cell(row: &MySqlRow, i: usize) -> Result<Cell, DecodeFailure> {
    let fail = |e: sqlx::Error| DecodeFailure::new(i, e.to_string());
    if row.try_get_raw(i).map_err(fail)?.is_null() {
        return Ok(Cell::Null);
    }
    let name = row.column(i).type_info().name().to_string();
    Ok(match name.as_str() {
        "BOOLEAN" => Cell::Bool(row.try_get::<bool, _>(i).map_err(fail)?),
        "TINYINT" => Cell::Int(row.try_get::<i8, _>(i).map_err(fail)?.into()),
        "SMALLINT" => Cell::Int(row.try_get::<i16, _>(i).map_err(fail)?.into()),
        "INT" | "MEDIUMINT" => Cell::Int(row.try_get::<i32, _>(i).map_err(fail)?.into()),
        "BIGINT" => Cell::Int(row.try_get::<i64, _>(i).map_err(fail)?),
        "TINYINT UNSIGNED" => Cell::Int(row.try_get::<u8, _>(i).map_err(fail)?.into()),
        "SMALLINT UNSIGNED" => Cell::Int(row.try_get::<u16, _>(i).map_err(fail)?.into()),
        "INT UNSIGNED" | "MEDIUMINT UNSIGNED" => {
            Cell::Int(row.try_get::<u32, _>(i).map_err(fail)?.into())
        }
        "BIGINT UNSIGNED" => {
            let v = row.try_get::<u64, _>(i).map_err(fail)?;
            i64::try_from(v).map(Cell::Int).unwrap_or(Cell::UInt(v))
        }
        "YEAR" => Cell::Int(row.try_get::<u16, _>(i).map_err(fail)?.into()),
        "FLOAT" => Cell::Float(row.try_get::<f32, _>(i).map_err(fail)?.into()),
        "DOUBLE" => Cell::Float(row.try_get::<f64, _>(i).map_err(fail)?),
        "DECIMAL" => {
            let s = row.try_get_unchecked::<String, _>(i).map_err(fail)?;
            Cell::Float(
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| DecodeFailure::new(i, format!("DECIMAL {s:?} is not a number")))?,
            )
        }
        "DATETIME" => Cell::DateTime(row.try_get::<NaiveDateTime, _>(i).map_err(fail)?),
        "TIMESTAMP" => Cell::DateTimeUtc(row.try_get::<DateTime<Utc>, _>(i).map_err(fail)?),
        "DATE" => Cell::Date(row.try_get::<NaiveDate, _>(i).map_err(fail)?),
        "JSON" => {
            let s = row.try_get_unchecked::<String, _>(i).map_err(fail)?;
            Cell::Json(
                serde_json::from_str(&s)
                    .map_err(|e| DecodeFailure::new(i, format!("invalid JSON: {e}")))?,
            )
        }
        "CHAR" | "VARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            Cell::Text(row.try_get_unchecked::<String, _>(i).map_err(fail)?)
        }
        "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            // Some functions return strings with a binary collation; keep valid UTF-8 as text.
            let bytes = row.try_get_unchecked::<Vec<u8>, _>(i).map_err(fail)?;
            String::from_utf8(bytes)
                .map(Cell::Text)
                .unwrap_or_else(|_| Cell::Other(name.clone()))
        }
        _ => Cell::Other(name),
    })
}
