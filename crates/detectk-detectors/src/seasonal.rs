//! Seasonal feature values compared the way Python compares them.
//!
//! Python detectk filters history with `df[feature] == current_value`: numbers compare
//! by value (`14 == 14.0`), booleans equal 1 and 0, `None` (JSON null) and NaN equal
//! nothing. [`FeatureValue`] is a hashable form with that equality.

use chrono_tz::Tz;
use detectk_core::DataPoint;
use serde_json::Value;

use crate::calendar::{CalendarFeature, LocalClock};

/// A context value reduced to Python equality; `None` when it equals nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FeatureValue {
    /// A number (or boolean) by its `f64` bits, with `-0.0` folded into `0.0`.
    Number(u64),
    /// A string.
    Text(String),
    /// A list or mapping, by its JSON text.
    Json(String),
}

impl FeatureValue {
    /// The comparable form of `value`, or `None` for null and NaN.
    pub(crate) fn of(value: &Value) -> Option<Self> {
        match value {
            Value::Null => None,
            Value::Bool(b) => Some(Self::number(if *b { 1.0 } else { 0.0 })),
            Value::Number(n) => n.as_f64().filter(|f| !f.is_nan()).map(Self::number),
            Value::String(s) => Some(Self::Text(s.clone())),
            other => Some(Self::Json(other.to_string())),
        }
    }

    pub(crate) fn number(f: f64) -> Self {
        Self::Number(if f == 0.0 { 0 } else { f.to_bits() })
    }
}

/// Why a point's own seasonal key cannot be formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The point's context lacks the feature.
    Missing(String),
}

/// Each feature's value in one context, read once: `None` when the feature is absent,
/// `Some(None)` when its value equals nothing (null, NaN).
pub(crate) type RawKey = Vec<Option<Option<FeatureValue>>>;

/// The key of point `i`: `raw[i]`, or the empty key when `raw` is empty (a series
/// without seasonal features has no keys to store).
pub(crate) fn key_at(raw: &[RawKey], i: usize) -> &RawKey {
    static NO_KEY: RawKey = Vec::new();
    raw.get(i).unwrap_or(&NO_KEY)
}

/// Reads `features` from `context`.
#[cfg(test)]
pub(crate) fn raw_key(context: &serde_json::Map<String, Value>, features: &[String]) -> RawKey {
    features
        .iter()
        .map(|f| context.get(f).map(FeatureValue::of))
        .collect()
}

/// Each point's feature values: from its context, or, for a calendar feature the
/// context lacks, computed from its timestamp in `tz` (a context column wins).
pub(crate) fn raw_keys(series: &[DataPoint], features: &[String], tz: Tz) -> Vec<RawKey> {
    let mut reader = KeyReader::new(features, tz);
    series.iter().map(|p| reader.key(p)).collect()
}

/// Reads points' feature values (see [`raw_keys`]) one point at a time.
pub(crate) struct KeyReader<'a> {
    features: &'a [String],
    calendar: Vec<Option<CalendarFeature>>,
    clock: LocalClock,
}

impl<'a> KeyReader<'a> {
    /// A reader of `features`, calendar features computed in `tz`.
    pub(crate) fn new(features: &'a [String], tz: Tz) -> Self {
        Self {
            features,
            calendar: features.iter().map(|f| CalendarFeature::parse(f)).collect(),
            clock: LocalClock::new(tz),
        }
    }

    /// The feature values of `p`.
    pub(crate) fn key(&mut self, p: &DataPoint) -> RawKey {
        let mut local = None;
        let mut key = Vec::with_capacity(self.features.len());
        for (f, c) in self.features.iter().zip(&self.calendar) {
            key.push(match (lookup(&p.context, f), c) {
                (Some(v), _) => Some(FeatureValue::of(v)),
                (None, Some(c)) => {
                    let l = *local.get_or_insert_with(|| self.clock.local(p.timestamp));
                    Some(Some(FeatureValue::number(f64::from(c.of_local(&l)))))
                }
                (None, None) => None,
            });
        }
        key
    }

    /// Whether `p`'s key is complete and equal to `key`: `complete(k) && k == *key` for
    /// `k = self.key(p)`, without building `k`.
    pub(crate) fn complete_and_equal(&mut self, p: &DataPoint, key: &RawKey) -> bool {
        let mut local = None;
        (0..self.features.len()).all(|f| self.feature_equals(p, f, &key[f], &mut local))
    }

