//! Seasonal feature values compared the way Python compares them.
//!
//! Python detectk filters history with `df[feature] == current_value`: numbers compare
//! by value (`14 == 14.0`), booleans equal 1 and 0, `None` (JSON null) and NaN equal
//! nothing. [`FeatureValue`] is a hashable form with that equality.

use detectk_core::Context;
use serde_json::Value;

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

    fn number(f: f64) -> Self {
        Self::Number(if f == 0.0 { 0 } else { f.to_bits() })
    }
}

/// Why a point's own seasonal key cannot be formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The point's context lacks the feature.
    Missing(String),
}

/// The values of `features` in `context`: `Err` if one is absent, `None` inside for
/// values that equal nothing (null, NaN).
pub(crate) fn key_of(
    context: &Context,
    features: &[String],
) -> Result<Vec<Option<FeatureValue>>, KeyError> {
    features
        .iter()
        .map(|f| {
            context
                .get(f)
                .map(FeatureValue::of)
                .ok_or_else(|| KeyError::Missing(f.clone()))
        })
        .collect()
}

/// The values of `features` in a history point's context (absent ones equal nothing).
pub(crate) fn history_key(context: &Context, features: &[String]) -> Vec<Option<FeatureValue>> {
    features
        .iter()
        .map(|f| context.get(f).and_then(FeatureValue::of))
        .collect()
}

/// Whether a history key matches the scored point's key: on every feature
/// (`combined`) or on at least one.
pub(crate) fn matches(
    history: &[Option<FeatureValue>],
    current: &[Option<FeatureValue>],
    combined: bool,
) -> bool {
    let mut pairs = history.iter().zip(current);
    let eq = |(h, c): (&Option<FeatureValue>, &Option<FeatureValue>)| h.is_some() && h == c;
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
    fn python_equality() {
        let v = |x: Value| FeatureValue::of(&x);
        assert_eq!(v(json!(14)), v(json!(14.0)));
        assert_eq!(v(json!(true)), v(json!(1)));
        assert_eq!(v(json!(0.0)), v(json!(-0.0)));
        assert_ne!(v(json!("14")), v(json!(14)));
        assert_eq!(v(json!(null)), None);
    }

    #[test]
    fn keys_and_matching() {
        let ctx = json!({"hour": 3, "dow": "mon", "x": null});
        let ctx = ctx.as_object().unwrap();
        let feats = vec!["hour".to_string(), "dow".to_string()];
        let cur = key_of(ctx, &feats).unwrap();
        assert_eq!(
            key_of(ctx, &["nope".to_string()]),
            Err(KeyError::Missing("nope".into()))
        );
        let other = json!({"hour": 3.0, "dow": "tue"});
        let hist = history_key(other.as_object().unwrap(), &feats);
        assert!(matches(&hist, &cur, false));
        assert!(!matches(&hist, &cur, true));
        let nulls = key_of(ctx, &["x".to_string()]).unwrap();
        assert!(!matches(&nulls, &nulls, true));
    }
}
