//! Backend-independent pieces of the storages: the JSON layout of the `context`
//! columns, batch de-duplication and time formatting.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use detectk_core::model::{Context, DataPoint, DetectionRecord};
use rustc_hash::FxHashMap;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// Key of `dtk_detections.context` holding `Detection::stats`.
pub(crate) const STATS_KEY: &str = "stats";
/// Key of `dtk_detections.context` holding `Detection::skipped`.
pub(crate) const SKIPPED_KEY: &str = "skipped";

/// Points of a batch with one point per timestamp (the last one given wins),
/// in the order given.
pub(crate) fn dedupe_points(points: &[DataPoint]) -> Vec<&DataPoint> {
    // A collected batch is in time order, one point per time: nothing to hash.
    if points.windows(2).all(|w| w[0].timestamp < w[1].timestamp) {
        return points.iter().collect();
    }
    let mut last: HashMap<DateTime<Utc>, usize> = HashMap::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        last.insert(p.timestamp, i);
    }
    if last.len() == points.len() {
        return points.iter().collect();
    }
    points
        .iter()
        .enumerate()
        .filter(|(i, p)| last.get(&p.timestamp) == Some(i))
        .map(|(_, p)| p)
        .collect()
}

/// Detections with one record per key (metric, detector, timestamp), the last one
/// winning, in the order given.
pub(crate) fn dedupe_detections(records: &[DetectionRecord]) -> Vec<&DetectionRecord> {
    fn key(r: &DetectionRecord) -> (&str, &str, DateTime<Utc>) {
        (&r.metric, &r.detector_id, r.detection.timestamp)
    }
    if runs_are_unique(records) {
        return records.iter().collect();
    }
    let mut last = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(key(r), i);
    }
    if last.len() == records.len() {
        return records.iter().collect();
    }
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(&key(r)) == Some(i))
        .map(|(_, r)| r)
        .collect()
}

/// Whether `records` are unique by key in the shape a detection batch has: runs of
/// one (metric, detector) in strictly increasing time, no two runs of the same pair.
fn runs_are_unique(records: &[DetectionRecord]) -> bool {
    let same_series = |a: &DetectionRecord, b: &DetectionRecord| {
        a.detector_id == b.detector_id && a.metric == b.metric
    };
    let mut runs: Vec<&DetectionRecord> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match i.checked_sub(1).map(|p| &records[p]) {
            Some(prev) if same_series(prev, r) => {
                if prev.detection.timestamp >= r.detection.timestamp {
                    return false;
                }
            }
            _ => {
                if runs.iter().any(|first| same_series(first, r)) {
                    return false;
                }
                runs.push(r);
            }
        }
    }
    true
}

/// A point's context as stored: `None` (SQL NULL) when empty.
pub(crate) fn context_text(context: &Context) -> Option<String> {
    (!context.is_empty()).then(|| json_text(&**context))
}

