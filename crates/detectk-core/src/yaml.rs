//! The one place that parses YAML. Swapping the YAML library is a change to this file only.
//!
//! Besides syntax, parsing enforces three rules every config file gets:
//! - nesting deeper than [`MAX_DEPTH`] levels is rejected *before* the YAML library sees
//!   the text (deeply nested input costs the library quadratic time);
//! - a key given twice in one mapping is reported as a [`DuplicateKey`] (the last value
//!   is used, as PyYAML does) so the loader can warn naming the key and both lines;
//! - NaN and infinite numbers (`.nan`, `.inf`, `-.inf`) cannot be JSON numbers: they are
//!   kept as the strings [`NAN`], [`INFINITY`] and [`NEG_INFINITY`], which the params
//!   reader rejects with a clear message instead of silently reading `null`.

mod depth;
mod duplicates;

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// How a YAML `.nan` is kept in the parsed document.
pub const NAN: &str = ".nan";
/// How a YAML `.inf` is kept in the parsed document.
pub const INFINITY: &str = ".inf";
/// How a YAML `-.inf` is kept in the parsed document.
pub const NEG_INFINITY: &str = "-.inf";

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => {
                write!(f, "invalid YAML at line {l}, column {c}: {}", self.message)
            }
            (Some(l), None) => write!(f, "invalid YAML at line {l}: {}", self.message),
            _ => write!(f, "invalid YAML: {}", self.message),
        }
    }
}

/// A key given more than once in the same mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// Dotted path of the key, e.g. `detector.params.n_sigma`.
    pub path: String,
    /// 1-based lines the key is written on, when they could be found.
    pub lines: Vec<usize>,
}

impl DuplicateKey {
    /// `key `x` is given twice (lines 3 and 7); the last value is used`.
    pub fn message(&self) -> String {
        let key = self.path.rsplit('.').next().unwrap_or(&self.path);
        let lines = match self.lines.as_slice() {
            [] => String::new(),
            [a] => format!(" (line {a})"),
            [a, b] => format!(" (lines {a} and {b})"),
            many => format!(
                " (lines {})",
                many.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        format!("key `{key}` is given more than once{lines}; the last value is used")
    }
}

/// A parsed document and what was noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document as JSON (integers stay integers, floats stay floats).
    pub value: Value,
    /// Keys given twice in one mapping.
    pub duplicates: Vec<DuplicateKey>,
}

/// Parses YAML text into a JSON value (integers stay integers, floats stay floats).
/// An empty document is `null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    parse_document(text).map(|d| d.value)
}

/// Parses YAML text, also reporting duplicate keys; see the module docs.
pub fn parse_document(text: &str) -> Result<Document, YamlError> {
    depth::check(text)?;
    let found = RefCell::new(Vec::new());
    let deserializer = serde_yaml::Deserializer::from_str(text);
    let value = ValueSeed::root(&found)
        .deserialize(deserializer)
        .map_err(yaml_error)?;
    let duplicates = found
        .into_inner()
        .into_iter()
        .map(|path: String| DuplicateKey {
            lines: duplicates::lines_of(text, &path),
            path,
        })
        .collect();
    Ok(Document { value, duplicates })
}

fn yaml_error(e: serde_yaml::Error) -> YamlError {
    let location = e.location();
    let message = e.to_string();
    // serde_yaml appends " at line X column Y"; keep the message itself.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    YamlError {
        message,
        line: location.as_ref().map(|l| l.line()),
        column: location.map(|l| l.column()),
    }
}

/// Serializes a value as YAML (for `dtk init` and docs).
pub fn to_string(value: &Value) -> String {
    serde_yaml::to_string(value).unwrap_or_default()
}

/// Builds a JSON value, remembering where it is so duplicate keys can be named. The
/// path is a chain of borrowed segments up to the root, joined into a string only when
/// a duplicate is found (most documents have none).
struct ValueSeed<'p> {
    parent: Option<&'p ValueSeed<'p>>,
    segment: Segment<'p>,
    duplicates: &'p RefCell<Vec<String>>,
}

/// One step of a [`ValueSeed`]'s path.
#[derive(Clone, Copy)]
enum Segment<'p> {
    /// The document itself.
    Root,
    /// A mapping's key.
    Key(&'p str),
    /// A sequence's item.
    Index(usize),
}

