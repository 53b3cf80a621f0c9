//! [`Context`]: a point's extra columns, shared between the points that carry the same
//! ones.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A point's context: its columns beyond the timestamp and the value (seasonal features
/// such as `hour_of_day`, or any extra column), as a JSON object.
///
/// A context is shared, not copied: cloning one is a reference-count increment, so a
/// 30-day window whose points repeat the same 24 `hour_of_day` contexts holds 24 maps,
/// not one per point. It reads as a [`Map`] (through [`Deref`]); a write
/// ([`Context::insert`], [`Context::make_mut`]) copies the map first when it is shared. An empty context holds no
/// map at all.
///
/// ```
/// use detectk_core::Context;
/// use serde_json::json;
///
/// let mut ctx = Context::new();
/// ctx.insert("hour_of_day".into(), json!(3));
/// let shared = ctx.clone();
/// ctx.insert("host".into(), json!("a"));
/// assert_eq!(shared.len(), 1);
/// assert_eq!(ctx["hour_of_day"], 3);
/// assert_eq!(serde_json::to_string(&ctx).unwrap(), r#"{"hour_of_day":3,"host":"a"}"#);
/// ```
#[derive(Clone, Default)]
pub struct Context(Option<Arc<Map<String, Value>>>);

/// What an empty context reads as (an empty context holds no map: nothing allocated).
static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`; returns the value it replaces.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        self.make_mut().insert(key, value)
    }

    /// Removes `key`, keeping the order of the others; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if !self.contains_key(key) {
            return None;
        }
        self.make_mut().shift_remove(key)
    }

    /// The map, for changes (copied first when another context shares it).
    pub fn make_mut(&mut self) -> &mut Map<String, Value> {
        Arc::make_mut(self.0.get_or_insert_with(Arc::default))
    }

    /// The map itself (copied when another context shares it).
    pub fn into_map(self) -> Map<String, Value> {
        self.0.map(Arc::unwrap_or_clone).unwrap_or_default()
    }
}

impl Deref for Context {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Context {}

impl From<Map<String, Value>> for Context {
    fn from(map: Map<String, Value>) -> Self {
        Self((!map.is_empty()).then(|| Arc::new(map)))
    }
}

impl From<Context> for Value {
    fn from(context: Context) -> Self {
        Value::Object(context.into_map())
    }
}

impl FromIterator<(String, Value)> for Context {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Map<String, Value>>())
    }
}

impl Extend<(String, Value)> for Context {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        let mut iter = iter.into_iter().peekable();
        if iter.peek().is_some() {
            self.make_mut().extend(iter);
        }
    }
}

impl IntoIterator for Context {
    type Item = (String, Value);
    type IntoIter = serde_json::map::IntoIter;

    fn into_iter(self) -> Self::IntoIter {
        self.into_map().into_iter()
    }
}

impl<'a> IntoIterator for &'a Context {
    type Item = (&'a String, &'a Value);
    type IntoIter = serde_json::map::Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        (**self).iter()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clones_share_one_map_until_one_is_changed() {
        let mut a = Context::new();
        a.insert("k".into(), json!(1));
        let mut b = a.clone();
        assert!(std::ptr::eq(&*a, &*b));
        b.insert("k".into(), json!(2));
        assert_eq!(a["k"], 1);
        assert_eq!(b["k"], 2);
    }

    #[test]
    fn an_empty_context_holds_no_map_and_equals_any_other_empty_one() {
        assert!(Context::new().0.is_none());
        assert!(Context::from(Map::new()).0.is_none());
        let mut emptied = Context::new();
        emptied.insert("k".into(), json!(1));
        emptied.remove("k");
        assert_eq!(emptied, Context::new());
        assert!(emptied.is_empty() && Context::new().is_empty());
        assert_eq!(serde_json::to_string(&Context::new()).unwrap(), "{}");
    }

    #[test]
    fn extends_and_iterates_like_the_map() {
        let mut ctx = Context::new();
        ctx.extend(std::iter::empty());
        assert!(ctx.0.is_none(), "extending by nothing allocates nothing");
        ctx.extend([("a".to_string(), json!(1)), ("b".to_string(), json!(2))]);
        let pairs: Vec<(String, Value)> = ctx.clone().into_iter().collect();
        assert_eq!(pairs, vec![("a".into(), json!(1)), ("b".into(), json!(2))]);
        assert_eq!((&ctx).into_iter().count(), 2);
    }

    #[test]
    fn serializes_and_compares_as_the_map() {
        let ctx: Context = serde_json::from_str(r#"{"b":1,"a":"x"}"#).unwrap();
        assert_eq!(serde_json::to_string(&ctx).unwrap(), r#"{"b":1,"a":"x"}"#);
        let map = ctx.clone().into_map();
        assert_eq!(Context::from(map), ctx);
        assert_eq!(format!("{ctx:?}"), format!("{:?}", *ctx));
    }
}