/// Compact JSON text of `value` (what `Value::to_string` gives for the same JSON).
fn json_text(value: &impl Serialize) -> String {
    // Serializing maps of JSON values into a string cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// A stored JSON value back into a map (NULL or a non-object gives an empty map).
pub(crate) fn context_from_value(value: Option<Value>) -> Context {
    match value {
        Some(Value::Object(map)) => Context::from(map),
        _ => Context::new(),
    }
}

/// Most distinct contexts a [`Contexts`] keeps (a read whose every point has a context
/// of its own parses each once, as without it).
const MAX_SHARED_CONTEXTS: usize = 1024;

/// The contexts one read has parsed, by their stored text: the points of a window that
/// repeat a context (an `hour_of_day` column repeats 24 of them) share one, parsed once.
#[derive(Default)]
pub(crate) struct Contexts {
    parsed: FxHashMap<Box<[u8]>, Context>,
}

impl Contexts {
    /// The context stored as `text` (text that is not a JSON object gives an empty one,
    /// as [`context_from_value`]); `None` when `text` is not UTF-8.
    pub(crate) fn parse(&mut self, text: &[u8]) -> Option<Context> {
        self.parse_with(text, |text| {
            let json = std::str::from_utf8(text).map_err(|_| ())?;
            Ok::<_, ()>(context_from_value(serde_json::from_str(json).ok()))
        })
        .ok()
    }

    /// The context stored as the text of a JSON column (NULL, or text that is not a JSON
    /// object, gives an empty one).
    pub(crate) fn of_text(&mut self, text: Option<&str>) -> Context {
        text.and_then(|t| self.parse(t.as_bytes()))
            .unwrap_or_default()
    }

    /// The context stored as `text`, parsed by `parse` when this read has not seen the
    /// same text yet (a failure is not kept).
    pub(crate) fn parse_with<E>(
        &mut self,
        text: &[u8],
        parse: impl FnOnce(&[u8]) -> Result<Context, E>,
    ) -> Result<Context, E> {
        if let Some(context) = self.parsed.get(text) {
            return Ok(context.clone());
        }
        let context = parse(text)?;
        if self.parsed.len() < MAX_SHARED_CONTEXTS {
            self.parsed.insert(text.into(), context.clone());
        }
        Ok(context)
    }
}

/// The `context` JSON of a detection: the point's context plus `stats` (when not
/// empty) and `skipped` (when set), `None` when that is empty.
pub(crate) fn detection_context(record: &DetectionRecord) -> Option<String> {
    let (context, detection) = (&record.context, &record.detection);
    let empty = context.is_empty() && detection.stats.is_empty() && detection.skipped.is_none();
    (!empty).then(|| json_text(&DetectionContext(record)))
}

/// Serializes as the detection's `context` JSON without building it: the point's
/// context, with the detection's `stats` and `skipped` set as a map's insert would set
/// them (in the place of a context column of the same name, else after the others).
struct DetectionContext<'a>(&'a DetectionRecord);

impl Serialize for DetectionContext<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (context, detection) = (&self.0.context, &self.0.detection);
        let stats = (!detection.stats.is_empty()).then_some(&detection.stats);
        let skipped = detection.skipped.as_ref();
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in context.iter() {
            match (k.as_str(), stats, skipped) {
                (STATS_KEY, Some(stats), _) => map.serialize_entry(k, stats)?,
                (SKIPPED_KEY, _, Some(reason)) => map.serialize_entry(k, reason)?,
                _ => map.serialize_entry(k, v)?,
            }
        }
        if let Some(stats) = stats.filter(|_| !context.contains_key(STATS_KEY)) {
            map.serialize_entry(STATS_KEY, stats)?;
        }
        if let Some(reason) = skipped.filter(|_| !context.contains_key(SKIPPED_KEY)) {
            map.serialize_entry(SKIPPED_KEY, reason)?;
        }
        map.end()
    }
}

/// Splits a stored detection context into (point context, stats, skip reason).
pub(crate) fn split_detection_context(
    context: Context,
) -> (Context, Map<String, Value>, Option<String>) {
    if !context.contains_key(STATS_KEY) && !context.contains_key(SKIPPED_KEY) {
        return (context, Map::new(), None);
    }
    let mut map = context.into_map();
    let stats = match map.shift_remove(STATS_KEY) {
        Some(Value::Object(s)) => s,
        _ => Map::new(),
    };
    let skipped = match map.shift_remove(SKIPPED_KEY) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    (Context::from(map), stats, skipped)
}

/// The `detector_params` JSON text of detections, serialized once per detector: the
/// records of one detector carry equal params, and comparing is cheaper than writing.
#[derive(Default)]
pub(crate) struct ParamsText<'a> {
    last: Option<(&'a Value, String)>,
}

impl<'a> ParamsText<'a> {
    /// The JSON text of `params`.
    pub(crate) fn of(&mut self, params: &'a Value) -> String {
        match &self.last {
            Some((value, text)) if *value == params => text.clone(),
            _ => {
                let text = params.to_string();
                self.last = Some((params, text.clone()));
                text
            }
        }
    }
}

