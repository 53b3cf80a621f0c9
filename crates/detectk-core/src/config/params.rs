//! A strict reader for a params map that collects every problem at once.
//!
//! Factories read the keys they know; [`Params::finish`] then reports every key
//! nobody read as unknown, with a "did you mean" hint. Problems are recorded with
//! their field path instead of stopping at the first one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::duration::{HumanDuration, Window};
use crate::error::{ConfigIssue, join_path};
use crate::registry::{BuildError, BuildResult, Built};
use crate::secret::Secret;

/// Converts a config value into a typed field value.
pub trait FromParam: Sized {
    /// Converts, or explains why not (the reader adds the field path).
    fn from_param(value: &Value) -> Result<Self, String>;
}

/// `NaN`, `infinity` or `-infinity` for the markers the YAML reader keeps
/// non-finite numbers as (see [`crate::yaml`]).
fn non_finite(v: &Value) -> Option<&'static str> {
    match v.as_str()? {
        crate::yaml::NAN => Some("NaN"),
        crate::yaml::INFINITY => Some("infinity"),
        crate::yaml::NEG_INFINITY => Some("-infinity"),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    if let Some(name) = non_finite(v) {
        return format!("{name} (.nan and .inf are not allowed)");
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

impl FromParam for f64 {
    fn from_param(v: &Value) -> Result<Self, String> {
        if let Some(name) = non_finite(v) {
            return Err(format!("must be a finite number, got {name}"));
        }
        match v {
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| format!("expected a finite number, got {n}")),
            other => Err(format!("expected a number, got {}", describe(other))),
        }
    }
}

impl FromParam for i64 {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| format!("expected an integer, got {n}")),
            other => Err(format!("expected an integer, got {}", describe(other))),
        }
    }
}

impl FromParam for u64 {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| format!("expected a non-negative integer, got {n}")),
            other => Err(format!(
                "expected a non-negative integer, got {}",
                describe(other)
            )),
        }
    }
}

impl FromParam for u32 {
    fn from_param(v: &Value) -> Result<Self, String> {
        u64::from_param(v)?
            .try_into()
            .map_err(|_| format!("integer {v} is too large"))
    }
}

impl FromParam for u16 {
    fn from_param(v: &Value) -> Result<Self, String> {
        u64::from_param(v)?
            .try_into()
            .map_err(|_| format!("integer {v} is out of range (0..=65535)"))
    }
}

impl FromParam for usize {
    fn from_param(v: &Value) -> Result<Self, String> {
        u64::from_param(v)?
            .try_into()
            .map_err(|_| format!("integer {v} is too large"))
    }
}

impl FromParam for bool {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::Bool(b) => Ok(*b),
            // PyYAML (YAML 1.1) reads these as booleans; YAML 1.2 keeps them strings.
            Value::String(s)
                if matches!(
                    s.to_ascii_lowercase().as_str(),
                    "yes" | "no" | "on" | "off" | "y" | "n"
                ) =>
            {
                Err(format!(
                    "expected true or false, got string {s:?} (YAML 1.2 reads yes/no/on/off as text: write true or false)"
                ))
            }
            other => Err(format!("expected true or false, got {}", describe(other))),
        }
    }
}

impl FromParam for String {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("expected a string, got {}", describe(other))),
        }
    }
}

impl FromParam for Secret {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Ok(Secret::new(s.clone())),
            Value::Number(n) => Ok(Secret::new(n.to_string())),
            Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => {
                Err("expected a string".to_string())
            }
        }
    }
}

impl FromParam for Vec<String> {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(format!(
                        "item {i}: expected a string, got {}",
                        describe(other)
                    )),
                })
                .collect(),
            other => Err(format!(
                "expected a list of strings, got {}",
                describe(other)
            )),
        }
    }
}

impl FromParam for HumanDuration {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => HumanDuration::parse(s),
            other => Err(format!(
                "expected a duration such as \"10 minutes\", got {}",
                describe(other)
            )),
        }
    }
}

impl FromParam for Window {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Window::parse(s),
            Value::Number(n) => match n.as_u64() {
                Some(count) => Window::points(count as usize),
                None => Err(format!(
                    "expected a duration or a whole number of points, got {n}"
                )),
            },
            other => Err(format!(
                "expected a duration (\"30 days\") or a point count, got {}",
                describe(other)
            )),
        }
    }
}

impl FromParam for Value {
    fn from_param(v: &Value) -> Result<Self, String> {
        Ok(v.clone())
    }
}

impl FromParam for Map<String, Value> {
    fn from_param(v: &Value) -> Result<Self, String> {
        match v {
            Value::Object(m) => Ok(m.clone()),
            other => Err(format!("expected a mapping, got {}", describe(other))),
        }
    }
}

/// Reads a params map field by field, recording problems with their paths.
#[derive(Debug)]
pub struct Params<'a> {
    map: &'a Map<String, Value>,
    path: String,
    known: BTreeSet<String>,
    issues: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
    known_only: bool,
}