impl<'p> ValueSeed<'p> {
    fn root(duplicates: &'p RefCell<Vec<String>>) -> Self {
        Self {
            parent: None,
            segment: Segment::Root,
            duplicates,
        }
    }

    fn child<'c>(&'c self, segment: Segment<'c>) -> ValueSeed<'c> {
        ValueSeed {
            parent: Some(self),
            segment,
            duplicates: self.duplicates,
        }
    }

    /// The dotted path (`a.b[2].c`), as [`crate::error::join_path`] joins it.
    fn path(&self) -> String {
        let prefix = self.parent.map(ValueSeed::path).unwrap_or_default();
        match self.segment {
            Segment::Root => prefix,
            Segment::Key(key) => crate::error::join_path(&prefix, key),
            Segment::Index(i) => crate::error::join_path(&prefix, &format!("[{i}]")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    /// Integers beyond 64 bits become floats; fields that need integers reject them.
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Value, E> {
        self.visit_f64(v as f64)
    }

    /// Integers beyond 64 bits become floats; fields that need integers reject them.
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        self.visit_f64(v as f64)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(match Number::from_f64(v) {
            Some(n) => Value::Number(n),
            None if v.is_nan() => Value::String(NAN.into()),
            None if v > 0.0 => Value::String(INFINITY.into()),
            None => Value::String(NEG_INFINITY.into()),
        })
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(Segment::Index(items.len())))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(self.child(Segment::Key(&key)))?;
            match map.entry(key) {
                Entry::Occupied(mut given) => {
                    let path = self.child(Segment::Key(given.key())).path();
                    self.duplicates.borrow_mut().push(path);
                    given.insert(value);
                }
                Entry::Vacant(new) => {
                    new.insert(value);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_integer_and_float_apart() {
        let v = parse("a: 3\nb: 3.0\nc: 1e+21\nd: [x, 2]").unwrap();
        assert!(v["a"].is_i64());
        assert!(v["b"].is_f64());
        assert!(v["c"].is_f64());
        assert_eq!(v["d"][0], "x");
    }

    #[test]
    fn reports_position() {
        let e = parse("a: [1, 2\nb: 3").unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn empty_documents_are_null() {
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), Value::Null);
    }

    #[test]
    fn non_finite_numbers_are_kept_visibly() {
        let v = parse("a: .nan\nb: .inf\nc: -.inf\nd: 1.5").unwrap();
        assert_eq!(v["a"], NAN);
        assert_eq!(v["b"], INFINITY);
        assert_eq!(v["c"], NEG_INFINITY);
        assert_eq!(v["d"], 1.5);
        let big = parse("a: 99999999999999999999").unwrap();
        assert_eq!(big["a"], 1e20);
    }

    #[test]
    fn duplicate_keys_are_found_with_their_lines() {
        let text =
            "name: m\ndetector:\n  type: mad\n  params:\n    n_sigma: 3\n    n_sigma: 4\nname: n\n";
        let doc = parse_document(text).unwrap();
        assert_eq!(doc.value["name"], "n", "the last value is used");
        assert_eq!(doc.value["detector"]["params"]["n_sigma"], 4);
        let found: Vec<(String, Vec<usize>)> = doc
            .duplicates
            .iter()
            .map(|d| (d.path.clone(), d.lines.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("detector.params.n_sigma".to_string(), vec![5, 6]),
                ("name".to_string(), vec![1, 7]),
            ]
        );
        assert_eq!(
            doc.duplicates[0].message(),
            "key `n_sigma` is given more than once (lines 5 and 6); the last value is used"
        );
    }

    #[test]
    fn duplicate_keys_in_flow_mappings_are_found() {
        let doc = parse_document("detector: {type: mad, type: zscore}\n").unwrap();
        assert_eq!(doc.duplicates.len(), 1);
        assert_eq!(doc.duplicates[0].path, "detector.type");
        assert_eq!(doc.duplicates[0].lines, vec![1]);
    }

    #[test]
    fn deep_nesting_is_rejected_before_parsing() {
        let deep = format!("a: {}{}", "[".repeat(200_000), "]".repeat(200_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nested more than 64 levels"), "{e}");
        assert_eq!(e.line, Some(1));
        let fine = format!("a: {}1{}", "[".repeat(10), "]".repeat(10));
        assert!(parse(&fine).is_ok());
    }
}
