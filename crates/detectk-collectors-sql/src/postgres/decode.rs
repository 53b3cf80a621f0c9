//! Decoding PostgreSQL values by the column's real type.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use detectk_core::model::Cell;
use sqlx::postgres::PgTypeKind;
use sqlx::postgres::{PgRow, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use crate::collect::DecodeFailure;

/// Decodes every cell of `row`.
pub(crate) fn decode_row(row: &PgRow) -> Result<Vec<Cell>, DecodeFailure> {
    (0..row.len()).map(|i| decode_cell(row, i)).collect()
}

fn decode_cell(row: &PgRow, i: usize) -> Result<Cell, DecodeFailure> {
    let raw = row
        .try_get_raw(i)
        .map_err(|e| DecodeFailure::new(i, e.to_string()))?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let ty = row.column(i).type_info().clone();
    decode_typed(row, i, &ty, raw)
}

fn decode_typed(
    row: &PgRow,
    i: usize,
    ty: &PgTypeInfo,
    raw: PgValueRef<'_>,
) -> Result<Cell, DecodeFailure> {
    let fail = |e: sqlx::Error| DecodeFailure::new(i, e.to_string());
    Ok(match ty.name() {
        "BOOL" => Cell::Bool(row.try_get::<bool, _>(i).map_err(fail)?),
        "INT2" => Cell::Int(row.try_get::<i16, _>(i).map_err(fail)?.into()),
        "INT4" => Cell::Int(row.try_get::<i32, _>(i).map_err(fail)?.into()),
        "INT8" => Cell::Int(row.try_get::<i64, _>(i).map_err(fail)?),
        "OID" => Cell::Int(
            row.try_get::<sqlx::postgres::types::Oid, _>(i)
                .map_err(fail)?
                .0
                .into(),
        ),
        "FLOAT4" => Cell::Float(row.try_get::<f32, _>(i).map_err(fail)?.into()),
        "FLOAT8" => Cell::Float(row.try_get::<f64, _>(i).map_err(fail)?),
        "NUMERIC" => Cell::Float(numeric(raw).map_err(|m| DecodeFailure::new(i, m))?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "UNKNOWN" => {
            Cell::Text(text(raw).map_err(|m| DecodeFailure::new(i, m))?)
        }
        // Decoded here, not by sqlx, which panics on `infinity`.
        "TIMESTAMP" => Cell::DateTime(timestamp(raw).map_err(|m| DecodeFailure::new(i, m))?),
        "TIMESTAMPTZ" => Cell::DateTimeUtc(
            timestamp(raw)
                .map_err(|m| DecodeFailure::new(i, m))?
                .and_utc(),
        ),
        "DATE" => Cell::Date(date(raw).map_err(|m| DecodeFailure::new(i, m))?),
        "JSON" | "JSONB" => Cell::Json(row.try_get::<serde_json::Value, _>(i).map_err(fail)?),
        name => match ty.kind() {
            PgTypeKind::Enum(_) => Cell::Text(text(raw).map_err(|m| DecodeFailure::new(i, m))?),
            PgTypeKind::Domain(base) => return decode_typed(row, i, base, raw),
            _ => Cell::Other(name.to_string()),
        },
    })
}

/// Text of a text-like value (identical in the text and binary formats).
fn text(raw: PgValueRef<'_>) -> Result<String, String> {
    raw.as_str().map(str::to_string).map_err(|e| e.to_string())
}

/// Midnight of 2000-01-01, PostgreSQL's epoch.
fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid constant")
}

/// A TIMESTAMP or TIMESTAMPTZ (microseconds since 2000-01-01 UTC in binary form).
fn timestamp(raw: PgValueRef<'_>) -> Result<NaiveDateTime, String> {
    match raw.format() {
        PgValueFormat::Binary => {
            let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
            let micros = i64::from_be_bytes(
                bytes
                    .try_into()
                    .map_err(|_| "malformed timestamp".to_string())?,
            );
            match micros {
                i64::MAX => Err("the timestamp is infinity".into()),
                i64::MIN => Err("the timestamp is -infinity".into()),
                _ => pg_epoch()
                    .checked_add_signed(chrono::Duration::microseconds(micros))
                    .ok_or_else(|| "the timestamp is out of range".into()),
            }
        }
        PgValueFormat::Text => {
            let s = raw.as_str().map_err(|e| e.to_string())?;
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
                .map(|t| t.with_timezone(&Utc).naive_utc())
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .map_err(|_| format!("timestamp {s:?} is not a finite time"))
        }
    }
}

/// A DATE (days since 2000-01-01 in binary form).
fn date(raw: PgValueRef<'_>) -> Result<NaiveDate, String> {
    match raw.format() {
        PgValueFormat::Binary => {
            let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
            let days =
                i32::from_be_bytes(bytes.try_into().map_err(|_| "malformed date".to_string())?);
            match days {
                i32::MAX => Err("the date is infinity".into()),
                i32::MIN => Err("the date is -infinity".into()),
                _ => pg_epoch()
                    .date()
                    .checked_add_signed(chrono::Duration::days(days.into()))
                    .ok_or_else(|| "the date is out of range".into()),
            }
        }
        PgValueFormat::Text => {
            let s = raw.as_str().map_err(|e| e.to_string())?;
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| format!("date {s:?} is not a finite date"))
        }
    }
}

