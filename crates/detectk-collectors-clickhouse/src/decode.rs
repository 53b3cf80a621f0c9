//! Decodes cells of a `JSONCompact` result by the ClickHouse type of their column.
//!
//! ClickHouse renders `DateTime` as local wall-clock text in the column's time zone
//! (`DateTime('Europe/Berlin')`) or, for a plain `DateTime`, in the server's zone; or
//! as UTC ISO text (`...Z`) when `date_time_output_format = 'iso'` is in effect (servers
//! that know that setting). Both are turned back into the absolute instant.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use detectk_core::Cell;
use serde_json::Value;

/// How the cells of one column are decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// Signed integers up to 64 bits.
    Int,
    /// Unsigned integers up to 64 bits.
    UInt,
    /// 128/256-bit integers: kept when they fit 64 bits.
    WideInt,
    /// Float32/Float64 (`nan`, `inf` arrive as text).
    Float,
    /// Decimal of any width, converted to f64.
    Decimal,
    /// Bool.
    Bool,
    /// String-like: String, FixedString, Enum, UUID, IPv4/6.
    Text,
    /// Date, Date32.
    Date,
    /// DateTime / DateTime64 rendered in `zone`.
    DateTime {
        /// Zone of the column or the server.
        zone: Tz,
    },
    /// Arrays, tuples, maps, JSON: kept as JSON.
    Json,
    /// The type of a NULL literal.
    Nothing,
    /// Anything else; the cell says which type it was.
    Other,
}

/// A column's decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDecoder {
    /// The ClickHouse type text, e.g. `Nullable(DateTime('UTC'))`.
    pub type_name: String,
    /// How its cells are read.
    pub kind: ColumnKind,
}

impl ColumnDecoder {
    /// A decoder for `type_name`; plain `DateTime` uses `server_zone`.
    pub fn new(type_name: &str, server_zone: Tz) -> Result<Self, String> {
        let inner = unwrap_modifiers(type_name.trim());
        let (base, args) = split_type(inner);
        let kind = match base {
            "Int8" | "Int16" | "Int32" | "Int64" => ColumnKind::Int,
            "UInt8" | "UInt16" | "UInt32" | "UInt64" => ColumnKind::UInt,
            "Int128" | "Int256" | "UInt128" | "UInt256" => ColumnKind::WideInt,
            "Float32" | "Float64" | "BFloat16" => ColumnKind::Float,
            "Decimal" | "Decimal32" | "Decimal64" | "Decimal128" | "Decimal256" => {
                ColumnKind::Decimal
            }
            "Bool" | "Boolean" => ColumnKind::Bool,
            "String" | "FixedString" | "UUID" | "Enum8" | "Enum16" | "Enum" | "IPv4" | "IPv6" => {
                ColumnKind::Text
            }
            "Date" | "Date32" => ColumnKind::Date,
            "DateTime" | "DateTime32" => ColumnKind::DateTime {
                zone: zone_arg(args.first().copied(), server_zone)?,
            },
            "DateTime64" => ColumnKind::DateTime {
                zone: zone_arg(args.get(1).copied(), server_zone)?,
            },
            "Array" | "Tuple" | "Map" | "Nested" | "JSON" | "Object" => ColumnKind::Json,
            "Nothing" => ColumnKind::Nothing,
            _ => ColumnKind::Other,
        };
        Ok(Self {
            type_name: type_name.to_string(),
            kind,
        })
    }

