//! Turning a [`MetricConfig`] into live parts through the [`Registry`]: this is also
//! the full validation `dtk validate` runs (no connection is opened).

use std::sync::Arc;

use serde_json::Value;

use crate::alert::{AlertSettings, DetectorInfo};
use crate::config::{LOCAL_STATE_FILE, MetricConfig, Params, ParamsReport, STATE_PROFILE};
use crate::error::{ConfigError, ConfigIssue};
use crate::layers::{RetryCollector, RetryStorage};
use crate::registry::{BuildResult, Registry};
use crate::traits::{Alerter, Collector, Detector, Storage};

/// A detector ready to score, with what alerts and storage say about it.
#[derive(Debug)]
#[non_exhaustive]
pub struct PlannedDetector {
    /// ID, type and params.
    pub info: DetectorInfo,
    /// The detector.
    pub detector: Box<dyn Detector>,
}

/// One alerter of a metric: its channel and its own conditions.
#[derive(Debug)]
#[non_exhaustive]
pub struct AlertPlan {
    /// Policy and switches.
    pub settings: AlertSettings,
    /// The channel.
    pub alerter: Arc<dyn Alerter>,
    /// Channel type.
    pub kind: String,
    /// Unique within the metric (`name:`, else the type).
    pub name: String,
    /// Where this alerter's alert state and lease live (see [`AlertJob::state_key`]).
    ///
    /// [`AlertJob::state_key`]: crate::alert::AlertJob::state_key
    pub state_key: String,
    /// For `digest: true`: the channel's identity (its type and params, hashed), so
    /// the alerts of every metric sending to the same channel share one digest.
    pub digest: Option<String>,
}

/// A metric with its collector, storage, detectors and alerter built.
#[derive(Debug)]
pub struct MetricPlan {
    /// The config.
    pub config: MetricConfig,
    /// Runs the query (transient failures are retried: [`RetryCollector`]).
    pub collector: Arc<dyn Collector>,
    /// Keeps everything (transient failures are retried: [`RetryStorage`]).
    pub storage: Arc<dyn Storage>,
    /// The detectors, in config order.
    pub detectors: Vec<PlannedDetector>,
    /// The alerters, in config order (`alerter:` first), each with its conditions.
    pub alerts: Vec<AlertPlan>,
    /// Non-fatal findings from the factories.
    pub warnings: Vec<ConfigIssue>,
}

/// A digest channel's identity: its type and a hash of its params (never the
/// params themselves, which hold secrets).
fn digest_group(kind: &str, params: &serde_json::Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(Value::Object(params.clone()).to_string().as_bytes());
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{hex}")
}

/// A factory's result as the part (if built) and the problems and warnings found.
fn split<T>(result: BuildResult<T>) -> (Option<T>, ParamsReport) {
    match result {
        Ok(built) => (
            Some(built.part),
            ParamsReport {
                issues: Vec::new(),
                warnings: built.warnings,
            },
        ),
        Err(e) => (
            None,
            ParamsReport {
                issues: e.issues,
                warnings: e.warnings,
            },
        ),
    }
}