/// What a [`Params`] reader found: errors and warnings with full paths.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParamsReport {
    /// Problems that make the config invalid.
    pub issues: Vec<ConfigIssue>,
    /// Things worth telling the user that do not stop the run.
    pub warnings: Vec<ConfigIssue>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Params<'a> {
    /// A reader over `map`, whose keys live at `path` (e.g. `detector.params`).
    pub fn new(map: &'a Map<String, Value>, path: impl Into<String>) -> Self {
        Self {
            map,
            path: path.into(),
            known: BTreeSet::new(),
            issues: Vec::new(),
            warnings: Vec::new(),
            known_only: false,
        }
    }

    /// This reader, set so that [`Params::finish`] does not report unknown keys
    /// (another reader owns the rest of the map).
    pub fn known_only(mut self) -> Self {
        self.known_only = true;
        self
    }

    /// A reader over an empty map.
    pub fn empty(path: impl Into<String>) -> Params<'static> {
        Params::new(&EMPTY, path)
    }

    /// The field path of `key`.
    pub fn path_of(&self, key: &str) -> String {
        join_path(&self.path, key)
    }

    /// The whole map being read.
    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The raw value of `key`, marking it as known. `null` counts as absent.
    pub fn raw(&mut self, key: &str) -> Option<&'a Value> {
        self.known.insert(key.to_string());
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is set (and not null); marks it known.
    pub fn has(&mut self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// Reads an optional field; a wrong type is recorded and gives `None`.
    pub fn optional<T: FromParam>(&mut self, key: &str) -> Option<T> {
        let value = self.raw(key)?;
        match T::from_param(value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(key, message);
                None
            }
        }
    }

    /// Reads a field with a default.
    pub fn or<T: FromParam>(&mut self, key: &str, default: T) -> T {
        self.optional(key).unwrap_or(default)
    }

    /// Reads a required field; absence is recorded.
    pub fn required<T: FromParam>(&mut self, key: &str) -> Option<T> {
        if self.map.get(key).is_none_or(Value::is_null) {
            self.known.insert(key.to_string());
            self.error(key, "is required");
            return None;
        }
        self.optional(key)
    }

    /// Reads a string that must be one of `choices`.
    pub fn choice(&mut self, key: &str, choices: &[&str], default: &str) -> String {
        let value: String = self.or(key, default.to_string());
        if !choices.contains(&value.as_str()) {
            let hint = did_you_mean(&value, choices.iter().copied());
            let mut issue = ConfigIssue::new(
                self.path_of(key),
                format!(
                    "unknown value {value:?}; expected one of: {}",
                    choices.join(", ")
                ),
            );
            if let Some(h) = hint {
                issue = issue.with_hint(h);
            }
            self.issues.push(issue);
        }
        value
    }

    /// Accepts `key` (a key of Python detectk we do not act on) with a warning.
    pub fn ignore_with_warning(&mut self, key: &str, why: &str) {
        if self.map.contains_key(key) {
            self.known.insert(key.to_string());
            self.warnings.push(ConfigIssue::new(
                self.path_of(key),
                format!("ignored: {why}"),
            ));
        }
    }

    /// Marks `key` as known without reading it (read elsewhere).
    pub fn allow(&mut self, key: &str) {
        self.known.insert(key.to_string());
    }

    /// Records a problem with `key`.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        self.issues
            .push(ConfigIssue::new(self.path_of(key), message));
    }

    /// Records a problem found by a nested reader (its path is already complete).
    pub fn push_issue(&mut self, issue: ConfigIssue) {
        self.issues.push(issue);
    }

    /// Records a problem with a hint.
    pub fn error_with_hint(
        &mut self,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.issues
            .push(ConfigIssue::new(self.path_of(key), message).with_hint(hint));
    }

    /// Records a warning about `key`.
    pub fn warn(&mut self, key: &str, message: impl Into<String>) {
        self.warnings
            .push(ConfigIssue::new(self.path_of(key), message));
    }

    /// Records `message` at `key` unless `ok`.
    pub fn check(&mut self, ok: bool, key: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.error(key, message());
        }
    }

    /// Whether any problem has been recorded so far.
    pub fn has_issues(&self) -> bool {
        !self.issues.is_empty()
    }

    /// Returns what was found without checking for unknown keys (another reader owns the rest).
    pub fn finish_known_only(self) -> ParamsReport {
        ParamsReport {
            issues: self.issues,
            warnings: self.warnings,
        }
    }

    /// A factory's result: `part` with the warnings found, or every problem found
    /// (unknown keys included) when there is any or `part` is `None`.
    pub fn conclude<T>(self, part: Option<T>) -> BuildResult<T> {
        let report = self.finish();
        match part {
            Some(part) if report.issues.is_empty() => Ok(Built::new(part, report.warnings)),
            _ => Err(BuildError::new(report.issues, report.warnings)),
        }
    }

    /// Reports unknown keys (with "did you mean"; not for a [`Params::known_only`]
    /// reader) and returns everything found.
    pub fn finish(mut self) -> ParamsReport {
        if self.known_only {
            return self.finish_known_only();
        }
        for key in self.map.keys() {
            if self.known.contains(key) {
                continue;
            }
            let mut issue = ConfigIssue::new(self.path_of(key), "unknown key");
            match did_you_mean(key, self.known.iter().map(String::as_str)) {
                Some(hint) => issue = issue.with_hint(hint),
                None if !self.known.is_empty() => {
                    let list: Vec<&str> = self.known.iter().map(String::as_str).collect();
                    issue = issue.with_hint(format!("known keys here: {}", list.join(", ")));
                }
                None => {}
            }
            self.issues.push(issue);
        }
        ParamsReport {
            issues: self.issues,
            warnings: self.warnings,
        }
    }
}