    /// Decodes one cell; the error says what was wrong with the value.
    pub fn decode(&self, value: Value) -> Result<Cell, String> {
        if value.is_null() {
            return Ok(Cell::Null);
        }
        let cell = match (&self.kind, value) {
            (ColumnKind::Int, v) => Cell::Int(int_of(&v).ok_or_else(|| bad(&self.type_name, &v))?),
            (ColumnKind::UInt, v) => match uint_of(&v) {
                Some(u) => i64::try_from(u).map(Cell::Int).unwrap_or(Cell::UInt(u)),
                None => return Err(bad(&self.type_name, &v)),
            },
            (ColumnKind::WideInt, v) => match (int_of(&v), uint_of(&v)) {
                (Some(i), _) => Cell::Int(i),
                (None, Some(u)) => Cell::UInt(u),
                _ => Cell::Other(format!("{} {}", self.type_name, text_of(&v))),
            },
            (ColumnKind::Float | ColumnKind::Decimal, v) => {
                Cell::Float(float_of(&v).ok_or_else(|| bad(&self.type_name, &v))?)
            }
            (ColumnKind::Bool, Value::Bool(b)) => Cell::Bool(b),
            (ColumnKind::Bool, v) => match uint_of(&v) {
                Some(u) => Cell::Bool(u != 0),
                None => return Err(bad(&self.type_name, &v)),
            },
            (ColumnKind::Text, Value::String(s)) => {
                Cell::Text(s.trim_end_matches('\0').to_string())
            }
            (ColumnKind::Text, v) => Cell::Text(text_of(&v)),
            (ColumnKind::Date, Value::String(s)) => Cell::Date(
                NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .map_err(|_| bad(&self.type_name, &Value::String(s)))?,
            ),
            (ColumnKind::DateTime { zone }, Value::String(s)) => {
                Cell::DateTimeUtc(parse_datetime(&s, *zone, &self.type_name)?)
            }
            (ColumnKind::DateTime { .. }, Value::Number(n)) => {
                // `date_time_output_format = 'unix_timestamp'`.
                let secs = n.as_f64().unwrap_or(f64::NAN);
                Cell::DateTimeUtc(
                    from_unix(secs).ok_or_else(|| bad(&self.type_name, &Value::Number(n)))?,
                )
            }
            (ColumnKind::Json, v) => Cell::Json(v),
            (ColumnKind::Nothing, _) => Cell::Null,
            (ColumnKind::Other, v) => Cell::Other(format!("{} {}", self.type_name, text_of(&v))),
            (_, v) => return Err(bad(&self.type_name, &v)),
        };
        Ok(cell)
    }
}

fn bad(type_name: &str, v: &Value) -> String {
    format!("unexpected {type_name} value {v}")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn uint_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" | "-nan" | "NaN" => Some(f64::NAN),
            "inf" | "+inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn from_unix(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round() as u32;
    DateTime::from_timestamp(whole as i64, nanos.min(999_999_999))
}

/// Parses `YYYY-MM-DD hh:mm:ss[.fff]` in `zone`, or `YYYY-MM-DDThh:mm:ss[.fff]Z` as UTC.
pub fn parse_datetime(text: &str, zone: Tz, type_name: &str) -> Result<DateTime<Utc>, String> {
    if let Some(utc) = text.strip_suffix('Z') {
        return NaiveDateTime::parse_from_str(utc, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|t| t.and_utc())
            .map_err(|_| format!("unexpected {type_name} value {text:?}"));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .map_err(|_| format!("unexpected {type_name} value {text:?}"))?;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(..) => Err(format!(
            "{type_name} value {text:?} is ambiguous in time zone {zone} (it occurs twice when \
             daylight saving time ends); return it as toTimeZone(column, 'UTC') or toUnixTimestamp(column)"
        )),
        LocalResult::None => Err(format!(
            "{type_name} value {text:?} does not exist in time zone {zone}"
        )),
    }
}

/// Strips `Nullable(...)`, `LowCardinality(...)` and `SimpleAggregateFunction(f, T)`.
fn unwrap_modifiers(mut t: &str) -> &str {
    loop {
        let (base, args) = split_type(t);
        match (base, args.as_slice()) {
            ("Nullable" | "LowCardinality", [inner]) => t = inner,
            ("SimpleAggregateFunction", [_, inner]) => t = inner,
            _ => return t,
        }
    }
}

