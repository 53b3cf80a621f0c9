//! `message_template`: minijinja rendering with the documented variables, and the
//! validation `dtk validate` runs (syntax, unknown variables, a trial render).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use serde_json::Map;

use crate::alert::text::{MessageInput, default_text, point_value, sample_detection, title};
use crate::model::{Context, DetectionRecord};
use crate::traits::AlertKind;

/// The variables a `message_template` can use.
///
/// The first ten are those of Python detectk's alerters (about the first detection);
/// the rest describe every detection and the alert itself.
pub const TEMPLATE_VARIABLES: &[&str] = &[
    "metric_name",
    "timestamp",
    "value",
    "is_anomaly",
    "score",
    "lower_bound",
    "upper_bound",
    "direction",
    "percent_deviation",
    "metadata",
    "detector_id",
    "detector_type",
    "detector_params",
    "detections",
    "kind",
    "title",
    "consecutive_anomalies",
    "recovered_from",
    "default_message",
    "report_url",
    "severity",
];

/// A point in time for templates: prints as `2024-11-02 14:30:00`, and has the
/// methods `strftime(format)` and `isoformat()` that Python detectk templates call.
#[derive(Debug)]
struct Timestamp(DateTime<Utc>);

impl Object for Timestamp {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d %H:%M:%S"))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (method, args) {
            ("strftime", [format]) => {
                let format = format.as_str().ok_or_else(|| {
                    Error::new(ErrorKind::InvalidOperation, "strftime expects a string")
                })?;
                let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
                if items.contains(&chrono::format::Item::Error) {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("invalid strftime format {format:?}"),
                    ));
                }
                Ok(Value::from(
                    self.0.format_with_items(items.into_iter()).to_string(),
                ))
            }
            ("isoformat", []) => Ok(Value::from(self.0.to_rfc3339())),
            ("timestamp", []) => Ok(Value::from(self.0.timestamp())),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!(
                    "timestamp has no method {method}() with {} arguments",
                    args.len()
                ),
            )),
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(false);
    // Python detectk templates compare scores with `inf` (an infinite score means zero spread).
    env.add_global("inf", Value::from(f64::INFINITY));
    env
}

fn detection_value(record: &DetectionRecord) -> Value {
    let d = &record.detection;
    minijinja::context! {
        detector_id => record.detector_id,
        detector_type => record.detector_type,
        detector_params => Value::from_serialize(&record.detector_params),
        value => d.value,
        is_anomaly => d.is_anomaly,
        score => d.score,
        lower_bound => d.lower_bound,
        upper_bound => d.upper_bound,
        direction => d.direction.map(|x| x.as_str()),
        percent_deviation => d.percent_deviation,
        stats => Value::from_serialize(&d.stats),
    }
}

/// Python detectk's `metadata`: detector type and ID, its params, and the statistics.
fn metadata(record: &DetectionRecord) -> Value {
    let mut map = Map::new();
    if let Some(params) = record.detector_params.as_object() {
        map.extend(params.clone());
    }
    map.extend(record.detection.stats.clone());
    map.insert("detector".into(), record.detector_type.clone().into());
    map.insert("detector_id".into(), record.detector_id.clone().into());
    Value::from_serialize(map)
}

fn context(input: &MessageInput<'_>, default_message: &str, link: Option<&str>) -> Value {
    let first = input.detections.first();
    let d = first.map(|r| &r.detection);
    minijinja::context! {
        metric_name => input.metric,
        timestamp => Value::from_object(Timestamp(input.timestamp)),
        value => point_value(input.detections),
        is_anomaly => d.is_some_and(|d| d.is_anomaly),
        score => d.and_then(|d| d.score),
        lower_bound => d.and_then(|d| d.lower_bound),
        upper_bound => d.and_then(|d| d.upper_bound),
        direction => d.and_then(|d| d.direction).map(|x| x.as_str()),
        percent_deviation => d.and_then(|d| d.percent_deviation),
        metadata => first.map(metadata).unwrap_or_else(|| Value::from_serialize(Map::new())),
        detector_id => first.map(|r| r.detector_id.clone()),
        detector_type => first.map(|r| r.detector_type.clone()),
        detector_params => first.map(|r| Value::from_serialize(&r.detector_params)),
        detections => input.detections.iter().map(detection_value).collect::<Vec<_>>(),
        kind => input.kind.as_str(),
        title => title(input.kind, input.metric),
        consecutive_anomalies => input.consecutive,
        recovered_from => input.recovered_from.map(|t| Value::from_object(Timestamp(t))),
        default_message => default_message,
        report_url => link,
        severity => input.severity.as_str(),
    }
}

/// Renders `source` for `input`; `default_message` is offered as a variable.
pub(crate) fn render(
    source: &str,
    input: &MessageInput<'_>,
    default_message: &str,
    link: Option<&str>,
) -> Result<String, String> {
    let env = environment();
    let text = env
        .render_str(source, context(input, default_message, link))
        .map_err(describe)?;
    if text.trim().is_empty() {
        return Err("the template renders an empty message".into());
    }
    Ok(text)
}

/// Checks a `message_template`: it must parse, use only the documented variables,
/// and render a non-empty message for a sample anomaly and a sample recovery.
///
/// ```
/// use detectk_core::alert::validate_template;
/// assert!(validate_template("{{ metric_name }}: {{ value | round(2) }}").is_ok());
/// assert!(validate_template("{{ metric_nme }}").unwrap_err().contains("metric_nme"));
/// assert!(validate_template("{% if %}").is_err());
/// ```
pub fn validate_template(source: &str) -> Result<(), String> {
    let env = environment();
    let template = env.template_from_str(source).map_err(describe)?;
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !TEMPLATE_VARIABLES.contains(&v.as_str()) && env.globals().all(|(g, _)| g != v))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(format!(
            "unknown template variable{} {}; available: {}",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", "),
            TEMPLATE_VARIABLES.join(", ")
        ));
    }
    let at = Utc
        .with_ymd_and_hms(2024, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default();
    let records = [DetectionRecord {
        metric: "sample_metric".into(),
        detector_id: "sample".into(),
        detector_type: "mad".into(),
        detector_params: serde_json::json!({"window_size": "30 days", "n_sigma": 3.0}),
        detection: sample_detection(at),
        alert_sent: false,
        context: Context::new(),
    }];
    for (kind, recovered_from) in [(AlertKind::Anomaly, None), (AlertKind::Recovery, Some(at))] {
        let input = MessageInput {
            metric: "sample_metric",
            kind,
            timestamp: at,
            detections: &records,
            consecutive: 1,
            recovered_from,
            severity: crate::alert::SeverityCutoffs::default().classify(kind, &records),
        };
        let link = Some("https://reports.example.com/sample_metric.html");
        render(source, &input, &default_text(&input), link)?;
    }
    Ok(())
}

/// The error with its line number and detail, e.g.
/// `template error on line 1: unknown filter: filter nosuchfilter is unknown`.
fn describe(e: Error) -> String {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    match e.line() {
        Some(line) => format!("template error on line {line}: {what}"),
        None => format!("template error: {what}"),
    }
}
