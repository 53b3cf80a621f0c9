//! The history window read through `COPY (SELECT ...) TO STDOUT (FORMAT binary)`: the
//! rows come back as one stream in PostgreSQL's binary `COPY` format and are decoded
//! here, instead of one row message each through sqlx's row stream (about 0.4 µs a
//! row of this machine's CPU, and a tick reads 4,320 rows a metric).
//!
//! `COPY` takes no bind parameters, so the metric name and the bounds are written into
//! the statement as literals: the name as an escape string (`E'...'`, every backslash
//! and quote doubled: the same text whatever `standard_conforming_strings` says), the
//! bounds as `timestamptz` literals of the microseconds sqlx would bind.
//!
//! The rows are decoded as sqlx decodes the same columns (see `PgLane::load_points`):
//! times from microseconds since 2000-01-01 UTC, values from their IEEE bits, the
//! context from its JSONB text. The lane takes this path only when the table's columns
//! have the types decoded here ([`COLUMN_TYPES`]).

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use detectk_core::model::DataPoint;

use super::copy::{jsonb_text, pg_micros, postgres_epoch as epoch};
use super::dialect::parse_context;
use crate::records::Contexts;

/// The columns a window reads, in order, with the type each must have (as
/// `format_type` names it) for this decoder.
pub(crate) const COLUMN_TYPES: [(&str, &str); 4] = [
    ("collected_at", "timestamp with time zone"),
    ("value", "double precision"),
    ("is_missing", "boolean"),
    ("context", "jsonb"),
];

/// The query listing the types of [`COLUMN_TYPES`]' columns in the `dtk_datapoints`
/// the connection's search path finds.
pub(crate) const COLUMN_TYPES_QUERY: &str = "SELECT a.attname::text AS name, \
     format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a \
     WHERE a.attrelid = to_regclass('dtk_datapoints') AND a.attnum > 0 AND NOT a.attisdropped \
     AND a.attname IN ('collected_at', 'value', 'is_missing', 'context')";

/// The start of every binary `COPY` stream: signature, flags, header extension length.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The `COPY` statement reading `metric`'s points in `[from, to)` in time order, or
/// `None` when a bound has no plain four-digit-year literal (the caller then reads the
/// rows through sqlx).
pub(crate) fn window_copy_sql(
    metric: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<String> {
    Some(format!(
        "COPY (SELECT collected_at, value, is_missing, context FROM dtk_datapoints \
         WHERE metric_name = {} AND collected_at >= {} AND collected_at < {} \
         ORDER BY collected_at) TO STDOUT (FORMAT binary)",
        text_literal(metric),
        time_literal(from)?,
        time_literal(to)?,
    ))
}

/// `text` as an escape string literal.
fn text_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 3);
    literal.push_str("E'");
    for c in text.chars() {
        match c {
            '\\' => literal.push_str("\\\\"),
            '\'' => literal.push_str("''"),
            c => literal.push(c),
        }
    }
    literal.push('\'');
    literal
}

/// The `timestamptz` literal of the microseconds sqlx binds for `t` (it drops
/// sub-microsecond digits toward the epoch); `None` outside the years 1 to 9999.
fn time_literal(t: DateTime<Utc>) -> Option<String> {
    let micros = pg_micros(t)?;
    let at = epoch().checked_add_signed(TimeDelta::microseconds(micros))?;
    (1..=9999)
        .contains(&at.year())
        .then(|| format!("TIMESTAMPTZ '{}+00'", at.format("%Y-%m-%d %H:%M:%S%.6f")))
}

/// Why a stream could not be decoded, as sqlx reports a column it cannot decode.
fn decode_error(column: &str, why: impl Into<String>) -> sqlx::Error {
    super::dialect::decode_error(column, why.into().into())
}

/// Reads a binary `COPY` stream of `(collected_at, value, is_missing, context)` rows.
pub(crate) fn decode_window(
    stream: &[u8],
    contexts: &mut Contexts,
) -> Result<Vec<DataPoint>, sqlx::Error> {
    let truncated = || decode_error("collected_at", "the COPY stream ends inside a row");
    let mut rest = stream
        .strip_prefix(SIGNATURE)
        .ok_or_else(|| decode_error("collected_at", "not a binary COPY stream"))?;
    let _flags = take::<4>(&mut rest).ok_or_else(truncated)?;
    let extension = u32::from_be_bytes(take::<4>(&mut rest).ok_or_else(truncated)?) as usize;
    rest = rest.get(extension..).ok_or_else(truncated)?;
    let mut points = Vec::with_capacity(rest.len() / 40);
    loop {
        let fields = i16::from_be_bytes(take::<2>(&mut rest).ok_or_else(truncated)?);
        if fields == -1 {
            return Ok(points);
        }
        if fields != 4 {
            return Err(decode_error(
                "collected_at",
                format!("a COPY row of {fields} fields, not 4"),
            ));
        }
        let time = field(&mut rest).ok_or_else(truncated)?;
        let value = field(&mut rest).ok_or_else(truncated)?;
        let missing = field(&mut rest).ok_or_else(truncated)?;
        let context = field(&mut rest).ok_or_else(truncated)?;
        points.push(DataPoint {
            timestamp: decode_time(time)?,
            value: value.map(decode_float).transpose()?,
            is_missing: decode_bool(missing)?,
            context: match context {
                None => Default::default(),
                Some(bytes) => decode_context(bytes, contexts)?,
            },
        });
    }
}