/// `DateTime64(3, 'UTC')` -> (`DateTime64`, [`3`, `'UTC'`]), splitting at top-level commas.
fn split_type(t: &str) -> (&str, Vec<&str>) {
    let Some(open) = t.find('(') else {
        return (t, Vec::new());
    };
    let base = t[..open].trim();
    let Some(inner) = t[open + 1..].strip_suffix(')') else {
        return (t, Vec::new());
    };
    let mut args = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = inner.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b',' if !quoted && depth == 0 => {
                args.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    args.push(inner[start..].trim());
    (base, args)
}

fn zone_arg(arg: Option<&str>, server_zone: Tz) -> Result<Tz, String> {
    match arg {
        None => Ok(server_zone),
        Some(quoted) => {
            let name = quoted.trim_matches('\'');
            name.parse::<Tz>()
                .map_err(|_| format!("unknown time zone {name:?} in a DateTime column type"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec(t: &str, v: Value) -> Result<Cell, String> {
        ColumnDecoder::new(t, chrono_tz::UTC).unwrap().decode(v)
    }

    #[test]
    fn splits_nested_types() {
        assert_eq!(
            split_type("DateTime64(3, 'UTC')"),
            ("DateTime64", vec!["3", "'UTC'"])
        );
        assert_eq!(
            unwrap_modifiers("LowCardinality(Nullable(String))"),
            "String"
        );
        assert_eq!(
            split_type("Map(String, Tuple(a Int8, b String))").1,
            vec!["String", "Tuple(a Int8, b String)"]
        );
    }

    #[test]
    fn decodes_numbers() {
        assert_eq!(
            dec("UInt64", json!(18446744073709551615u64)),
            Ok(Cell::UInt(u64::MAX))
        );
        assert_eq!(dec("UInt64", json!("42")), Ok(Cell::Int(42)));
        assert_eq!(dec("Nullable(Int32)", Value::Null), Ok(Cell::Null));
        assert_eq!(dec("Decimal(10, 2)", json!(12.5)), Ok(Cell::Float(12.5)));
        assert_eq!(
            dec("Decimal(38, 2)", json!("12.25")),
            Ok(Cell::Float(12.25))
        );
        assert!(matches!(dec("Float64", json!("nan")), Ok(Cell::Float(f)) if f.is_nan()));
        assert_eq!(
            dec("Float32", json!("-inf")),
            Ok(Cell::Float(f64::NEG_INFINITY))
        );
        assert_eq!(dec("Bool", json!(true)), Ok(Cell::Bool(true)));
        assert!(
            dec("Int8", json!("x"))
                .unwrap_err()
                .contains("unexpected Int8 value")
        );
    }

    #[test]
    fn decodes_times_in_the_right_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let d = ColumnDecoder::new("DateTime", berlin).unwrap();
        // Plain DateTime is rendered in the server zone (winter: UTC+1).
        assert_eq!(
            d.decode(json!("2024-01-15 10:00:00")),
            Ok(Cell::DateTimeUtc(
                Utc.with_ymd_and_hms(2024, 1, 15, 9, 0, 0).unwrap()
            ))
        );
        // A column zone beats the server zone.
        let d = ColumnDecoder::new("Nullable(DateTime('Asia/Tokyo'))", berlin).unwrap();
        assert_eq!(
            d.decode(json!("2024-07-01 09:00:00")),
            Ok(Cell::DateTimeUtc(
                Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap()
            ))
        );
        // ISO output is UTC whatever the zone.
        assert_eq!(
            d.decode(json!("2024-07-01T09:00:00Z")),
            Ok(Cell::DateTimeUtc(
                Utc.with_ymd_and_hms(2024, 7, 1, 9, 0, 0).unwrap()
            ))
        );
        let d = ColumnDecoder::new("DateTime64(3, 'UTC')", berlin).unwrap();
        assert_eq!(
            d.decode(json!("2024-07-01 09:00:00.250")),
            Ok(Cell::DateTimeUtc(
                Utc.with_ymd_and_hms(2024, 7, 1, 9, 0, 0).unwrap()
                    + chrono::TimeDelta::milliseconds(250)
            ))
        );
        let err = ColumnDecoder::new("DateTime", berlin)
            .unwrap()
            .decode(json!("2024-10-27 02:30:00"))
            .unwrap_err();
        assert!(
            err.contains("ambiguous in time zone Europe/Berlin"),
            "{err}"
        );
        assert!(ColumnDecoder::new("DateTime('Mars/Base')", berlin).is_err());
    }

    #[test]
    fn decodes_other_kinds() {
        assert_eq!(
            dec("Date", json!("2024-02-29")),
            Ok(Cell::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()))
        );
        assert_eq!(
            dec("LowCardinality(String)", json!("a")),
            Ok(Cell::Text("a".into()))
        );
        assert_eq!(
            dec("FixedString(3)", json!("ab\u{0}")),
            Ok(Cell::Text("ab".into()))
        );
        assert_eq!(
            dec("Array(UInt8)", json!([1, 2])),
            Ok(Cell::Json(json!([1, 2])))
        );
        assert_eq!(dec("Nullable(Nothing)", Value::Null), Ok(Cell::Null));
        assert_eq!(
            dec("Int128", json!("170141183460469231731687303715884105727")),
            Ok(Cell::Other(
                "Int128 170141183460469231731687303715884105727".into()
            ))
        );
        assert_eq!(
            dec("Point", json!([1.0, 2.0])),
            Ok(Cell::Other("Point [1.0,2.0]".into()))
        );
    }
}
