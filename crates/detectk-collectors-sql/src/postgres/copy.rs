//! Rows in PostgreSQL's binary `COPY` format (`COPY ... FROM STDIN (FORMAT binary)`):
//! a signature and header, then per row a field count and each field as a length
//! (-1: NULL) and its bytes in the type's binary "send" encoding, then a trailer.
//!
//! Values are encoded exactly as sqlx binds them (times as microseconds since
//! 2000-01-01 UTC, floats as their IEEE bits, NaN and infinities included), so a
//! copied row equals an inserted one.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// The stream's start: the signature, flags (no OIDs) and header extension length (none).
pub(crate) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The stream's end: a field count of -1.
pub(crate) const TRAILER: &[u8] = &[0xff, 0xff];

/// The binary `jsonb` encoding's version byte (followed by the JSON text).
const JSONB_VERSION: u8 = 1;

/// Rows in binary `COPY` format (a stream is [`HEADER`], rows, [`TRAILER`]).
#[derive(Debug)]
pub(crate) struct CopyRows {
    buf: Vec<u8>,
}

impl CopyRows {
    /// No rows yet, with room for about `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Starts a row of `fields` fields (then one field call per field, in column order).
    pub(crate) fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> Result<&mut Self, String> {
        let len = i32::try_from(bytes.len())
            .map_err(|_| format!("a COPY field of {} bytes is too long", bytes.len()))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        Ok(self)
    }

    /// A NULL field.
    pub(crate) fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    /// A `text` field.
    pub(crate) fn text(&mut self, v: &str) -> Result<&mut Self, String> {
        self.field(v.as_bytes())
    }

    /// A `text` field or NULL.
    pub(crate) fn opt_text(&mut self, v: Option<&str>) -> Result<&mut Self, String> {
        match v {
            Some(v) => self.text(v),
            None => Ok(self.null()),
        }
    }

    /// A `float8` field or NULL.
    pub(crate) fn float(&mut self, v: Option<f64>) -> &mut Self {
        match v {
            Some(v) => {
                self.buf.extend_from_slice(&8i32.to_be_bytes());
                self.buf.extend_from_slice(&v.to_bits().to_be_bytes());
                self
            }
            None => self.null(),
        }
    }

    /// A `bool` field.
    pub(crate) fn boolean(&mut self, v: bool) -> &mut Self {
        self.buf.extend_from_slice(&1i32.to_be_bytes());
        self.buf.push(u8::from(v));
        self
    }

    /// A `timestamptz` field: microseconds since 2000-01-01 00:00:00 UTC, as sqlx
    /// encodes a bound time (sub-microsecond digits are dropped).
    pub(crate) fn time(&mut self, v: DateTime<Utc>) -> Result<&mut Self, String> {
        let micros =
            pg_micros(v).ok_or_else(|| format!("time out of range for PostgreSQL: {v}"))?;
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&micros.to_be_bytes());
        Ok(self)
    }

    /// A `jsonb` field from JSON text, or NULL.
    pub(crate) fn json(&mut self, v: Option<&str>) -> Result<&mut Self, String> {
        let Some(text) = v else {
            return Ok(self.null());
        };
        let len = i32::try_from(text.len() + 1)
            .map_err(|_| format!("a JSON value of {} bytes is too long", text.len()))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.push(JSONB_VERSION);
        self.buf.extend_from_slice(text.as_bytes());
        Ok(self)
    }

    /// The rows' bytes.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// PostgreSQL's epoch, 2000-01-01 00:00:00.
pub(crate) fn postgres_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// `t` as sqlx binds it to a `timestamptz`: microseconds since [`postgres_epoch`],
/// sub-microsecond digits dropped toward the epoch; `None` out of range.
pub(crate) fn pg_micros(t: DateTime<Utc>) -> Option<i64> {
    (t.naive_utc() - postgres_epoch()).num_microseconds()
}

/// The JSON text of a binary `jsonb` value (after its version byte); `None` for a
/// version this build does not know.
pub(crate) fn jsonb_text(bytes: &[u8]) -> Option<&[u8]> {
    match bytes.split_first() {
        Some((&JSONB_VERSION, text)) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_row_is_its_field_count_then_length_prefixed_fields() {
        let mut rows = CopyRows::with_capacity(0);
        let t = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 1).unwrap();
        rows.row(5)
            .text("ab")
            .unwrap()
            .time(t)
            .unwrap()
            .float(None)
            .boolean(true)
            .json(Some("{}"))
            .unwrap();
        let bytes = rows.into_bytes();
        let mut want = vec![0, 5];
        want.extend_from_slice(&[0, 0, 0, 2, b'a', b'b']);
        want.extend_from_slice(&[0, 0, 0, 8]);
        want.extend_from_slice(&1_000_000i64.to_be_bytes());
        want.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        want.extend_from_slice(&[0, 0, 0, 1, 1]);
        want.extend_from_slice(&[0, 0, 0, 3, 1, b'{', b'}']);
        assert_eq!(bytes, want);
    }

    #[test]
    fn times_before_the_epoch_and_below_a_microsecond_encode_as_sqlx_does() {
        let t = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap()
            + chrono::Duration::nanoseconds(1_500);
        let mut rows = CopyRows::with_capacity(0);
        rows.time(t).unwrap();
        let micros = i64::from_be_bytes(rows.buf[4..].try_into().unwrap());
        // -999,998.5 µs, truncated toward zero.
        assert_eq!(micros, -999_998);
    }

    #[test]
    fn floats_keep_nan_and_infinities() {
        let mut rows = CopyRows::with_capacity(0);
        rows.float(Some(f64::NEG_INFINITY));
        let bits = u64::from_be_bytes(rows.buf[4..].try_into().unwrap());
        assert_eq!(f64::from_bits(bits), f64::NEG_INFINITY);
    }
}
