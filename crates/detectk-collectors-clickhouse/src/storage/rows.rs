//! Typed RowBinary rows of `dtk_datapoints` and `dtk_detections`, and their conversions.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use clickhouse::Row;
use detectk_core::{Context, DataPoint, Detection, DetectionRecord, Direction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::versions::{from_datetime_secs, to_datetime_secs};

/// Columns read into [`DatapointRow`], in field order.
pub const DATAPOINT_COLUMNS: &str = "collected_at, value, is_missing, context";

/// One row of `dtk_datapoints` as read back.
#[derive(Debug, Row, Deserialize)]
pub struct DatapointRow {
    pub collected_at: u32,
    pub value: Option<f64>,
    pub is_missing: u8,
    pub context: String,
}

impl DatapointRow {
    /// The stored point.
    pub fn into_point(self) -> Result<DataPoint, String> {
        Ok(DataPoint {
            timestamp: from_datetime_secs(self.collected_at),
            value: self.value,
            is_missing: self.is_missing != 0,
            context: parse_context(&self.context)?,
        })
    }
}

/// One row of `dtk_datapoints` as written: borrows the metric name, so a bulk load
/// streams rows without copying them first.
#[derive(Debug, Row, Serialize)]
pub struct DatapointWrite<'a> {
    pub metric_name: &'a str,
    pub collected_at: u32,
    pub value: Option<f64>,
    pub is_missing: u8,
    pub context: Cow<'a, str>,
    pub loaded_at: u32,
    pub version: u64,
}

impl<'a> DatapointWrite<'a> {
    /// The row for `point` of `metric`; `Err` names a timestamp `DateTime` cannot hold.
    pub fn new(
        metric: &'a str,
        point: &DataPoint,
        loaded_at: u32,
        version: u64,
    ) -> Result<Self, String> {
        Ok(Self {
            metric_name: metric,
            collected_at: seconds(point.timestamp)?,
            value: point.value,
            is_missing: u8::from(point.is_missing),
            context: context_text(&point.context),
            loaded_at,
            version,
        })
    }
}

/// Column list of [`DetectionRow`], in field order.
pub const DETECTION_COLUMNS: &str = "metric_name, detector_id, detected_at, value, is_anomaly, \
    score, lower_bound, upper_bound, direction, percent_deviation, detector_type, \
    detector_params, alert_sent, context, updated_at, version";

/// One row of `dtk_detections`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct DetectionRow {
    pub metric_name: String,
    pub detector_id: String,
    pub detected_at: u32,
    pub value: Option<f64>,
    pub is_anomaly: u8,
    pub score: Option<f64>,
    pub lower_bound: Option<f64>,
    pub upper_bound: Option<f64>,
    pub direction: Option<String>,
    pub percent_deviation: Option<f64>,
    pub detector_type: String,
    pub detector_params: String,
    pub alert_sent: u8,
    pub context: String,
    pub updated_at: u32,
    pub version: u64,
}

impl DetectionRow {
    /// The row for `record`. The `context` column holds the record's context plus the
    /// detection's `stats` and (when set) `skipped`, so a load restores all three.
    pub fn new(record: &DetectionRecord, updated_at: u32, version: u64) -> Result<Self, String> {
        let d = &record.detection;
        let mut context = record.context.clone();
        context.insert("stats".into(), Value::Object(d.stats.clone()));
        if let Some(reason) = &d.skipped {
            context.insert("skipped".into(), Value::String(reason.clone()));
        }
        Ok(Self {
            metric_name: record.metric.clone(),
            detector_id: record.detector_id.clone(),
            detected_at: seconds(d.timestamp)?,
            value: d.value,
            is_anomaly: u8::from(d.is_anomaly),
            score: d.score,
            lower_bound: d.lower_bound,
            upper_bound: d.upper_bound,
            direction: d.direction.map(|x| x.as_str().to_string()),
            percent_deviation: d.percent_deviation,
            detector_type: record.detector_type.clone(),
            detector_params: record.detector_params.to_string(),
            alert_sent: u8::from(record.alert_sent),
            context: context_text(&context).into_owned(),
            updated_at,
            version,
        })
    }

    /// The stored record.
    pub fn into_record(self) -> Result<DetectionRecord, String> {
        let mut context = parse_context(&self.context)?.into_map();
        let stats = match context.remove("stats") {
            Some(Value::Object(map)) => map,
            Some(Value::Null) | None => Default::default(),
            Some(other) => return Err(format!("`stats` in context is not an object: {other}")),
        };
        let skipped = match context.remove("skipped") {
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) | None => None,
            Some(other) => return Err(format!("`skipped` in context is not text: {other}")),
        };
        let direction = match self.direction.as_deref() {
            None | Some("") => None,
            Some(text) => {
                Some(Direction::parse(text).ok_or_else(|| format!("unknown direction {text:?}"))?)
            }
        };
        let detector_params = serde_json::from_str(&self.detector_params)
            .map_err(|e| format!("detector_params is not JSON: {e}"))?;
        Ok(DetectionRecord {
            metric: self.metric_name,
            detector_id: self.detector_id,
            detector_type: self.detector_type,
            detector_params,
            detection: Detection {
                timestamp: from_datetime_secs(self.detected_at),
                value: self.value,
                is_anomaly: self.is_anomaly != 0,
                score: self.score,
                lower_bound: self.lower_bound,
                upper_bound: self.upper_bound,
                direction,
                percent_deviation: self.percent_deviation,
                skipped,
                stats,
            },
            alert_sent: self.alert_sent != 0,
            context: Context::from(context),
        })
    }
}

/// The `DateTime` value of a point or detection time, or why it cannot be stored.
pub fn seconds(t: DateTime<Utc>) -> Result<u32, String> {
    to_datetime_secs(t).ok_or_else(|| {
        format!(
            "timestamp {} cannot be stored: ClickHouse DateTime holds whole seconds from 1970 to 2106",
            t.to_rfc3339()
        )
    })
}

fn context_text(context: &Context) -> Cow<'static, str> {
    if context.is_empty() {
        Cow::Borrowed("{}")
    } else {
        // Serializing a map of JSON values cannot fail.
        Cow::Owned(serde_json::to_string(context).unwrap_or_default())
    }
}

fn parse_context(text: &str) -> Result<Context, String> {
    if text.is_empty() {
        return Ok(Context::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(Context::from(map)),
        Ok(other) => Err(format!("context is not a JSON object: {other}")),
        Err(e) => Err(format!("context is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn detection_context_carries_stats_and_skipped() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let mut d = Detection::skipped(t, Some(1.0), "too little history");
        d.stats.insert("n".into(), json!(2));
        let record = DetectionRecord {
            metric: "m".into(),
            detector_id: "abcd1234".into(),
            detector_type: "mad".into(),
            detector_params: json!({"n_sigma": 3.0}),
            detection: d,
            alert_sent: true,
            context: Context::from_iter([("hour_of_day".to_string(), json!(3))]),
        };
        let row = DetectionRow::new(&record, 0, 1).unwrap();
        let stored: Value = serde_json::from_str(&row.context).unwrap();
        assert_eq!(
            stored,
            json!({"hour_of_day": 3, "stats": {"n": 2}, "skipped": "too little history"})
        );
        assert_eq!(row.into_record().unwrap(), record);
    }

    #[test]
    fn sub_second_timestamps_are_refused() {
        let t =
            Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::milliseconds(1);
        let err = DatapointWrite::new("m", &DataPoint::new(t, 1.0), 0, 1).unwrap_err();
        assert!(err.contains("whole seconds"), "{err}");
    }
}
