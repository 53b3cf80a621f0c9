//! The registry of collector, storage, detector and alerter types.
//!
//! Backend crates fill it with an explicit call (`detectk_detectors::register(&mut registry)`);
//! nothing registers itself before `main`. A lookup of a type that this build lacks
//! names the crate and `dtk` feature that provide it and lists what is available.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::config::{Params, did_you_mean};
use crate::error::ConfigIssue;
use crate::traits::{Alerter, Collector, Detector, Storage};

mod built;

pub use built::{BuildError, BuildResult, Built};

/// Builds collectors of one or more type names from their params.
pub trait CollectorFactory: Send + Sync {
    /// Builds a collector, reading every param through `params` and ending with
    /// [`Params::conclude`], so that every problem (unknown keys included) comes back
    /// at once. Must not connect: connections are opened lazily on the first query.
    fn build(&self, type_name: &str, params: Params<'_>) -> BuildResult<Arc<dyn Collector>>;
}

/// Builds storages from their params.
pub trait StorageFactory: Send + Sync {
    /// Builds a storage (see [`CollectorFactory::build`]). Must not connect.
    fn build(&self, type_name: &str, params: Params<'_>) -> BuildResult<Arc<dyn Storage>>;
}

/// Builds detectors from their params.
pub trait DetectorFactory: Send + Sync {
    /// Builds a detector (see [`CollectorFactory::build`]).
    fn build(&self, params: Params<'_>) -> BuildResult<Box<dyn Detector>>;
}

/// Builds alerters from their params.
pub trait AlerterFactory: Send + Sync {
    /// Builds an alerter (see [`CollectorFactory::build`]). Must not send anything.
    fn build(&self, params: Params<'_>) -> BuildResult<Arc<dyn Alerter>>;
}

/// A function that reads its params (leaving every problem in them) and returns the
/// detector when it could build one is a detector factory: [`Params::conclude`] ends it.
impl<F> DetectorFactory for F
where
    F: Fn(&mut Params<'_>) -> Option<Box<dyn Detector>> + Send + Sync,
{
    fn build(&self, mut params: Params<'_>) -> BuildResult<Box<dyn Detector>> {
        let built = self(&mut params);
        params.conclude(built)
    }
}

/// A function that reads its params (leaving every problem in them) and returns the
/// alerter when it could build one is an alerter factory: [`Params::conclude`] ends it.
impl<F> AlerterFactory for F
where
    F: Fn(&mut Params<'_>) -> Option<Arc<dyn Alerter>> + Send + Sync,
{
    fn build(&self, mut params: Params<'_>) -> BuildResult<Arc<dyn Alerter>> {
        let built = self(&mut params);
        params.conclude(built)
    }
}

/// The four kinds of pluggable parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Component {
    /// Runs queries.
    Collector,
    /// Keeps datapoints, detections and state.
    Storage,
    /// Scores points.
    Detector,
    /// Delivers messages.
    Alerter,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Collector => "collector",
            Component::Storage => "storage",
            Component::Detector => "detector",
            Component::Alerter => "alerter",
        })
    }
}

/// A type name this registry cannot build but can explain: a backend compiled out of
/// this build (with the crate and feature that provide it), or a Python detectk type
/// that DetectK does not port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnownType {
    /// Which kind of part.
    pub component: Component,
    /// Config `type`.
    pub name: &'static str,
    /// Crate that provides it (`None` for types of Python detectk we do not ship).
    pub crate_name: Option<&'static str>,
    /// `dtk` cargo feature that links it.
    pub feature: Option<&'static str>,
}

/// A failed lookup: the type is unknown, or known but compiled out of this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{component} type `{name}` is {reason}")]
#[non_exhaustive]
pub struct LookupError {
    /// Which kind of part was looked up.
    pub component: Component,
    /// The `type` asked for.
    pub name: String,
    /// "not available in this build" or "unknown".
    pub reason: String,
    /// Hint: the feature to enable, a close name, and what this build has.
    pub hint: String,
}

impl LookupError {
    /// The error as a config issue at `path` (e.g. `collector.type`).
    pub fn to_issue(&self, path: &str) -> ConfigIssue {
        ConfigIssue::new(path, self.to_string()).with_hint(self.hint.clone())
    }
}

/// Type name -> factory maps for the four kinds of parts.
#[derive(Default, Clone)]
pub struct Registry {
    collectors: BTreeMap<String, Arc<dyn CollectorFactory>>,
    storages: BTreeMap<String, Arc<dyn StorageFactory>>,
    detectors: BTreeMap<String, Arc<dyn DetectorFactory>>,
    alerters: BTreeMap<String, Arc<dyn AlerterFactory>>,
    descriptions: BTreeMap<(Component, String), String>,
    absent: BTreeMap<(Component, &'static str), KnownType>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("collectors", &self.collectors.keys().collect::<Vec<_>>())
            .field("storages", &self.storages.keys().collect::<Vec<_>>())
            .field("detectors", &self.detectors.keys().collect::<Vec<_>>())
            .field("alerters", &self.alerters.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry (not even the built-in console alerter).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a collector type (replacing any earlier one of that name).
    pub fn register_collector(
        &mut self,
        name: &str,
        description: &str,
        factory: Arc<dyn CollectorFactory>,
    ) {
        self.collectors.insert(name.to_string(), factory);
        self.descriptions.insert(
            (Component::Collector, name.to_string()),
            description.to_string(),
        );
    }

    /// Registers a storage type.
    pub fn register_storage(
        &mut self,
        name: &str,
        description: &str,
        factory: Arc<dyn StorageFactory>,
    ) {
        self.storages.insert(name.to_string(), factory);
        self.descriptions.insert(
            (Component::Storage, name.to_string()),
            description.to_string(),
        );
    }

    /// Registers a detector type.
    pub fn register_detector(
        &mut self,
        name: &str,
        description: &str,
        factory: Arc<dyn DetectorFactory>,
    ) {
        self.detectors.insert(name.to_string(), factory);
        self.descriptions.insert(
            (Component::Detector, name.to_string()),
            description.to_string(),
        );
    }

    /// Registers an alerter type.
    pub fn register_alerter(
        &mut self,
        name: &str,
        description: &str,
        factory: Arc<dyn AlerterFactory>,
    ) {
        self.alerters.insert(name.to_string(), factory);
        self.descriptions.insert(
            (Component::Alerter, name.to_string()),
            description.to_string(),
        );
    }

    /// Notes a type that this build lacks and the crate and `dtk` feature that provide
    /// it, so a lookup of it (and `dtk list-*`) says how to get it. A binary with
    /// optional backends notes those it was built without.
    pub fn note_compiled_out(
        &mut self,
        component: Component,
        name: &'static str,
        crate_name: &'static str,
        feature: &'static str,
    ) {
        self.absent.insert(
            (component, name),
            KnownType {
                component,
                name,
                crate_name: Some(crate_name),
                feature: Some(feature),
            },
        );
    }

    /// Notes a Python detectk type that DetectK does not port, so a lookup of it says so.
    pub fn note_python_only(&mut self, component: Component, name: &'static str) {
        self.absent.insert(
            (component, name),
            KnownType {
                component,
                name,
                crate_name: None,
                feature: None,
            },
        );
    }

    /// Registered type names of one kind, sorted.
    pub fn names(&self, component: Component) -> Vec<String> {
        match component {
            Component::Collector => self.collectors.keys().cloned().collect(),
            Component::Storage => self.storages.keys().cloned().collect(),
            Component::Detector => self.detectors.keys().cloned().collect(),
            Component::Alerter => self.alerters.keys().cloned().collect(),
        }
    }

    /// The description given at registration.
    pub fn description(&self, component: Component, name: &str) -> Option<&str> {
        self.descriptions
            .get(&(component, name.to_string()))
            .map(String::as_str)
    }

    /// Noted types of one kind that this build lacks, with the feature that provides
    /// each (see [`Registry::note_compiled_out`]), sorted by name.
    pub fn compiled_out(&self, component: Component) -> Vec<KnownType> {
        let have = self.names(component);
        self.absent
            .values()
            .filter(|k| {
                k.component == component
                    && k.crate_name.is_some()
                    && !have.iter().any(|h| h == k.name)
            })
            .copied()
            .collect()
    }

    /// The collector factory for `name`.
    pub fn collector(&self, name: &str) -> Result<Arc<dyn CollectorFactory>, LookupError> {
        self.collectors
            .get(name)
            .cloned()
            .ok_or_else(|| self.lookup_error(Component::Collector, name))
    }

    /// The storage factory for `name`.
    pub fn storage(&self, name: &str) -> Result<Arc<dyn StorageFactory>, LookupError> {
        self.storages
            .get(name)
            .cloned()
            .ok_or_else(|| self.lookup_error(Component::Storage, name))
    }

    /// The detector factory for `name`.
    pub fn detector(&self, name: &str) -> Result<Arc<dyn DetectorFactory>, LookupError> {
        self.detectors
            .get(name)
            .cloned()
            .ok_or_else(|| self.lookup_error(Component::Detector, name))
    }

    /// The alerter factory for `name`.
    pub fn alerter(&self, name: &str) -> Result<Arc<dyn AlerterFactory>, LookupError> {
        self.alerters
            .get(name)
            .cloned()
            .ok_or_else(|| self.lookup_error(Component::Alerter, name))
    }

    /// The error for a failed lookup of `name`.
    pub fn lookup_error(&self, component: Component, name: &str) -> LookupError {
        let have = self.names(component);
        let have_text = if have.is_empty() {
            "none".to_string()
        } else {
            have.join(", ")
        };
        let known = self.absent.get(&(component, name));
        match known {
            Some(KnownType {
                crate_name: Some(krate),
                feature: Some(feature),
                ..
            }) => LookupError {
                component,
                name: name.to_string(),
                reason: "not available in this build".into(),
                hint: format!(
                    "it is provided by the crate `{krate}` (dtk feature `{feature}`); this build has: {have_text}"
                ),
            },
            Some(_) => LookupError {
                component,
                name: name.to_string(),
                reason: "not available in DetectK for Rust".into(),
                hint: format!("it exists only in Python detectk; this build has: {have_text}"),
            },
            None => {
                let mut candidates: Vec<&str> = have.iter().map(String::as_str).collect();
                candidates.extend(
                    self.absent
                        .values()
                        .filter(|k| k.component == component)
                        .map(|k| k.name),
                );
                let close = did_you_mean(name, candidates)
                    .map(|h| format!("{h} "))
                    .unwrap_or_default();
                LookupError {
                    component,
                    name: name.to_string(),
                    reason: "unknown".into(),
                    hint: format!("{close}this build has: {have_text}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_out_type_names_its_feature_and_what_exists() {
        let mut r = Registry::with_builtins();
        r.note_compiled_out(
            Component::Alerter,
            "slack",
            "detectk-alerters-slack",
            "slack",
        );
        let Err(e) = r.alerter("slack") else {
            panic!("lookup should fail")
        };
        assert_eq!(
            e.to_string(),
            "alerter type `slack` is not available in this build"
        );
        assert!(e.hint.contains("detectk-alerters-slack"), "{}", e.hint);
        assert!(e.hint.contains("feature `slack`"), "{}", e.hint);
        assert!(e.hint.contains("console"), "{}", e.hint);
    }

    #[test]
    fn unknown_type_suggests_a_close_name() {
        let r = Registry::with_builtins();
        let Err(e) = r.alerter("consol") else {
            panic!("lookup should fail")
        };
        assert_eq!(e.reason, "unknown");
        assert!(e.hint.starts_with("did you mean `console`?"), "{}", e.hint);
    }

    #[test]
    fn python_only_type_says_so() {
        let r = Registry::with_builtins();
        let Err(e) = r.collector("http") else {
            panic!("lookup should fail")
        };
        assert!(e.to_string().contains("not available in DetectK for Rust"));
    }
}