/// `did you mean `x`?` when some candidate is close to `input`.
pub fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn conclude_returns_every_problem_unknown_keys_last() {
        let m = map(json!({"a": "x", "b": 1, "typo": 2}));
        let mut p = Params::new(&m, "p");
        let a: Option<i64> = p.required("a");
        p.warn("b", "odd");
        let _: Option<i64> = p.optional("b");
        let Err(e) = p.conclude(a) else {
            panic!("built with problems")
        };
        let text: Vec<String> = e.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("p.a: "), "{text:?}");
        assert_eq!(text[1], "p.typo: unknown key");
        assert_eq!(e.warnings.len(), 1);
        assert_eq!(e.to_string(), text.join("; "));
    }

    #[test]
    fn conclude_keeps_warnings_and_a_known_only_reader_skips_unknown_keys() {
        let m = map(json!({"a": 1, "other": 2}));
        let mut p = Params::new(&m, "p").known_only();
        let a: Option<i64> = p.required("a");
        p.warn("a", "odd");
        let built = p.conclude(a).expect("built");
        assert_eq!(built.part, 1);
        assert_eq!(built.warnings[0].to_string(), "p.a: odd");
        assert!(Params::new(&m, "p").conclude(Some(1)).is_err());
    }

    #[test]
    fn collects_every_problem_with_paths() {
        let m = map(json!({"n_sigma": "x", "window_sise": "30 days", "min_points": -1}));
        let mut p = Params::new(&m, "detector.params");
        let _: f64 = p.or("n_sigma", 3.0);
        let _: Option<Window> = p.optional("window_size");
        let _: usize = p.or("min_points", 3);
        let report = p.finish();
        let text: Vec<String> = report.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("detector.params.n_sigma: expected a number"));
        assert!(text[1].starts_with("detector.params.min_points: expected a non-negative integer"));
        assert_eq!(text[2], "detector.params.window_sise: unknown key");
        assert_eq!(
            report.issues[2].hint.as_deref(),
            Some("did you mean `window_size`?")
        );
    }

    #[test]
    fn non_finite_numbers_are_rejected_by_name() {
        let doc = crate::yaml::parse("a: .nan\nb: -.inf\nc: .inf\nd: 2.5").unwrap();
        let m = doc.as_object().unwrap().clone();
        let mut p = Params::new(&m, "detector.params");
        assert_eq!(p.optional::<f64>("a"), None);
        assert_eq!(p.optional::<f64>("b"), None);
        assert_eq!(p.optional::<u64>("c"), None);
        assert_eq!(p.optional::<f64>("d"), Some(2.5));
        let text: Vec<String> = p.finish().issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            text,
            vec![
                "detector.params.a: must be a finite number, got NaN",
                "detector.params.b: must be a finite number, got -infinity",
                "detector.params.c: expected a non-negative integer, got infinity (.nan and .inf are not allowed)",
            ]
        );
    }

    #[test]
    fn null_counts_as_absent_and_required_is_reported() {
        let m = map(json!({"a": null}));
        let mut p = Params::new(&m, "");
        assert_eq!(p.optional::<String>("a"), None);
        assert_eq!(p.required::<String>("b"), None);
        let r = p.finish();
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].to_string(), "b: is required");
    }

    #[test]
    fn ignored_python_keys_warn() {
        let m = map(json!({"pool_size": 5}));
        let mut p = Params::new(&m, "collector.params");
        p.ignore_with_warning("pool_size", "connection pools are sized automatically");
        let r = p.finish();
        assert!(r.issues.is_empty());
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn did_you_mean_examples() {
        assert_eq!(
            did_you_mean("n_sigm", ["n_sigma", "window_size"]).unwrap(),
            "did you mean `n_sigma`?"
        );
        assert!(did_you_mean("zzz", ["n_sigma"]).is_none());
    }
}