/// The stored `detector_ids` JSON list.
pub(crate) fn ids_text(ids: &[String]) -> String {
    Value::from(ids.to_vec()).to_string()
}

/// Parses a stored alert kind (`anomaly`, `recovery`, `test`).
pub(crate) fn parse_kind(s: &str) -> Option<detectk_core::traits::AlertKind> {
    use detectk_core::traits::AlertKind;
    [AlertKind::Anomaly, AlertKind::Recovery, AlertKind::Test]
        .into_iter()
        .find(|k| k.as_str() == s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use detectk_core::model::Detection;
    use serde_json::json;

    #[test]
    fn a_read_parses_each_distinct_context_once() {
        let mut contexts = Contexts::default();
        let a = contexts.parse(br#"{"hour_of_day":3}"#).unwrap();
        let b = contexts.parse(br#"{"hour_of_day":3}"#).unwrap();
        assert_eq!(a["hour_of_day"], 3);
        assert!(
            std::ptr::eq(&*a, &*b),
            "the same text gives the same shared map"
        );
        let other = contexts.parse(br#"{"hour_of_day":4}"#).unwrap();
        assert_eq!(other["hour_of_day"], 4);
        // As the stored column reads without the cache: not an object, or not JSON, is
        // an empty context; bytes that are not UTF-8 are not a context at all.
        assert!(contexts.parse(b"[1,2]").unwrap().is_empty());
        assert!(contexts.parse(b"{not json").unwrap().is_empty());
        assert!(contexts.parse(b"{\"k\":\"\xff\"}").is_none());
    }

    #[test]
    fn contexts_past_the_cap_are_parsed_but_not_kept() {
        let mut contexts = Contexts::default();
        for i in 0..MAX_SHARED_CONTEXTS + 10 {
            let text = format!(r#"{{"id":{i}}}"#);
            assert_eq!(contexts.parse(text.as_bytes()).unwrap()["id"], i);
        }
        assert_eq!(contexts.parsed.len(), MAX_SHARED_CONTEXTS);
    }

    #[test]
    fn batches_keep_the_last_point_per_timestamp() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let points = vec![DataPoint::new(t, 1.0), DataPoint::new(t, 2.0)];
        let kept = dedupe_points(&points);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].value, Some(2.0));
    }

    #[test]
    fn detection_batches_keep_the_last_record_per_key_in_order() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let record = |detector: &str, minute: i64, value: f64| DetectionRecord {
            metric: "m".into(),
            detector_id: detector.into(),
            detector_type: "mad".into(),
            detector_params: json!({}),
            detection: Detection::skipped(t + chrono::Duration::minutes(minute), Some(value), "x"),
            alert_sent: false,
            context: Context::new(),
        };
        let unique = vec![
            record("a", 0, 1.0),
            record("b", 0, 2.0),
            record("a", 1, 3.0),
        ];
        let kept: Vec<&DetectionRecord> = dedupe_detections(&unique);
        assert_eq!(kept, unique.iter().collect::<Vec<_>>());
        let repeated = vec![
            record("a", 0, 1.0),
            record("b", 0, 2.0),
            record("a", 0, 3.0),
        ];
        let kept = dedupe_detections(&repeated);
        assert_eq!(kept, vec![&repeated[1], &repeated[2]]);
    }

    proptest::proptest! {
        /// However a batch is shaped, each key keeps its last record, in the order
        /// given (the shortcut for batches in runs agrees with the hashing).
        #[test]
        fn dedupe_keeps_the_last_record_per_key(
            keys in proptest::collection::vec((0..3usize, 0..2usize, 0..6i64), 0..24),
        ) {
            let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
            let records: Vec<DetectionRecord> = keys
                .iter()
                .enumerate()
                .map(|(i, (detector, metric, minute))| DetectionRecord {
                    metric: format!("m{metric}"),
                    detector_id: format!("d{detector}"),
                    detector_type: "mad".into(),
                    detector_params: json!({}),
                    detection: Detection::skipped(
                        t + chrono::Duration::minutes(*minute),
                        Some(i as f64),
                        "x",
                    ),
                    alert_sent: false,
                    context: Context::new(),
                })
                .collect();
            let expected: Vec<&DetectionRecord> = records
                .iter()
                .enumerate()
                .filter(|(i, r)| {
                    !records[i + 1..].iter().any(|later| {
                        later.metric == r.metric
                            && later.detector_id == r.detector_id
                            && later.detection.timestamp == r.detection.timestamp
                    })
                })
                .map(|(_, r)| r)
                .collect();
            proptest::prop_assert_eq!(dedupe_detections(&records), expected);
            let points: Vec<DataPoint> = keys
                .iter()
                .enumerate()
                .map(|(i, (_, _, minute))| DataPoint::new(t + chrono::Duration::minutes(*minute), i as f64))
                .collect();
            let expected: Vec<&DataPoint> = points
                .iter()
                .enumerate()
                .filter(|(i, p)| !points[i + 1..].iter().any(|l| l.timestamp == p.timestamp))
                .map(|(_, p)| p)
                .collect();
            proptest::prop_assert_eq!(dedupe_points(&points), expected);
        }
    }

    #[test]
    fn params_text_is_each_params_json() {
        let (a, b) = (json!({"window": 7}), json!({"window": 30}));
        let mut texts = ParamsText::default();
        for params in [&a, &a, &b, &a] {
            assert_eq!(texts.of(params), params.to_string());
        }
    }

    #[test]
    fn detection_context_is_the_point_context_with_stats_and_skip_reason_added() {
        // The map the text stands for, built the plain way.
        fn built(r: &DetectionRecord) -> Option<String> {
            let mut map = r.context.clone().into_map();
            if !r.detection.stats.is_empty() {
                map.insert(STATS_KEY.into(), Value::Object(r.detection.stats.clone()));
            }
            if let Some(reason) = &r.detection.skipped {
                map.insert(SKIPPED_KEY.into(), json!(reason));
            }
            (!map.is_empty()).then(|| Value::Object(map).to_string())
        }
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let contexts = [
            json!({}),
            json!({"hour": 3, "host": "a\"b"}),
            json!({"stats": 1, "hour": 2}),
            json!({"skipped": "old", "x": [1.5, null]}),
        ];
        let stats = [json!({}), json!({"median": 1.5, "mad": 0.1, "n": 4320})];
        let mut seen = 0;
        for context in &contexts {
            for stat in &stats {
                for skipped in [None, Some("too little history")] {
                    let mut detection = Detection::skipped(t, Some(1.0), "x");
                    detection.skipped = skipped.map(String::from);
                    detection.stats = stat.as_object().unwrap().clone();
                    let record = DetectionRecord {
                        metric: "m".into(),
                        detector_id: "d".into(),
                        detector_type: "mad".into(),
                        detector_params: json!({}),
                        detection,
                        alert_sent: false,
                        context: context.as_object().unwrap().clone().into(),
                    };
                    let text = detection_context(&record);
                    assert_eq!(text, built(&record), "{record:?}");
                    seen += usize::from(text.is_some());
                }
            }
        }
        assert_eq!(seen, 15, "only the all-empty case stores NULL");
    }

    #[test]
    fn detection_context_holds_stats_and_skip_reason() {
        let mut stats = Map::new();
        stats.insert("median".into(), json!(1.5));
        let mut context = Context::new();
        context.insert("hour".into(), json!(3));
        let mut map: Context = serde_json::from_str(
            &context_text(&{
                let mut m = context.clone();
                m.insert(STATS_KEY.into(), Value::Object(stats.clone()));
                m.insert(SKIPPED_KEY.into(), json!("too little history"));
                m
            })
            .unwrap(),
        )
        .unwrap();
        map.insert("extra".into(), json!(null));
        let (ctx, s, skipped) = split_detection_context(map);
        assert_eq!(s, stats);
        assert_eq!(skipped.as_deref(), Some("too little history"));
        assert_eq!(ctx.get("hour"), Some(&json!(3)));
    }
}
