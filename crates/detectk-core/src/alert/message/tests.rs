use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, json};

use super::*;
use crate::alert::text::*;
use crate::alert::validate_template;
use crate::model::{Context, Detection, DetectionRecord, Direction};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 11, 2, 14, 30, 0).unwrap()
}

fn record(id: &str, kind: &str, params: serde_json::Value, d: Detection) -> DetectionRecord {
    DetectionRecord {
        metric: "sessions_10min".into(),
        detector_id: id.into(),
        detector_type: kind.into(),
        detector_params: params,
        detection: d,
        alert_sent: false,
        context: Context::new(),
    }
}

fn mad_up() -> DetectionRecord {
    record(
        "a1b2c3d4",
        "mad",
        json!({"window_size": "30 days", "n_sigma": 3.0}),
        Detection {
            timestamp: at(),
            value: Some(1234.5),
            is_anomaly: true,
            score: Some(4.2),
            lower_bound: Some(900.0),
            upper_bound: Some(1100.0),
            direction: Some(Direction::Up),
            percent_deviation: Some(15.04),
            skipped: None,
            stats: Map::new(),
        },
    )
}

fn threshold_up() -> DetectionRecord {
    record(
        "limit",
        "threshold",
        json!({"threshold": 1200, "operator": "greater_than"}),
        Detection {
            timestamp: at(),
            value: Some(1234.5),
            is_anomaly: true,
            score: Some(f64::INFINITY),
            lower_bound: Some(1200.0),
            upper_bound: None,
            direction: Some(Direction::Up),
            percent_deviation: Some(2.875),
            skipped: None,
            stats: Map::new(),
        },
    )
}

fn input<'a>(kind: AlertKind, detections: &'a [DetectionRecord]) -> MessageInput<'a> {
    MessageInput {
        metric: "sessions_10min",
        kind,
        timestamp: at(),
        detections,
        consecutive: 1,
        recovered_from: None,
        severity: crate::alert::SeverityCutoffs::default().classify(kind, detections),
    }
}

