//! The request body: the default JSON document of an alert, or a minijinja template
//! rendered with that document's fields as variables.

use chrono::SecondsFormat;
use detectk_core::AlertMessage;
use minijinja::Environment;
use serde_json::{Map, Value, json};

/// The variables of `body_template`, which are also the keys of the default body.
pub const BODY_VARIABLES: &[&str] = &[
    "metric_name",
    "kind",
    "severity",
    "timestamp",
    "title",
    "text",
    "value",
    "score",
    "lower_bound",
    "upper_bound",
    "direction",
    "percent_deviation",
    "detections",
];

fn number(v: Option<f64>) -> Value {
    v.filter(|v| v.is_finite()).map_or(Value::Null, Value::from)
}

/// The default body: a JSON object with every field of [`BODY_VARIABLES`]. The point
/// fields (`value`, `score`, ...) are those of the first detection, `null` when unknown.
pub fn default_body(message: &AlertMessage) -> Value {
    let first = message.detections.first().map(|r| &r.detection);
    let detections: Vec<Value> = message
        .detections
        .iter()
        .map(|r| {
            let d = &r.detection;
            json!({
                "detector_id": r.detector_id,
                "detector_type": r.detector_type,
                "value": number(d.value),
                "score": number(d.score),
                "lower_bound": number(d.lower_bound),
                "upper_bound": number(d.upper_bound),
                "direction": d.direction.map(|x| x.as_str()),
                "percent_deviation": number(d.percent_deviation),
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("metric_name".into(), message.metric.clone().into());
    body.insert("kind".into(), message.kind.as_str().into());
    body.insert("severity".into(), message.severity.as_str().into());
    body.insert(
        "timestamp".into(),
        message
            .timestamp
            .to_rfc3339_opts(SecondsFormat::Secs, true)
            .into(),
    );
    body.insert("title".into(), message.title.clone().into());
    body.insert("text".into(), message.text.clone().into());
    body.insert("value".into(), number(first.and_then(|d| d.value)));
    body.insert("score".into(), number(first.and_then(|d| d.score)));
    body.insert(
        "lower_bound".into(),
        number(first.and_then(|d| d.lower_bound)),
    );
    body.insert(
        "upper_bound".into(),
        number(first.and_then(|d| d.upper_bound)),
    );
    body.insert(
        "direction".into(),
        first
            .and_then(|d| d.direction)
            .map_or(Value::Null, |x| x.as_str().into()),
    );
    body.insert(
        "percent_deviation".into(),
        number(first.and_then(|d| d.percent_deviation)),
    );
    body.insert("detections".into(), detections.into());
    Value::Object(body)
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(false);
    env
}

fn describe(e: &minijinja::Error) -> String {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    match e.line() {
        Some(line) => format!("template error on line {line}: {what}"),
        None => format!("template error: {what}"),
    }
}

/// Renders `template` for `message`; with `json` set the result must be JSON.
pub fn render_body(template: &str, message: &AlertMessage, json: bool) -> Result<String, String> {
    let env = environment();
    let text = env
        .render_str(template, default_body(message))
        .map_err(|e| describe(&e))?;
    if json && let Err(e) = serde_json::from_str::<Value>(&text) {
        return Err(format!(
            "the template does not render JSON ({e}); use `| tojson` for values, or set content_type"
        ));
    }
    Ok(text)
}

/// Checks `template`: it parses and uses only [`BODY_VARIABLES`].
pub(crate) fn check_template(template: &str) -> Result<(), String> {
    let env = environment();
    let parsed = env.template_from_str(template).map_err(|e| describe(&e))?;
    let mut unknown: Vec<String> = parsed
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !BODY_VARIABLES.contains(&v.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    Err(format!(
        "unknown template variable{} {}; available: {}",
        if unknown.len() > 1 { "s" } else { "" },
        unknown.join(", "),
        BODY_VARIABLES.join(", ")
    ))
}