    /// Whether `p` matches `key` on at least one feature: `matches(k, key, false)` for
    /// `k = self.key(p)`, without building `k`.
    pub(crate) fn matches_any(&mut self, p: &DataPoint, key: &RawKey) -> bool {
        let mut local = None;
        (0..self.features.len()).any(|f| self.feature_equals(p, f, &key[f], &mut local))
    }

    /// Whether feature `f` of `p` has a value that equals `want`'s (both usable);
    /// `local` caches `p`'s local time.
    fn feature_equals(
        &mut self,
        p: &DataPoint,
        f: usize,
        want: &Option<Option<FeatureValue>>,
        local: &mut Option<chrono::NaiveDateTime>,
    ) -> bool {
        let Some(Some(want)) = want else { return false };
        match (lookup(&p.context, &self.features[f]), self.calendar[f]) {
            (Some(v), _) => value_equals(v, want),
            (None, Some(c)) => {
                let l = *local.get_or_insert_with(|| self.clock.local(p.timestamp));
                FeatureValue::number(f64::from(c.of_local(&l))) == *want
            }
            (None, None) => false,
        }
    }
}

/// `FeatureValue::of(v) == Some(want)`, without copying a string.
fn value_equals(v: &Value, want: &FeatureValue) -> bool {
    match (v, want) {
        (Value::String(s), FeatureValue::Text(t)) => s == t,
        (Value::String(_), _) => false,
        (Value::Bool(_) | Value::Number(_), FeatureValue::Text(_) | FeatureValue::Json(_)) => false,
        _ => FeatureValue::of(v).as_ref() == Some(want),
    }
}

/// Contexts up to this size are searched by comparing names, not by hashing one.
const LINEAR_LOOKUP: usize = 8;

/// The value of `name` in `context`: a small context (a few columns, the usual case)
/// is searched in order, which is cheaper than hashing the name with SipHash.
fn lookup<'a>(context: &'a detectk_core::Context, name: &str) -> Option<&'a Value> {
    if context.len() <= LINEAR_LOOKUP {
        // Names are short: a byte loop that stops at the first difference beats a
        // call to `memcmp` for each.
        let same =
            |k: &str| k.len() == name.len() && k.bytes().zip(name.bytes()).all(|(a, b)| a == b);
        context.iter().find(|(k, _)| same(k)).map(|(_, v)| v)
    } else {
        context.get(name)
    }
}

/// The first of `features` absent from a scored point's context.
pub(crate) fn missing_feature(raw: &RawKey, features: &[String]) -> Option<KeyError> {
    raw.iter()
        .zip(features)
        .find(|(v, _)| v.is_none())
        .map(|(_, f)| KeyError::Missing(f.clone()))
}

/// A feature's value when it can equal something.
pub(crate) fn usable(v: &Option<Option<FeatureValue>>) -> Option<&FeatureValue> {
    v.as_ref()?.as_ref()
}

/// Whether every feature has a value that can equal something.
pub(crate) fn complete(raw: &RawKey) -> bool {
    raw.iter().all(|v| usable(v).is_some())
}