#[test]
fn default_anomaly_message() {
    let records = [mad_up()];
    let message = build_message(&input(AlertKind::Anomaly, &records), None);
    assert_eq!(message.title, "Anomaly in sessions_10min");
    insta::assert_snapshot!(message.text, @r"
    ANOMALY: sessions_10min
    Time: 2024-11-02 14:30:00 UTC
    Value: 1234.50

    Detector: mad (id a1b2c3d4; window_size=30 days, n_sigma=3.0)
    Expected range: 900 to 1100
    Score: 4.20
    Direction: up
    Deviation: +15.0%
    ");
}

#[test]
fn several_detectors_in_one_message() {
    let records = [mad_up(), threshold_up()];
    let mut i = input(AlertKind::Anomaly, &records);
    i.consecutive = 3;
    insta::assert_snapshot!(default_text(&i), @r"
    ANOMALY: sessions_10min
    Time: 2024-11-02 14:30:00 UTC
    Value: 1234.50
    Anomalous points in a row: 3

    Detector: mad (id a1b2c3d4; window_size=30 days, n_sigma=3.0)
    Expected range: 900 to 1100
    Score: 4.20
    Direction: up
    Deviation: +15.0%

    Detector: threshold (id limit; threshold=1200, operator=greater_than)
    Threshold: greater_than 1200
    Score: infinite (zero spread in the history)
    Direction: up
    Deviation: +2.9%
    ");
}

#[test]
fn recovery_message() {
    let mut normal = mad_up();
    normal.detection.value = Some(1010.0);
    normal.detection.is_anomaly = false;
    normal.detection.direction = None;
    let records = [normal];
    let mut i = input(AlertKind::Recovery, &records);
    i.recovered_from = Some(at() - chrono::TimeDelta::minutes(40));
    let message = build_message(&i, None);
    assert_eq!(message.title, "Recovered: sessions_10min");
    insta::assert_snapshot!(message.text, @r"
    RECOVERED: sessions_10min
    Time: 2024-11-02 14:30:00 UTC
    Value: 1010
    Back to normal after the anomaly alert for 2024-11-02 13:50:00 UTC.

    Detector: mad (id a1b2c3d4; window_size=30 days, n_sigma=3.0)
    Expected range: 900 to 1100
    ");
}

#[test]
fn sample_message_uses_configured_detectors_and_template() {
    let detectors = [DetectorInfo {
        id: "f00dbabe".into(),
        kind: "zscore".into(),
        params: json!({"n_sigma": 2.5}),
    }];
    let settings = AlertSettings::default();
    let message = sample_message("orders", &settings, &detectors, at());
    assert_eq!(message.kind, AlertKind::Test);
    assert_eq!(message.title, "Test alert for orders");
    insta::assert_snapshot!(message.text, @r"
    TEST ALERT: orders
    Sample data from `dtk test-alert`: no anomaly happened.
    Time: 2024-11-02 14:30:00 UTC
    Value: 1234.50

    Detector: zscore (id f00dbabe; n_sigma=2.5)
    Expected range: 900 to 1100
    Score: 4.20
    Direction: up
    Deviation: +23.4%
    ");
    let templated = AlertSettings {
        message_template: Some("[{{ kind }}] {{ metric_name }} via {{ detector_type }}".into()),
        ..AlertSettings::default()
    };
    let message = sample_message("orders", &templated, &[], at());
    assert_eq!(message.text, "[test] orders via mad");
}

#[test]
fn python_detectk_templates_render() {
    let template = "**ANOMALY** `{{ metric_name }}`\nValue: {{ value | round(2) }}\n\
        {% if lower_bound and upper_bound %}Expected: {{ lower_bound | round(2) }} - {{ upper_bound | round(2) }}\n{% endif %}\
        Time: {{ timestamp.strftime('%Y-%m-%d %H:%M:%S') }}\n\
        Detector: type={{ metadata.detector }}, threshold={{ metadata.n_sigma }} sigma";
    assert_eq!(validate_template(template), Ok(()));
    let records = [mad_up()];
    let message = build_message(&input(AlertKind::Anomaly, &records), Some(template));
    insta::assert_snapshot!(message.text, @r"
    **ANOMALY** `sessions_10min`
    Value: 1234.5
    Expected: 900.0 - 1100.0
    Time: 2024-11-02 14:30:00
    Detector: type=mad, threshold=3.0 sigma
    ");
}

#[test]
fn templates_see_every_detection_and_the_default_text() {
    let template = "{{ detections | length }} detectors: \
        {% for d in detections %}{{ d.detector_id }}={{ d.score | round(1) }} {% endfor %}\
        first line: {{ default_message[:23] }}; at {{ timestamp }}";
    assert_eq!(validate_template(template), Ok(()));
    let records = [mad_up(), threshold_up()];
    let text = build_message(&input(AlertKind::Anomaly, &records), Some(template)).text;
    assert_eq!(
        text,
        "2 detectors: a1b2c3d4=4.2 limit=inf first line: ANOMALY: sessions_10min; at 2024-11-02 14:30:00"
    );
}

#[test]
fn template_problems_are_caught_by_validation() {
    let syntax = validate_template("{% for x in detections %}").unwrap_err();
    assert!(
        syntax.starts_with("template error on line 1: syntax error"),
        "{syntax}"
    );
    let unknown = validate_template("{{ metric }} {{ valeu }}").unwrap_err();
    assert!(
        unknown.starts_with("unknown template variables metric, valeu; available: metric_name"),
        "{unknown}"
    );
    let filter = validate_template("{{ value | money }}").unwrap_err();
    assert!(filter.contains("unknown filter"), "{filter}");
    let method = validate_template("{{ timestamp.strftime() }}").unwrap_err();
    assert!(method.contains("strftime"), "{method}");
    let empty = validate_template("{% if false %}x{% endif %}").unwrap_err();
    assert_eq!(empty, "the template renders an empty message");
}

#[test]
fn a_template_failing_at_send_time_falls_back_to_the_default_text() {
    // Indexing past the end gives undefined, and undefined + 1 fails at render time.
    let template = "{{ detections[0].detector_id }}{{ [1][detections | length] + 1 }}";
    let records = [mad_up(), threshold_up()];
    let i = input(AlertKind::Anomaly, &records);
    assert_eq!(build_message(&i, Some(template)).text, default_text(&i));
}

#[test]
fn values_are_formatted_for_people() {
    assert_eq!(format_value(Some(-0.5)), "-0.5");
    assert_eq!(format_value(Some(0.000012341)), "0.00001234");
    assert_eq!(format_value(Some(12.3456)), "12.35");
    assert_eq!(format_value(Some(f64::NAN)), "NaN");
    assert_eq!(format_value(Some(1e20)), "100000000000000000000");
    assert_eq!(format_range(2.0, 31.5), "2.00 to 31.50");
    assert_eq!(format_range(900.0, 1100.0), "900 to 1100");
    assert_eq!(format_range(-6.0, 15.0), "-6 to 15");
    assert_eq!(format_range(0.0012, 0.5), "0.0012 to 0.5");
}

#[test]
fn threshold_rules_come_from_the_params() {
    let mut out = String::new();
    threshold_line(
        &mut out,
        &json!({"threshold": 10, "upper_threshold": 20.5, "operator": "outside"}),
    );
    threshold_line(
        &mut out,
        &json!({"threshold": 15, "percent": true, "baseline": 200}),
    );
    threshold_line(&mut out, &json!({"operator": "less_than"}));
    assert_eq!(
        out,
        "Threshold: outside 10 and 20.50\nThreshold: greater_than 15 (% change from 200)\n"
    );
}

#[test]
fn report_url_links_the_metric_and_time_in_the_default_text_and_templates() {
    let linked = AlertSettings {
        report_url: Some("https://r.example/{metric}/{date}.html#{timestamp}".into()),
        ..AlertSettings::default()
    };
    let message = sample_message("orders", &linked, &[], at());
    assert!(
        message
            .text
            .ends_with("\nReport: https://r.example/orders/2024-11-02.html#2024-11-02T14:30:00Z"),
        "{}",
        message.text
    );
    let templated = AlertSettings {
        message_template: Some("{{ metric_name }}: {{ report_url }}".into()),
        ..linked
    };
    let message = sample_message("orders", &templated, &[], at());
    assert_eq!(
        message.text,
        "orders: https://r.example/orders/2024-11-02.html#2024-11-02T14:30:00Z"
    );
    assert!(validate_template("{{ report_url }}").is_ok());
    let plain = sample_message("orders", &AlertSettings::default(), &[], at());
    assert!(!plain.text.contains("Report:"));
}
