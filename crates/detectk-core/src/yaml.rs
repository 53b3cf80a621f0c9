//! The one place that parses YAML. Swapping the YAML library is a change to this file only.

use serde_json::Value;

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

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => {
                write!(f, "invalid YAML at line {l}, column {c}: {}", self.message)
            }
            _ => write!(f, "invalid YAML: {}", self.message),
        }
    }
}

/// Parses YAML text into a JSON value (integers stay integers, floats stay floats).
/// An empty document is `null`.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    serde_yaml::from_str::<Value>(text).map_err(|e| {
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
    })
}

/// Serializes a value as YAML (for `dtk init` and docs).
pub fn to_string(value: &Value) -> String {
    serde_yaml::to_string(value).unwrap_or_default()
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
}