/// The next `N` bytes.
fn take<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = rest.split_first_chunk::<N>()?;
    *rest = tail;
    Some(*head)
}

/// The next field: `None` (outer) when the stream ends inside it, `None` (inner) for NULL.
#[allow(clippy::option_option)]
fn field<'a>(rest: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let len = i32::from_be_bytes(take::<4>(rest)?);
    if len < 0 {
        return Some(None);
    }
    let (bytes, tail) = rest.split_at_checked(len as usize)?;
    *rest = tail;
    Some(Some(bytes))
}

fn decode_time(bytes: Option<&[u8]>) -> Result<DateTime<Utc>, sqlx::Error> {
    let column = "collected_at";
    let bytes = bytes.ok_or_else(|| decode_error(column, "unexpected NULL"))?;
    let micros = i64::from_be_bytes(
        bytes
            .try_into()
            .map_err(|_| decode_error(column, "a timestamptz is 8 bytes"))?,
    );
    epoch()
        .checked_add_signed(TimeDelta::microseconds(micros))
        .map(|t| t.and_utc())
        .ok_or_else(|| decode_error(column, format!("{micros} µs from 2000 is out of range")))
}

fn decode_float(bytes: &[u8]) -> Result<f64, sqlx::Error> {
    bytes
        .try_into()
        .map(f64::from_be_bytes)
        .map_err(|_| decode_error("value", "a double precision is 8 bytes"))
}

fn decode_bool(bytes: Option<&[u8]>) -> Result<bool, sqlx::Error> {
    match bytes {
        Some([b]) => Ok(*b != 0),
        Some(_) => Err(decode_error("is_missing", "a boolean is 1 byte")),
        None => Err(decode_error("is_missing", "unexpected NULL")),
    }
}

fn decode_context(
    bytes: &[u8],
    contexts: &mut Contexts,
) -> Result<detectk_core::model::Context, sqlx::Error> {
    let text = jsonb_text(bytes)
        .ok_or_else(|| decode_error("context", "unsupported JSONB format version"))?;
    parse_context(text, "context", contexts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::copy::{CopyRows, HEADER, TRAILER};
    use chrono::TimeZone;

    #[test]
    fn literals_escape_quotes_and_backslashes_and_keep_microseconds() {
        assert_eq!(text_literal(r"a'b\c"), r"E'a''b\\c'");
        let t = Utc.with_ymd_and_hms(2025, 12, 1, 0, 10, 0).unwrap()
            + TimeDelta::nanoseconds(1_234_567);
        assert_eq!(
            time_literal(t).unwrap(),
            "TIMESTAMPTZ '2025-12-01 00:10:00.001234+00'"
        );
        let before =
            Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap() + TimeDelta::nanoseconds(500);
        // sqlx drops sub-microsecond digits toward the epoch: up, before 2000.
        assert_eq!(
            time_literal(before).unwrap(),
            "TIMESTAMPTZ '1999-12-31 23:59:59.000001+00'"
        );
        assert!(time_literal(DateTime::<Utc>::MAX_UTC).is_none());
    }

    #[test]
    fn rows_written_by_the_copy_encoder_decode_back() {
        let t0 = Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap();
        let mut rows = CopyRows::with_capacity(256);
        rows.row(4)
            .time(t0)
            .unwrap()
            .float(Some(1.5))
            .boolean(false)
            .null();
        rows.row(4)
            .time(t0 + TimeDelta::minutes(10))
            .unwrap()
            .float(None)
            .boolean(true)
            .json(Some(r#"{"hour":1}"#))
            .unwrap();
        rows.row(4)
            .time(t0 + TimeDelta::minutes(20))
            .unwrap()
            .float(Some(f64::NAN))
            .boolean(false)
            .json(Some(r#"{"hour":1}"#))
            .unwrap();
        let mut stream = HEADER.to_vec();
        stream.extend_from_slice(&rows.into_bytes());
        stream.extend_from_slice(TRAILER);
        let points = decode_window(&stream, &mut Contexts::default()).unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].timestamp, t0);
        assert_eq!(points[0].value, Some(1.5));
        assert!(points[0].context.is_empty());
        assert_eq!(points[1].value, None);
        assert!(points[1].is_missing);
        assert_eq!(points[1].context.get("hour"), Some(&serde_json::json!(1)));
        assert!(points[2].value.unwrap().is_nan());

        // Cut anywhere inside, the stream is an error, never a panic or fewer points.
        for cut in 0..stream.len() - 1 {
            assert!(
                decode_window(&stream[..cut], &mut Contexts::default()).is_err(),
                "cut at {cut}"
            );
        }
    }
}