/// Whether a history point matches the scored point: on every feature (`combined`)
/// or on at least one.
pub(crate) fn matches(history: &RawKey, current: &RawKey, combined: bool) -> bool {
    let mut pairs = history.iter().zip(current);
    let eq = |(h, c): (&Option<Option<FeatureValue>>, &Option<Option<FeatureValue>>)| {
        usable(h).is_some() && usable(h) == usable(c)
    };
    if combined {
        pairs.all(eq)
    } else {
        pairs.any(eq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_finds_what_get_finds_in_small_and_large_contexts() {
        for size in [0, 1, LINEAR_LOOKUP, LINEAR_LOOKUP + 1, 40] {
            let mut ctx = detectk_core::Context::new();
            for c in 0..size {
                ctx.insert(format!("c{c}"), json!(c));
            }
            for name in ["c0", "c7", "c8", "c39", "absent", ""] {
                assert_eq!(lookup(&ctx, name), ctx.get(name), "{name} in {size}");
            }
        }
    }

    #[test]
    fn equality_without_a_key_is_key_equality() {
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let values = [
            json!(null),
            json!(3),
            json!(3.0),
            json!(-0.0),
            json!(0),
            json!(true),
            json!(1),
            json!("3"),
            json!("a"),
            json!([3]),
            json!({"x": 1}),
            json!(f64::MAX),
        ];
        let features: Vec<String> = ["f", "hour_of_day"].map(String::from).to_vec();
        let mut points = Vec::new();
        for (i, v) in values.iter().enumerate() {
            for hour_in_context in [None, Some(json!(3)), Some(json!("x"))] {
                let mut ctx = detectk_core::Context::new();
                if i % 5 != 4 {
                    ctx.insert("f".into(), v.clone());
                }
                if let Some(h) = &hour_in_context {
                    ctx.insert("hour_of_day".into(), h.clone());
                }
                let ts = t0 + chrono::TimeDelta::hours(i as i64);
                points.push(DataPoint::new(ts, 1.0).with_context(ctx));
            }
        }
        let mut reader = KeyReader::new(&features, Tz::Europe__Berlin);
        let keys: Vec<RawKey> = points.iter().map(|p| reader.key(p)).collect();
        for key in &keys {
            for (p, k) in points.iter().zip(&keys) {
                let expected = complete(k) && k == key;
                assert_eq!(reader.complete_and_equal(p, key), expected, "{k:?} {key:?}");
                let any = matches(k, key, false);
                assert_eq!(reader.matches_any(p, key), any, "{k:?} {key:?}");
            }
        }
    }

    #[test]
    fn python_equality() {
        let v = |x: Value| FeatureValue::of(&x);
        assert_eq!(v(json!(14)), v(json!(14.0)));
        assert_eq!(v(json!(true)), v(json!(1)));
        assert_eq!(v(json!(0.0)), v(json!(-0.0)));
        assert_ne!(v(json!("14")), v(json!(14)));
        assert_eq!(v(json!(null)), None);
    }

    #[test]
    fn calendar_features_come_from_the_timestamp_unless_the_context_has_them() {
        use chrono::TimeZone;
        let t = chrono::Utc.with_ymd_and_hms(2024, 6, 1, 22, 30, 0).unwrap(); // Saturday
        let mut ctx = serde_json::Map::new();
        ctx.insert("day_of_week".into(), json!("sat"));
        let p = DataPoint::new(t, 1.0).with_context(ctx);
        let feats: Vec<String> = ["hour_of_day", "day_of_week", "is_weekend", "other"]
            .map(String::from)
            .to_vec();
        let utc = raw_keys(std::slice::from_ref(&p), &feats, Tz::UTC);
        let num = |x: f64| Some(Some(FeatureValue::number(x)));
        assert_eq!(utc[0][0], num(22.0));
        assert_eq!(utc[0][1], Some(Some(FeatureValue::Text("sat".into()))));
        assert_eq!(utc[0][2], num(1.0));
        assert_eq!(utc[0][3], None);
        let tokyo = raw_keys(&[p], &feats, "Asia/Tokyo".parse().unwrap());
        assert_eq!(tokyo[0][0], num(7.0)); // Sunday 07:30 in Tokyo
        assert_eq!(tokyo[0][2], num(1.0));
    }

    #[test]
    fn keys_and_matching() {
        let ctx = json!({"hour": 3, "dow": "mon", "x": null});
        let ctx = ctx.as_object().unwrap();
        let feats = vec!["hour".to_string(), "dow".to_string()];
        let cur = raw_key(ctx, &feats);
        assert!(missing_feature(&cur, &feats).is_none() && complete(&cur));
        let nope = ["nope".to_string()];
        assert_eq!(
            missing_feature(&raw_key(ctx, &nope), &nope),
            Some(KeyError::Missing("nope".into()))
        );
        let other = json!({"hour": 3.0, "dow": "tue"});
        let hist = raw_key(other.as_object().unwrap(), &feats);
        assert!(matches(&hist, &cur, false));
        assert!(!matches(&hist, &cur, true));
        let x = ["x".to_string()];
        let nulls = raw_key(ctx, &x);
        assert!(missing_feature(&nulls, &x).is_none() && !complete(&nulls));
        assert!(!matches(&nulls, &nulls, true));
    }
}
