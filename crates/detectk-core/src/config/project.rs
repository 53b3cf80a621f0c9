//! Project-level alerting defaults in `detectk_project.yaml`: alerters and conditions
//! every metric inherits, refined by tag, overridden by the metric's own.
//!
//! ```yaml
//! version: 1
//! defaults:
//!   alerters:                       # metrics without alerter:/alerters: get these
//!     - {name: chat, type: slack, params: {webhook_url: "${SLACK_WEBHOOK_URL}"}}
//!   conditions: {cooldown_minutes: 120}   # under every alerter's own conditions
//!   by_tag:                         # in file order, for metrics with the tag
//!     payments:
//!       alerters:
//!         - {name: chat, type: slack, params: {webhook_url: "${SLACK_WEBHOOK_URL}"}}
//!         - {name: pager, type: pagerduty, params: {routing_key: "${PD_KEY}"},
//!            conditions: {severity: critical}}
//!       conditions: {consecutive_anomalies: 2}
//! ```
//!
//! The merge works on the metric's raw config before it is parsed, so an inherited
//! alerter is checked exactly like one written in the metric file. The conditions
//! blocks are checked when the file is read, by a function the caller passes
//! ([`crate::alert::check_conditions`]), so this module does not depend on `alert`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::env::substitute_env;
use crate::config::params::Params;
use crate::config::paths::PROJECT_MARKER;
use crate::error::{ConfigError, ConfigIssue};

/// Checks one `conditions` mapping at a field path; returns its problems.
type CheckConditions<'a> = dyn Fn(&Map<String, Value>, &str) -> Vec<ConfigIssue> + 'a;

/// Alerters and conditions for a group of metrics.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AlertingDefaults {
    /// Alerter blocks (as in a metric's `alerters:`); `None` when not set here.
    pub alerters: Option<Vec<Value>>,
    /// Conditions put under each alerter's own `conditions`.
    pub conditions: Map<String, Value>,
}

/// The alerting defaults of a project.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ProjectDefaults {
    /// `defaults:` for every metric.
    pub all: AlertingDefaults,
    /// `defaults.by_tag`: (tag, defaults) in file order.
    pub by_tag: Vec<(String, AlertingDefaults)>,
    /// The file they were read from.
    pub file: Option<PathBuf>,
    /// `heartbeat_url`: pinged after every `dtk run` of the project (a secret).
    pub heartbeat_url: Option<crate::secret::Secret>,
    /// `on_error`: the channel told when metrics of a run fail and recover.
    pub on_error: Option<OnErrorChannel>,
}

/// The project's `on_error:` block: an alerter spec as in a metric's `alerter:`
/// (`type` and `params`), built by the caller with its registry.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OnErrorChannel {
    /// The alerter type (`slack`, `webhook`, `email`, ...).
    pub kind: String,
    /// Its params, as written (environment variables substituted).
    pub params: Map<String, Value>,
}

/// Reads the `on_error:` block: a mapping with a `type` and optional `params`.
fn on_error_channel(block: Option<Value>, issues: &mut Vec<ConfigIssue>) -> Option<OnErrorChannel> {
    let block = match block? {
        Value::Object(block) => block,
        _ => {
            issues.push(ConfigIssue::new(
                "on_error",
                "expected a mapping with `type` and `params` (as a metric's `alerter:`)",
            ));
            return None;
        }
    };
    let mut reader = Params::new(&block, "on_error");
    let kind: Option<String> = reader.required("type");
    let params: Map<String, Value> = reader.or("params", Map::new());
    issues.extend(reader.finish().issues);
    Some(OnErrorChannel {
        kind: kind?,
        params,
    })
}