/// Builds every part of `config`, collecting every problem at once.
pub fn build_plan(registry: &Registry, config: MetricConfig) -> Result<MetricPlan, ConfigError> {
    let mut issues: Vec<ConfigIssue> = Vec::new();
    let mut warnings: Vec<ConfigIssue> = Vec::new();

    let collector = {
        let mut params = Params::new(&config.collector.params.0, "collector.params");
        for key in crate::config::COLLECTOR_CORE_KEYS {
            params.allow(key);
        }
        let (built, report) = match registry.collector(&config.collector.kind) {
            Ok(factory) => split(factory.build(&config.collector.kind, params)),
            Err(e) => {
                // Without the type its params cannot be judged: report the type only.
                issues.push(e.to_issue("collector.type"));
                (None, params.finish_known_only())
            }
        };
        issues.extend(report.issues);
        warnings.extend(report.warnings);
        built
    };

    let storage = {
        let storage_config = &config.storage;
        let path = if storage_config.defaulted {
            "collector.params"
        } else {
            "storage.params"
        };
        let params = Params::new(&storage_config.params.0, path);
        // When storage borrows the collector's params, the collector's factory already
        // judged every key; report only problems, not keys the storage doesn't read.
        let params = if storage_config.defaulted {
            params.known_only()
        } else {
            params
        };
        let (built, report) = match registry.storage(&storage_config.kind) {
            Ok(factory) => split(factory.build(&storage_config.kind, params)),
            // The collector's unknown type was reported already.
            Err(_) if storage_config.defaulted && collector.is_none() => (None, params.finish()),
            Err(e) => {
                let at = if storage_config.defaulted {
                    "collector.type"
                } else {
                    "storage.type"
                };
                let mut issue = e.to_issue(at);
                if storage_config.defaulted {
                    issue.message = format!(
                        "{} (storage defaults to the collector's type)",
                        issue.message
                    );
                    issue.hint = Some(format!(
                        "{}; or add a `storage:` section naming a storage this build has",
                        issue.hint.unwrap_or_default()
                    ));
                }
                issues.push(issue);
                (None, params.finish())
            }
        };
        let known: Vec<ConfigIssue> = issues.clone();
        issues.extend(report.issues.into_iter().filter(|i| !known.contains(i)));
        warnings.extend(
            report
                .warnings
                .into_iter()
                .filter(|w| !warnings.contains(w))
                .collect::<Vec<_>>(),
        );
        built
    };
    let storage = storage
        .and_then(|data| with_alert_state(registry, &config, data, &mut issues, &mut warnings));

    let mut detectors = Vec::new();
    for d in &config.detectors {
        let params = Params::new(&d.params, format!("{}.params", d.path));
        let report = match registry.detector(&d.kind) {
            Ok(factory) => {
                let (built, report) = split(factory.build(params));
                if let Some(detector) = built {
                    // Bounded memory and time arithmetic: the window must fit the limits
                    // at this metric's interval.
                    if let Err(problem) = detector.window().check_limits(&config.schedule.interval)
                    {
                        let at = if d.params.contains_key("window_size") {
                            format!("{}.params.window_size", d.path)
                        } else {
                            format!("{}.params", d.path)
                        };
                        issues.push(
                            ConfigIssue::new(at, problem)
                                .with_hint("use a shorter window, or a longer schedule.interval"),
                        );
                    }
                    detectors.push(PlannedDetector {
                        info: DetectorInfo {
                            id: d.id.clone(),
                            kind: d.kind.clone(),
                            params: Value::Object(d.params.clone()),
                        },
                        detector,
                    });
                }
                report
            }
            Err(e) => {
                issues.push(e.to_issue(&format!("{}.type", d.path)));
                // Without the type its params cannot be judged: report the type only.
                params.finish_known_only()
            }
        };
        issues.extend(report.issues);
        warnings.extend(report.warnings);
    }

    let alerts: Vec<Option<AlertPlan>> = config
        .alerters
        .iter()
        .map(|a| {
            let mut params = Params::new(&a.params.0, format!("{}.params", a.path));
            let mut conditions = Params::new(&a.conditions, format!("{}.conditions", a.path));
            let settings = AlertSettings::parse(a.enabled, &mut params, &mut conditions);
            let (alerter, params_report) = match registry.alerter(&a.kind) {
                Ok(factory) => split(factory.build(params)),
                Err(e) => {
                    issues.push(e.to_issue(&format!("{}.type", a.path)));
                    (None, params.finish_known_only())
                }
            };
            for report in [params_report, conditions.finish()] {
                issues.extend(report.issues);
                warnings.extend(report.warnings);
            }
            Some(AlertPlan {
                settings,
                alerter: alerter?,
                kind: a.kind.clone(),
                name: a.name.clone(),
                state_key: if a.primary {
                    config.name.clone()
                } else {
                    crate::alert::alerter_state_key(&config.name, &a.name)
                },
                digest: a.digest.then(|| digest_group(&a.kind, &a.params.0)),
            })
        })
        .collect();

    if !issues.is_empty() {
        let file = config.file.clone();
        let error = ConfigError { issues };
        return Err(match file {
            Some(f) => error.in_file(f),
            None => error,
        });
    }
    let warnings = match &config.file {
        Some(f) => warnings.into_iter().map(|w| w.in_file(f.clone())).collect(),
        None => warnings,
    };
    // Layers, once for every call site: retries of transient failures.
    let collector = collector.expect("no issues means the collector was built");
    let storage = storage.expect("no issues means the storage was built");
    Ok(MetricPlan {
        collector: Arc::new(RetryCollector::new(collector)),
        storage: Arc::new(RetryStorage::new(storage)),
        detectors,
        alerts: alerts.into_iter().flatten().collect(),
        warnings,
        config,
    })
}

