//! Detector IDs: a contract shared with Python detectk (design section 4).
//!
//! An ID is the configured `id:`, or the first 8 hex characters of SHA-256 over
//! `"{type}:{canonical_json}"`, where `canonical_json` is the params without
//! default-valued top-level keys, serialized exactly like Python's
//! `json.dumps(params, sort_keys=True, ensure_ascii=False)`.

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// Default params per detector type, as Python detectk normalises them for IDs.
fn defaults(detector_type: &str) -> &'static [(&'static str, Default)] {
    const SIGMA: &[(&str, Default)] = &[
        ("n_sigma", Default::Float(3.0)),
        ("use_weighted", Default::Bool(true)),
        ("exp_decay_factor", Default::Float(0.1)),
        ("seasonal_features", Default::EmptyList),
        ("use_combined_seasonality", Default::Bool(false)),
    ];
    const THRESHOLD: &[(&str, Default)] = &[
        ("operator", Default::Str("greater_than")),
        ("percent", Default::Bool(false)),
        ("tolerance", Default::Float(0.001)),
    ];
    match detector_type {
        "threshold" => THRESHOLD,
        "mad" | "zscore" => SIGMA,
        _ => &[],
    }
}

#[derive(Debug, Clone, Copy)]
enum Default {
    Float(f64),
    Bool(bool),
    Str(&'static str),
    EmptyList,
}

/// Python's numeric view of a JSON scalar (`True == 1`, `3 == 3.0`).
enum PyNumber {
    Int(i128),
    Float(f64),
}

fn py_number(value: &Value) -> Option<PyNumber> {
    match value {
        Value::Bool(b) => Some(PyNumber::Int(i128::from(*b))),
        Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            PyNumber::Int(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            PyNumber::Int(i128::from(u))
        } else {
            PyNumber::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        _ => None,
    }
}

/// Python `==` between a number and a float, exact for integers of any size.
fn py_num_eq(a: &PyNumber, b: f64) -> bool {
    match a {
        PyNumber::Float(f) => *f == b,
        PyNumber::Int(i) => {
            // Exact comparison, as Python does: the float must be integral and equal.
            b.is_finite() && b.fract() == 0.0 && b.abs() < 1.8e38 && (b as i128) == *i
        }
    }
}

fn equals_default(value: &Value, default: Default) -> bool {
    match default {
        Default::Float(d) => py_number(value).is_some_and(|n| py_num_eq(&n, d)),
        Default::Bool(d) => {
            py_number(value).is_some_and(|n| py_num_eq(&n, if d { 1.0 } else { 0.0 }))
        }
        Default::Str(d) => value.as_str() == Some(d),
        Default::EmptyList => value.as_array().is_some_and(Vec::is_empty),
    }
}

/// The params with keys whose values equal the type's defaults removed.
pub fn normalize_params(detector_type: &str, params: &Map<String, Value>) -> Map<String, Value> {
    let defaults = defaults(detector_type);
    params
        .iter()
        .filter(|(key, value)| {
            !defaults
                .iter()
                .any(|(name, default)| name == key && equals_default(value, *default))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The ID of a detector of `detector_type` with `params` (any JSON; a non-object is
/// hashed as it is, with no defaults removed).
///
/// ```
/// use detectk_core::detector_id;
/// use serde_json::json;
/// assert_eq!(detector_id("mad", &json!({})), "1743b356");
/// assert_eq!(detector_id("threshold", &json!({"threshold": 1000, "operator": "less_than"})), "c1e378ea");
/// ```
pub fn detector_id(detector_type: &str, params: &Value) -> String {
    let normalized = match params {
        Value::Object(map) => Value::Object(normalize_params(detector_type, map)),
        other => other.clone(),
    };
    let mut content = String::with_capacity(64);
    content.push_str(detector_type);
    content.push(':');
    write_python_json(&normalized, &mut content);
    let digest = Sha256::digest(content.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Serializes `value` like `json.dumps(value, sort_keys=True, ensure_ascii=False)`.
///
/// ```
/// use detectk_core::python_json;
/// use serde_json::json;
/// assert_eq!(python_json(&json!({"b": 1e21, "a": [1.0, 1e-5, "é"]})), r#"{"a": [1.0, 1e-05, "é"], "b": 1e+21}"#);
/// ```
pub fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out
}

fn write_python_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(key, out);
                out.push_str(": ");
                write_python_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_number(n: &Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else {
        out.push_str(&python_float_repr(n.as_f64().unwrap_or(f64::NAN)));
    }
}

/// Python's `repr(float)` (as `json.dumps` writes floats): shortest round-trip digits,
/// fixed notation for exponents in `-4..16`, otherwise `1e-05` / `1e+21` style.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exponent + 1; // value = 0.DIGITS * 10^decpt
    let mut out = String::from(sign);
    if decpt > -4 && decpt <= 16 {
        let n = digits.len() as i32;
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-decpt) as usize));
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (decpt - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt as usize]);
            out.push('.');
            out.push_str(&digits[decpt as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.abs()));
    }
    out
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_repr_matches_python() {
        // Expected strings are Python 3.11's repr() of the same floats.
        for (x, expected) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (1e21, "1e+21"),
            (2.5e-7, "2.5e-07"),
            (-3.5, "-3.5"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740993.0, "9007199254740992.0"),
            (0.30000000000000004, "0.30000000000000004"),
            (123e100, "1.23e+102"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(python_float_repr(x), expected, "{x:e}");
        }
    }

    #[test]
    fn strings_escape_like_python() {
        assert_eq!(
            python_json(&json!("a\"b\\c\nd\te\u{1}\u{7f}снег☃")),
            "\"a\\\"b\\\\c\\nd\\te\\u0001\u{7f}снег☃\""
        );
    }

    #[test]
    fn defaults_compare_with_python_equality() {
        // 1 == True, 0.0 == False, 3 == 3.0
        assert_eq!(
            detector_id("mad", &json!({"use_weighted": 1})),
            detector_id("mad", &json!({}))
        );
        assert_eq!(
            detector_id("threshold", &json!({"percent": 0.0})),
            detector_id("threshold", &json!({}))
        );
        assert_eq!(
            detector_id("mad", &json!({"n_sigma": 3})),
            detector_id("mad", &json!({}))
        );
        assert_ne!(
            detector_id("mad", &json!({"n_sigma": true})),
            detector_id("mad", &json!({}))
        );
        assert_ne!(
            detector_id("mad", &json!({"seasonal_features": ["h"]})),
            detector_id("mad", &json!({}))
        );
        // Nested values are never normalised; unknown types keep everything.
        assert_ne!(
            detector_id("iqr", &json!({"n_sigma": 3.0})),
            detector_id("iqr", &json!({}))
        );
    }

    /// The vectors shared with Python detectk, committed in `tests/data/detector_ids.jsonl`.
    #[test]
    fn reproduces_the_shared_test_vectors() {
        let text = include_str!("../tests/data/detector_ids.jsonl");
        let mut checked = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).unwrap();
            let got = detector_id(case["type"].as_str().unwrap(), &case["params"]);
            assert_eq!(got, case["id"].as_str().unwrap(), "{line}");
            checked += 1;
        }
        assert!(checked >= 16);
    }
}