impl ProjectDefaults {
    /// Reads `PROJECT_DIR/detectk_project.yaml` (no file: no defaults), checking its
    /// shape and, with `check_conditions`, every `conditions` block; every problem is
    /// reported at once.
    pub fn load(
        project_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
        check_conditions: impl Fn(&Map<String, Value>, &str) -> Vec<ConfigIssue>,
    ) -> Result<Self, ConfigError> {
        let file = project_dir.join(PROJECT_MARKER);
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::parse(&text, &file, env, check_conditions),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ConfigError::single(
                ConfigIssue::new("", format!("cannot read the file: {e}")).in_file(&file),
            )),
        }
    }

    /// Parses the project file's text; see [`ProjectDefaults::load`].
    pub fn parse(
        text: &str,
        file: &Path,
        env: impl Fn(&str) -> Option<String>,
        check_conditions: impl Fn(&Map<String, Value>, &str) -> Vec<ConfigIssue>,
    ) -> Result<Self, ConfigError> {
        let check = &check_conditions;
        let (text, missing) = substitute_env(text, env);
        let mut issues: Vec<ConfigIssue> = missing
            .iter()
            .map(|name| ConfigIssue::new("", format!("environment variable `{name}` is not set")))
            .collect();
        let doc = match crate::yaml::parse(&text) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                issues.push(ConfigIssue::new(
                    "",
                    "expected a mapping (`version`, `defaults`)",
                ));
                Map::new()
            }
            Err(e) => {
                issues.push(ConfigIssue::new("", e.to_string()));
                Map::new()
            }
        };
        let mut top = Params::new(&doc, "");
        let _version: Option<u64> = top.optional("version");
        let heartbeat_url: Option<String> = top.optional("heartbeat_url");
        if let Some(url) = &heartbeat_url
            && let Err(e) = crate::config::check_heartbeat_url(url)
        {
            issues.push(ConfigIssue::new("heartbeat_url", e));
        }
        let on_error = on_error_channel(top.optional("on_error"), &mut issues);
        let defaults: Map<String, Value> = top.or("defaults", Map::new());
        issues.extend(top.finish().issues);
        let mut reader = Params::new(&defaults, "defaults");
        let all = group(&mut reader, &mut issues, check);
        let tags: Map<String, Value> = reader.or("by_tag", Map::new());
        issues.extend(reader.finish().issues);
        let mut by_tag = Vec::new();
        for (tag, block) in &tags {
            let path = format!("defaults.by_tag.{tag}");
            let Value::Object(block) = block else {
                issues.push(ConfigIssue::new(
                    path,
                    "expected a mapping with `alerters`, `conditions`",
                ));
                continue;
            };
            let mut reader = Params::new(block, path);
            let defaults = group(&mut reader, &mut issues, check);
            issues.extend(reader.finish().issues);
            by_tag.push((tag.clone(), defaults));
        }
        if !issues.is_empty() {
            return Err(ConfigError { issues }.in_file(file.to_path_buf()));
        }
        Ok(Self {
            all,
            by_tag,
            file: Some(file.to_path_buf()),
            heartbeat_url: heartbeat_url.map(crate::secret::Secret::new),
            on_error,
        })
    }

    /// Whether the project sets any alerting default.
    pub fn is_empty(&self) -> bool {
        self.all == AlertingDefaults::default() && self.by_tag.is_empty()
    }

    /// Merges the defaults into a metric's raw config: without `alerter:` and
    /// `alerters:` of its own it gets the inherited alerters (`by_tag` entries of its
    /// tags replace those of `defaults`, later tags win); every alerter's
    /// `conditions` get the inherited conditions under its own.
    pub fn apply(&self, metric: &mut Map<String, Value>) {
        if self.is_empty() {
            return;
        }
        let tags: Vec<String> = match metric.get("tags") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let mut alerters = self.all.alerters.clone();
        let mut conditions = self.all.conditions.clone();
        for (tag, defaults) in &self.by_tag {
            if tags.contains(tag) {
                if let Some(a) = &defaults.alerters {
                    alerters = Some(a.clone());
                }
                conditions.extend(defaults.conditions.clone());
            }
        }
        let own = metric.contains_key("alerter") || metric.contains_key("alerters");
        if !own && let Some(list) = alerters {
            metric.insert("alerters".into(), Value::Array(list));
        }
        if conditions.is_empty() {
            return;
        }
        if let Some(Value::Object(block)) = metric.get_mut("alerter") {
            inherit(block, &conditions);
        }
        if let Some(Value::Array(list)) = metric.get_mut("alerters") {
            for block in list.iter_mut().filter_map(Value::as_object_mut) {
                inherit(block, &conditions);
            }
        }
    }
}

/// Puts `inherited` under the alerter's own conditions (its own keys win).
fn inherit(block: &mut Map<String, Value>, inherited: &Map<String, Value>) {
    let cooldown_in_params = block
        .get("params")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key("cooldown_minutes"));
    let mut merged = inherited.clone();
    if cooldown_in_params {
        merged.remove("cooldown_minutes");
    }
    if let Some(Value::Object(own)) = block.get("conditions") {
        merged.extend(own.clone());
    }
    block.insert("conditions".into(), Value::Object(merged));
}

/// Reads `alerters` and `conditions` of one group; checks their shape and the
/// conditions themselves (the channel params are checked per metric).
fn group(
    reader: &mut Params<'_>,
    issues: &mut Vec<ConfigIssue>,
    check: &CheckConditions<'_>,
) -> AlertingDefaults {
    let alerters = match reader.optional::<Value>("alerters") {
        None => None,
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_alerter(
                    item,
                    &reader.path_of(&format!("alerters[{i}]")),
                    issues,
                    check,
                );
            }
            Some(items)
        }
        Some(_) => {
            reader.error("alerters", "expected a list of alerters");
            None
        }
    };
    let conditions: Map<String, Value> = reader.or("conditions", Map::new());
    issues.extend(check(&conditions, &reader.path_of("conditions")));
    AlertingDefaults {
        alerters,
        conditions,
    }
}