/// A NUMERIC as `f64`, including `NaN` and the infinities, in either wire format.
fn numeric(raw: PgValueRef<'_>) -> Result<f64, String> {
    match raw.format() {
        PgValueFormat::Text => {
            let s = raw.as_str().map_err(|e| e.to_string())?;
            s.parse::<f64>()
                .map_err(|_| format!("NUMERIC {s:?} is not a number"))
        }
        PgValueFormat::Binary => numeric_binary(raw.as_bytes().map_err(|e| e.to_string())?),
    }
}

/// The binary NUMERIC format: ndigits, weight, sign, dscale (i16 each), then base-10000 digits.
pub(crate) fn numeric_binary(bytes: &[u8]) -> Result<f64, String> {
    let word = |k: usize| -> Result<u16, String> {
        bytes
            .get(k * 2..k * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated NUMERIC value".to_string())
    };
    let ndigits = word(0)? as usize;
    let weight = word(1)? as i16 as i32;
    let sign = word(2)?;
    match sign {
        0xC000 => return Ok(f64::NAN),
        0xD000 => return Ok(f64::INFINITY),
        0xF000 => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    // Accumulate the digits as text, then parse, so the result is correctly rounded.
    let mut digits = String::with_capacity(ndigits * 4);
    for k in 0..ndigits {
        digits.push_str(&format!("{:04}", word(4 + k)?));
    }
    if digits.is_empty() {
        return Ok(0.0);
    }
    let exponent = (weight + 1 - ndigits as i32) * 4;
    let text = format!(
        "{}{digits}e{exponent}",
        if sign == 0x4000 { "-" } else { "" }
    );
    text.parse::<f64>()
        .map_err(|_| "malformed NUMERIC value".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(ndigits: u16, weight: i16, sign: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight as u16, sign, 0] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn binary_numeric_values() {
        // 12345.678 = 1 2345 . 6780
        assert_eq!(
            numeric_binary(&encode(3, 1, 0, &[1, 2345, 6780])).unwrap(),
            12345.678
        );
        assert_eq!(
            numeric_binary(&encode(1, -1, 0x4000, &[5000])).unwrap(),
            -0.5
        );
        assert_eq!(numeric_binary(&encode(0, 0, 0, &[])).unwrap(), 0.0);
        assert_eq!(numeric_binary(&encode(1, 2, 0, &[7])).unwrap(), 7e8);
        assert!(numeric_binary(&encode(0, 0, 0xC000, &[])).unwrap().is_nan());
        assert_eq!(
            numeric_binary(&encode(0, 0, 0xF000, &[])).unwrap(),
            f64::NEG_INFINITY
        );
        assert!(numeric_binary(&[0, 1]).is_err());
    }
}