/// The storage alert state goes to: `data` itself, or `data` with alert state in the
/// The warning of a metric whose alert state falls back to the local SQLite file.
fn local_state_warning(config: &MetricConfig) -> ConfigIssue {
    ConfigIssue::new(
        "state",
        format!(
            "storage `{}` cannot claim alerts atomically; alert claims and the alert lease \
             are kept in the local SQLite file {LOCAL_STATE_FILE} in the project root, which \
             prevents duplicate alerts only between runs on this host",
            config.storage.kind
        ),
    )
    .with_hint(format!(
        "when dtk runs on several hosts, add `state:` (type postgres, mysql or sqlite on shared \
         storage) to the metric, or a `{STATE_PROFILE}` profile to the project"
    ))
}

/// `state:` storage; when `data` keeps no alert state (ClickHouse) and no `state:` is
/// configured, a local SQLite file ([`LOCAL_STATE_FILE`]) with a warning, since that
/// prevents duplicates only between runs on one host.
fn with_alert_state(
    registry: &Registry,
    config: &MetricConfig,
    data: Arc<dyn Storage>,
    issues: &mut Vec<ConfigIssue>,
    warnings: &mut Vec<ConfigIssue>,
) -> Option<Arc<dyn Storage>> {
    let configured = config
        .state
        .as_ref()
        .filter(|s| !s.defaulted || !data.keeps_alert_state());
    let (kind, params, path) = match configured {
        Some(state) => {
            if state.defaulted && state.profile.is_none() {
                warnings.push(local_state_warning(config));
            }
            (state.kind.clone(), state.params.0.clone(), "state")
        }
        None if data.keeps_alert_state() => return Some(data),
        None => {
            // A config built without the loader: the local file, relative to the
            // working directory.
            let mut params = serde_json::Map::new();
            params.insert(
                "connection_string".into(),
                Value::String(format!("sqlite:///{LOCAL_STATE_FILE}")),
            );
            warnings.push(local_state_warning(config));
            ("sqlite".to_string(), params, "state")
        }
    };
    let factory = match registry.storage(&kind) {
        Ok(f) => f,
        Err(e) => {
            let mut issue = e.to_issue(&format!("{path}.type"));
            if configured.is_none_or(|s| s.defaulted && s.profile.is_none()) {
                issue.message = format!(
                    "storage `{}` keeps no alert state and this build has no sqlite storage for it: {}",
                    config.storage.kind, issue.message
                );
                issue.hint = Some("add a `state:` section (type postgres or mysql)".into());
            }
            issues.push(issue);
            return None;
        }
    };
    let p = Params::new(&params, format!("{path}.params"));
    let (built, report) = split(factory.build(&kind, p));
    issues.extend(report.issues);
    warnings.extend(report.warnings);
    let state = built?;
    if !state.keeps_alert_state() {
        issues.push(
            ConfigIssue::new(
                format!("{path}.type"),
                format!("`{kind}` cannot keep alert state (it has no compare-and-set)"),
            )
            .with_hint("use postgres, mysql or sqlite for `state:`"),
        );
        return None;
    }
    Some(Arc::new(crate::SplitStorage::new(data, state)))
}

/// Builds a partially parsed config, reporting parse and build problems together,
/// so one `dtk validate` shows every problem of a file.
pub fn build_partial(
    registry: &Registry,
    partial: crate::config::PartialConfig,
) -> Result<MetricPlan, ConfigError> {
    let crate::config::PartialConfig {
        config,
        mut issues,
        warnings,
    } = partial;
    let Some(config) = config else {
        return Err(ConfigError { issues });
    };
    match build_plan(registry, config) {
        Ok(mut plan) if issues.is_empty() => {
            plan.warnings.splice(0..0, warnings);
            Ok(plan)
        }
        Ok(_) => Err(ConfigError { issues }),
        Err(e) => {
            for issue in e.issues {
                if !issues.contains(&issue) {
                    issues.push(issue);
                }
            }
            Err(ConfigError { issues })
        }
    }
}
