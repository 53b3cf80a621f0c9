//! minijinja rendering of config strings (not the query) and of query templates.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use minijinja::{Environment, Template, UndefinedBehavior, Value as JinjaValue};
use serde_json::Value;

use crate::error::ConfigIssue;

/// Keys whose values are templates rendered later, never at load time.
const DEFERRED_KEYS: &[&str] = &["query", "message_template"];

/// The one environment every config string and query renders in (strict undefined
/// variables, nothing registered): built once, not per config or per query.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    })
}

/// Formats a time as the templates see it: `YYYY-MM-DD HH:MM:SS`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Renders every string in `value` that holds `{{` or `{%`, except the deferred
/// templates (`query`, `message_template`), with `execution_time` in scope.
pub fn render_config_strings(
    value: &mut Value,
    path: &str,
    execution_time: &DateTime<Utc>,
    issues: &mut Vec<ConfigIssue>,
) {
    let ctx = minijinja::context! { execution_time => format_time(execution_time) };
    let mut path = path.to_string();
    render_value(environment(), &ctx, value, &mut path, issues);
}

/// Renders the templates in `value`, whose dotted path is `path` (a buffer that each
/// level extends and restores, so paths are only written out for an issue).
fn render_value(
    env: &Environment<'_>,
    ctx: &JinjaValue,
    value: &mut Value,
    path: &mut String,
    issues: &mut Vec<ConfigIssue>,
) {
    match value {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let rendered = env.template_from_str(s).and_then(|parsed| {
                if let Some(problem) = unknown_variable(&parsed, CONFIG_VARIABLES) {
                    return Ok(Err(problem));
                }
                parsed.render(ctx.clone()).map(Ok)
            });
            match rendered {
                Ok(Ok(rendered)) => *s = rendered,
                Ok(Err(problem)) => issues.push(
                    ConfigIssue::new(path.as_str(), format!("template error: {problem}"))
                        .with_hint("config strings may use {{ execution_time }}; the query has its own variables"),
                ),
                Err(e) => issues.push(ConfigIssue::new(
                    path.as_str(),
                    format!("template error: {}", describe_error(&e)),
                )),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = push_segment(path, &format!("[{i}]"));
                render_value(env, ctx, item, path, issues);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if DEFERRED_KEYS.contains(&key.as_str()) {
                    continue;
                }
                let len = push_segment(path, key);
                render_value(env, ctx, item, path, issues);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Appends `segment` to `path` as [`crate::error::join_path`] joins them; returns the
/// length to truncate back to.
fn push_segment(path: &mut String, segment: &str) -> usize {
    let len = path.len();
    if path.is_empty() || segment.starts_with('[') {
        path.push_str(segment);
    } else if !segment.is_empty() {
        path.push('.');
        path.push_str(segment);
    }
    len
}

/// Names config strings (other than the query and message templates) may use.
pub const CONFIG_VARIABLES: &[&str] = &["execution_time"];

/// `unknown variable `x`; did you mean `y`?` for the first variable of the parsed
/// template that is not in `known`; `None` when all are known.
fn unknown_variable(parsed: &Template<'_, '_>, known: &[&str]) -> Option<String> {
    let mut unknown: Vec<String> = parsed
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !known.contains(&v.as_str()))
        .collect();
    unknown.sort();
    let first = unknown.first()?;
    let close = crate::config::did_you_mean(first, known.iter().copied())
        .map(|h| format!("; {h}"))
        .unwrap_or_default();
    Some(format!("unknown variable `{first}`{close}"))
}

/// A minijinja error in one line, with its template line when known.
pub fn describe_error(e: &minijinja::Error) -> String {
    let mut text = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line() {
        text = format!("{text} (template line {line})");
    }
    text
}

/// Variables available to a query template.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryVars {
    /// Start of the collected range, `YYYY-MM-DD HH:MM:SS` in the collector's time zone.
    pub period_start: String,
    /// End of the collected range (exclusive), same format.
    pub period_finish: String,
    /// The interval as `N unit` with a singular unit (`10 minute`), valid in ClickHouse,
    /// PostgreSQL and MySQL `INTERVAL` expressions.
    pub interval: String,
    /// The interval in seconds.
    pub interval_seconds: i64,
    /// The metric's name.
    pub metric_name: String,
    /// The run's execution time, `YYYY-MM-DD HH:MM:SS` UTC.
    pub execution_time: String,
}

/// `10 minute`, `1 hour`, `90 second`: the interval for SQL `INTERVAL` syntax.
pub fn sql_interval(seconds: i64) -> String {
    for (size, unit) in [(86_400, "day"), (3600, "hour"), (60, "minute")] {
        if seconds % size == 0 {
            return format!("{} {unit}", seconds / size);
        }
    }
    format!("{seconds} second")
}

/// Renders a query template. Undefined variables are errors.
pub fn render_query(template: &str, vars: &QueryVars) -> Result<String, String> {
    environment()
        .render_str(template, vars)
        .map_err(|e| describe_error(&e))
}

/// Names a query template may use.
pub const QUERY_VARIABLES: &[&str] = &[
    "period_start",
    "period_finish",
    "interval",
    "interval_seconds",
    "metric_name",
    "execution_time",
];

/// Checks a query template at load time: syntax, unknown variables, and that it renders
/// with sample values.
pub fn check_query(template: &str) -> Result<(), String> {
    let parsed = environment()
        .template_from_str(template)
        .map_err(|e| describe_error(&e))?;
    if let Some(problem) = unknown_variable(&parsed, QUERY_VARIABLES) {
        return Err(problem);
    }
    let sample = QueryVars {
        period_start: "2024-01-01 00:00:00".into(),
        period_finish: "2024-01-01 00:10:00".into(),
        interval: "10 minute".into(),
        interval_seconds: 600,
        metric_name: "metric".into(),
        execution_time: "2024-01-01 00:10:00".into(),
    };
    parsed
        .render(&sample)
        .map(|_| ())
        .map_err(|e| describe_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_strings_but_not_queries() {
        let mut v = json!({"description": "as of {{ execution_time }}", "collector": {"params": {"query": "{{ period_start }}"}}});
        let t = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut issues = vec![];
        render_config_strings(&mut v, "", &t, &mut issues);
        assert!(issues.is_empty());
        assert_eq!(v["description"], "as of 2024-05-01 10:00:00");
        assert_eq!(v["collector"]["params"]["query"], "{{ period_start }}");
    }

    #[test]
    fn template_errors_name_the_field() {
        let mut v = json!({"description": "{{ oops"});
        let mut issues = vec![];
        render_config_strings(&mut v, "", &Utc::now(), &mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "description");
        assert!(
            issues[0].message.starts_with("template error"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn unknown_variables_in_config_strings_are_named() {
        let mut v =
            json!({"description": "as of {{ execution_tim }}", "tags": ["{{ period_start }}"]});
        let mut issues = vec![];
        render_config_strings(&mut v, "", &Utc::now(), &mut issues);
        let found: Vec<(String, String)> = issues
            .iter()
            .map(|i| (i.path.clone(), i.message.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "description".to_string(),
                    "template error: unknown variable `execution_tim`; did you mean `execution_time`?".to_string()
                ),
                (
                    "tags[0]".to_string(),
                    "template error: unknown variable `period_start`".to_string()
                ),
            ]
        );
    }

    #[test]
    fn query_check_catches_syntax_and_undefined_variables() {
        assert!(check_query("SELECT {{ period_start }}").is_ok());
        assert!(check_query("SELECT {{ period_start ").is_err());
        assert_eq!(
            check_query("SELECT {{ perod_start }}").unwrap_err(),
            "unknown variable `perod_start`; did you mean `period_start`?"
        );
    }

    #[test]
    fn sql_interval_uses_singular_units() {
        assert_eq!(sql_interval(600), "10 minute");
        assert_eq!(sql_interval(3600), "1 hour");
        assert_eq!(sql_interval(86_400 * 7), "7 day");
        assert_eq!(sql_interval(90), "90 second");
    }
}