fn check_alerter(
    item: &Value,
    path: &str,
    issues: &mut Vec<ConfigIssue>,
    check: &CheckConditions<'_>,
) {
    let Value::Object(block) = item else {
        issues.push(ConfigIssue::new(
            path,
            "expected a mapping with `type`, `params`, `conditions`",
        ));
        return;
    };
    let mut a = Params::new(block, path);
    let _kind: Option<String> = a.required("type");
    let _name: Option<String> = a.optional("name");
    let _enabled: Option<bool> = a.optional("enabled");
    let _digest: Option<bool> = a.optional("digest");
    let _params: Option<Map<String, Value>> = a.optional("params");
    let conditions: Map<String, Value> = a.or("conditions", Map::new());
    issues.extend(a.finish().issues);
    issues.extend(check(&conditions, &format!("{path}.conditions")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<ProjectDefaults, Vec<String>> {
        ProjectDefaults::parse(
            text,
            Path::new("detectk_project.yaml"),
            |k| (k == "HOOK").then(|| "https://h.example/x".to_string()),
            crate::alert::check_conditions,
        )
        .map_err(|e| e.issues.iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn the_reference_project_file_parses() {
        let text = include_str!("../../../../docs/reference-project.yaml");
        let project = ProjectDefaults::parse(
            text,
            Path::new("docs/reference-project.yaml"),
            |_| Some("x".to_string()),
            crate::alert::check_conditions,
        )
        .unwrap();
        let on_error = project.on_error.unwrap();
        assert_eq!(on_error.kind, "webhook");
        assert_eq!(on_error.params["max_retries"], json!(2));
        assert!(project.heartbeat_url.is_some());
        assert_eq!(project.by_tag.len(), 1);
    }

    #[test]
    fn a_bad_on_error_block_names_the_field() {
        let issues = parse("on_error: {params: {url: x}, colour: red}\n").unwrap_err();
        assert!(
            issues.iter().any(|i| i.contains("on_error.type")),
            "{issues:?}"
        );
        assert!(
            issues.iter().any(|i| i.contains("on_error.colour")),
            "{issues:?}"
        );
        let issues = parse("on_error: slack\n").unwrap_err();
        assert!(issues[0].contains("on_error"), "{issues:?}");
    }

    const PROJECT: &str = "version: 1\ndefaults:\n  alerters:\n    - {name: chat, type: slack, params: {webhook_url: \"${HOOK}\"}}\n  conditions: {cooldown_minutes: 120, notify_recovery: true}\n  by_tag:\n    payments:\n      alerters:\n        - {name: pager, type: pagerduty, params: {routing_key: k}, conditions: {severity: critical}}\n      conditions: {cooldown_minutes: 30}\n";

    #[test]
    fn metrics_inherit_alerters_and_conditions_by_tag() {
        let project = parse(PROJECT).unwrap();
        let mut plain = json!({"name": "a"}).as_object().cloned().unwrap();
        project.apply(&mut plain);
        assert_eq!(
            plain["alerters"],
            json!([{"name": "chat", "type": "slack", "params": {"webhook_url": "https://h.example/x"},
                    "conditions": {"cooldown_minutes": 120, "notify_recovery": true}}])
        );
        let mut tagged = json!({"name": "b", "tags": ["payments"]})
            .as_object()
            .cloned()
            .unwrap();
        project.apply(&mut tagged);
        assert_eq!(
            tagged["alerters"][0]["conditions"],
            json!({"cooldown_minutes": 30, "notify_recovery": true, "severity": "critical"})
        );
        let mut own = json!({"name": "c", "alerter": {"type": "console",
            "params": {"cooldown_minutes": 5}, "conditions": {"notify_recovery": false}}})
        .as_object()
        .cloned()
        .unwrap();
        project.apply(&mut own);
        assert!(
            own.get("alerters").is_none(),
            "its own alerter replaces the defaults"
        );
        assert_eq!(
            own["alerter"]["conditions"],
            json!({"notify_recovery": false}),
            "own keys win; cooldown_minutes stays in params"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let issues = parse(
            "version: 1\ndefault: {}\ndefaults:\n  alerters:\n    - {params: {}}\n    - 3\n  conditions: {severity: high, cooldown: 5}\n  by_tag:\n    x: []\n",
        )
        .unwrap_err();
        assert_eq!(
            issues,
            [
                "detectk_project.yaml: default: unknown key",
                "detectk_project.yaml: defaults.alerters[0].type: is required",
                "detectk_project.yaml: defaults.alerters[1]: expected a mapping with `type`, `params`, `conditions`",
                "detectk_project.yaml: defaults.conditions.severity: unknown severity \"high\"; expected one of: info, warning, critical",
                "detectk_project.yaml: defaults.conditions.cooldown: unknown key",
                "detectk_project.yaml: defaults.by_tag.x: expected a mapping with `alerters`, `conditions`",
            ]
        );
    }

    #[test]
    fn a_marker_without_defaults_changes_nothing() {
        let project = parse("# marker\nversion: 1\n").unwrap();
        assert!(project.is_empty());
        let mut m = json!({"name": "a", "alerter": {"type": "console"}})
            .as_object()
            .cloned()
            .unwrap();
        let before = m.clone();
        project.apply(&mut m);
        assert_eq!(m, before);
    }
}
