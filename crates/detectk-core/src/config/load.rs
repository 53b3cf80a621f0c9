//! Reading one metric config file into a [`MetricConfig`], reporting every problem at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::config::alignment::{Aggregation, TimestampAlignment};
use crate::config::env::substitute_env;
use crate::config::model::{
    AlerterConfig, CollectorConfig, DetectorConfig, MetricConfig, ParamMap, ScheduleConfig,
    StorageConfig,
};
use crate::config::params::{Params, ParamsReport, did_you_mean};
use crate::config::paths::{anchor, anchor_sqlite_params, base_dir_of};
use crate::config::profiles::Profiles;
use crate::config::project::ProjectDefaults;
use crate::config::template::{check_query, render_config_strings};
use crate::detector_id::detector_id;
use crate::duration::HumanDuration;
use crate::error::{ConfigError, ConfigIssue};

/// Keys of `collector` (or `collector.params`) that the core reads itself.
pub const COLLECTOR_CORE_KEYS: &[&str] = &[
    "query",
    "timestamp_column",
    "value_column",
    "context_columns",
    "timestamp_alignment",
    "aggregation",
];

/// Longest metric `name` (bytes): the narrowest storage column is MySQL's `VARCHAR(255)`,
/// and the name is also part of alert keys and lock names, so 200 leaves room.
pub const MAX_METRIC_NAME_LEN: usize = 200;

/// Longest alerter `name` (with the metric name it forms the alert state key).
pub const MAX_ALERTER_NAME_LEN: usize = 50;

/// Longest detector `id` (bytes): MySQL keeps it in a `VARCHAR(128)` key column.
pub const MAX_DETECTOR_ID_LEN: usize = 128;

/// Longest `schedule.interval`: 365 days.
pub const MAX_INTERVAL_SECONDS: i64 = 365 * 86_400;

/// Longest `schedule.delay`: 365 days.
pub const MAX_DELAY_SECONDS: i64 = 365 * 86_400;

/// Largest `schedule.batch_load_days`: 10 years per batch.
pub const MAX_BATCH_LOAD_DAYS: u32 = 3_650;

/// Largest `storage.retention_days`: 100 years.
pub const MAX_DAYS: u32 = 36_500;

/// Where DetectK keeps a metric's state when its config says `storage: {enabled: false}`.
pub const LOCAL_STATE_FILE: &str = "detectk_state.db";

/// The SQLite file of a `type: sqlite` storage that names no file, in the project root.
pub const DEFAULT_SQLITE_STORAGE: &str = "detectk.db";

/// A profile with this name, when the project defines one, is the `state:` of every
/// metric whose storage keeps no alert state of its own (ClickHouse).
pub const STATE_PROFILE: &str = "detectk_state";

/// Environment lookup used for `${VAR}` substitution.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What loading needs besides the file.
#[derive(Clone)]
pub struct LoadOptions {
    /// Value of `execution_time` in config templates.
    pub execution_time: DateTime<Utc>,
    /// Connection profiles.
    pub profiles: Profiles,
    /// Environment for `${VAR}` (the process environment by default).
    pub env: EnvLookup,
    /// The project root: where files that no config names live (the SQLite state file
    /// of `storage: {enabled: false}`, a SQLite storage's default `detectk.db`). `None`:
    /// the directory of the metric config.
    pub project_dir: Option<PathBuf>,
    /// Alerting defaults of `detectk_project.yaml`, merged into every config.
    pub defaults: Arc<ProjectDefaults>,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("execution_time", &self.execution_time)
            .field("profiles", &self.profiles.names())
            .field("project_dir", &self.project_dir)
            .finish_non_exhaustive()
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            execution_time: Utc::now(),
            profiles: Profiles::empty(),
            env: Arc::new(|k| std::env::var(k).ok()),
            project_dir: None,
            defaults: Arc::new(ProjectDefaults::default()),
        }
    }
}

/// A parsed config and the warnings found on the way.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The config.
    pub config: MetricConfig,
    /// Non-fatal findings (ignored Python keys, ...), each with file and path.
    pub warnings: Vec<ConfigIssue>,
}

/// Reads and parses one metric config file.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::single(ConfigIssue::new("", format!("cannot read file: {e}")).in_file(path))
    })?;
    parse_config(&text, Some(path), options)
}

/// Parses a metric config from text. `file` is used in messages and kept in the config.
///
/// ```
/// use detectk_core::config::{parse_config, LoadOptions};
/// let yaml = r#"
/// name: sessions
/// collector:
///   type: sqlite
///   params:
///     connection_string: "sqlite:///metrics.db"
///     query: "SELECT ts AS period_time, n AS value FROM t WHERE ts >= '{{ period_start }}'"
/// detector: {type: mad, params: {window_size: 30 days, n_sigma: 3}}
/// "#;
/// let loaded = parse_config(yaml, None, &LoadOptions::default()).unwrap();
/// assert_eq!(loaded.config.detectors[0].id, "a2b640f6");
///
/// let bad = parse_config("name: x\ncolector: {}\n", None, &LoadOptions::default()).unwrap_err();
/// assert!(bad.to_string().contains("did you mean") || bad.issues.iter().any(|i| i.hint.as_deref() == Some("did you mean `collector`?")));
/// ```
pub fn parse_config(
    text: &str,
    file: Option<&Path>,
    options: &LoadOptions,
) -> Result<LoadedConfig, ConfigError> {
    let partial = parse_config_partial(text, file, options);
    match partial.config {
        Some(config) if partial.issues.is_empty() => Ok(LoadedConfig {
            config,
            warnings: partial.warnings,
        }),
        _ => Err(ConfigError {
            issues: partial.issues,
        }),
    }
}

/// A config parsed as far as possible, with every problem found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PartialConfig {
    /// The config, when its required parts could be read (even with other problems),
    /// so that building it can report more problems at once.
    pub config: Option<MetricConfig>,
    /// Problems, each with file and field path.
    pub issues: Vec<ConfigIssue>,
    /// Non-fatal findings.
    pub warnings: Vec<ConfigIssue>,
}

/// Parses as much of a config as possible; see [`PartialConfig`].
pub fn parse_config_partial(
    text: &str,
    file: Option<&Path>,
    options: &LoadOptions,
) -> PartialConfig {
    let attach = |issues: Vec<ConfigIssue>| -> Vec<ConfigIssue> {
        issues.into_iter().map(|i| in_file(i, file)).collect()
    };
    let failed = |issues: Vec<ConfigIssue>| PartialConfig {
        config: None,
        issues: attach(issues),
        warnings: Vec::new(),
    };
    let env = options.env.clone();
    // Unset variables are reported, and the rest of the file is still checked.
    let (text, missing) = substitute_env(text, |k| env(k));
    let mut issues: Vec<ConfigIssue> = missing
        .iter()
        .map(|name| {
            ConfigIssue::new("", format!("environment variable `{name}` is not set")).with_hint(
                format!("export {name}=..., or write ${{{name}:-default}} in the config"),
            )
        })
        .collect();
    let (mut doc, duplicates) = match crate::yaml::parse_document(&text) {
        Ok(doc) => (doc.value, doc.duplicates),
        Err(e) => {
            issues.push(ConfigIssue::new("", e.to_string()));
            return failed(issues);
        }
    };
    let duplicate_warnings: Vec<ConfigIssue> = duplicates
        .iter()
        .map(|d| {
            ConfigIssue::new(d.path.clone(), d.message())
                .with_hint("remove the line you do not mean; PyYAML also keeps the last value")
        })
        .collect();
    let Value::Object(_) = doc else {
        issues.push(ConfigIssue::new(
            "",
            "expected a mapping with `name`, `collector`, `detector`, ...",
        ));
        return failed(issues);
    };
    render_config_strings(&mut doc, "", &options.execution_time, &mut issues);
    // Checked to be a mapping above; rendering replaces strings only.
    let mut map = match doc {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    options.defaults.apply(&mut map);
    let base = file.and_then(base_dir_of);
    let project_dir = options
        .project_dir
        .as_deref()
        .and_then(|d| std::path::absolute(d).ok())
        .or_else(|| base.clone());
    let mut parser = Parser {
        options,
        issues,
        warnings: duplicate_warnings,
        base,
        project_dir,
    };
    let config = parser.metric(&map, file);
    PartialConfig {
        config,
        issues: attach(parser.issues),
        warnings: attach(parser.warnings),
    }
}

/// Reads a file and parses as much of it as possible; see [`PartialConfig`].
pub fn load_file_partial(path: &Path, options: &LoadOptions) -> PartialConfig {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_config_partial(&text, Some(path), options),
        Err(e) => PartialConfig {
            config: None,
            issues: vec![ConfigIssue::new("", format!("cannot read file: {e}")).in_file(path)],
            warnings: Vec::new(),
        },
    }
}

/// Checks a `heartbeat_url` without echoing it (it is a secret): an `http://` or
/// `https://` URL with a host and no spaces.
pub fn check_heartbeat_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "must start with http:// or https://".to_string())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host".into());
    }
    if url.chars().any(char::is_whitespace) {
        return Err("contains whitespace".into());
    }
    Ok(())
}

fn in_file(issue: ConfigIssue, file: Option<&Path>) -> ConfigIssue {
    match file {
        Some(f) => issue.in_file(f),
        None => issue,
    }
}

struct Parser<'o> {
    options: &'o LoadOptions,
    issues: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
    /// Absolute directory of the config file: relative locations it names resolve here.
    base: Option<PathBuf>,
    /// Absolute project root: files no config names (defaults) live here.
    project_dir: Option<PathBuf>,
}

impl Parser<'_> {
    fn absorb(&mut self, report: ParamsReport) {
        self.issues.extend(report.issues);
        self.warnings.extend(report.warnings);
    }

    fn issue(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(ConfigIssue::new(path, message));
    }

    fn metric(&mut self, map: &Map<String, Value>, file: Option<&Path>) -> Option<MetricConfig> {
        let mut top = Params::new(map, "");
        let name: Option<String> = top.required("name");
        if let Some(n) = &name
            && !valid_name(n)
        {
            top.error(
                "name",
                format!("{n:?} may only contain letters, digits, `_` and `-`"),
            );
        }
        if let Some(n) = &name
            && n.len() > MAX_METRIC_NAME_LEN
        {
            top.error_with_hint(
                "name",
                format!(
                    "is {} characters long; at most {MAX_METRIC_NAME_LEN} are allowed",
                    n.len()
                ),
                "storages keep the name in a VARCHAR(255) key column; use a shorter name and put details in `description`",
            );
        }
        let description: Option<String> = top.optional("description");
        let tags: Vec<String> = top.or("tags", Vec::new());
        let metadata: Map<String, Value> = top.or("metadata", Map::new());
        let heartbeat_url: Option<String> = top.optional("heartbeat_url");
        if let Some(url) = &heartbeat_url
            && let Err(problem) = check_heartbeat_url(url)
        {
            top.error_with_hint(
                "heartbeat_url",
                problem,
                "give the full ping URL, e.g. https://hc-ping.com/<uuid> (dtk appends /fail on failure)",
            );
        }
        let collector_map: Option<Map<String, Value>> = top.required("collector");
        let storage_map: Option<Map<String, Value>> = top.optional("storage");
        let state_map: Option<Map<String, Value>> = top.optional("state");
        let alerter_map: Option<Map<String, Value>> = top.optional("alerter");
        let alerters_value: Option<Value> = top.optional("alerters");
        let schedule_map: Map<String, Value> = top.or("schedule", Map::new());
        let detector_value = top.raw("detector").cloned();
        let detectors_value = top.raw("detectors").cloned();
        top.ignore_with_warning(
            "backtest",
            "DetectK for Rust backtests with `dtk backfill` (detection on, alerts off); the `backtest` section is not read",
        );
        let report = top.finish();
        self.absorb(report);

        let collector = collector_map.and_then(|m| self.collector(&m));
        let timezone = collector.as_ref().map(|c| c.timezone).unwrap_or(Tz::UTC);
        let storage = self.storage(storage_map.as_ref(), collector.as_ref());
        let state = self.state(state_map.as_ref());
        let detectors = self.detectors(detector_value, detectors_value);
        let alerters_list = match alerters_value {
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.issue("alerters", "expected a list of alerters");
                Vec::new()
            }
            None => Vec::new(),
        };
        let alerters = self.alerters(alerter_map.as_ref(), &alerters_list);
        let schedule = self.schedule(&schedule_map, timezone);

        Some(MetricConfig {
            name: name?,
            description,
            tags,
            collector: collector?,
            storage: storage?,
            state,
            detectors,
            alerters,
            schedule: schedule?,
            metadata,
            heartbeat_url: heartbeat_url.map(crate::secret::Secret::new),
            file: file.map(Path::to_path_buf),
        })
    }

    fn collector(&mut self, map: &Map<String, Value>) -> Option<CollectorConfig> {
        let mut c = Params::new(map, "collector");
        let mut kind: Option<String> = c.optional("type");
        let profile: Option<String> = c.optional("profile");
        let params: Map<String, Value> = c.or("params", Map::new());
        let top_ts: Option<String> = c.optional("timestamp_column");
        let top_value: Option<String> = c.optional("value_column");
        let top_context: Option<Vec<String>> = c.optional("context_columns");
        let tz_name: Option<String> = c.optional("timezone");
        let top_alignment: Option<String> = c.optional("timestamp_alignment");
        let top_aggregation: Option<String> = c.optional("aggregation");
        let query_at_top: Option<String> = c.optional("query");
        let report = c.finish();
        self.absorb(report);

        let timezone = match tz_name {
            Some(name) => match name.parse::<Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    self.issues.push(
                        ConfigIssue::new(
                            "collector.timezone",
                            format!("unknown time zone {name:?}"),
                        )
                        .with_hint("use an IANA name such as `UTC` or `Europe/Berlin`"),
                    );
                    Tz::UTC
                }
            },
            None => Tz::UTC,
        };

        let mut p = Params::new(&params, "collector.params");
        let query: Option<String> = match query_at_top {
            Some(q) => {
                p.check(!p.map().contains_key("query"), "query", || {
                    "is also set at `collector.query`; keep one".into()
                });
                Some(q)
            }
            // A missing query is reported; a placeholder lets the rest of the config be
            // built, so problems such as an unavailable collector type show up too.
            None if python_only_collector(kind.as_deref()) => Some(String::new()),
            None => Some(p.required("query").unwrap_or_default()),
        };
        let column =
            |p: &mut Params<'_>, key: &str, top: Option<String>, default: &str| -> String {
                let inner: Option<String> = p.optional(key);
                match (top, inner) {
                    (Some(a), Some(b)) if a != b => {
                        p.error(
                            key,
                            format!("is {b:?} but collector.{key} is {a:?}; set it in one place"),
                        );
                        a
                    }
                    (Some(a), _) | (None, Some(a)) => a,
                    (None, None) => default.to_string(),
                }
            };
        let timestamp_column = column(&mut p, "timestamp_column", top_ts, "period_time");
        let value_column = column(&mut p, "value_column", top_value, "value");
        let alignment = column(&mut p, "timestamp_alignment", top_alignment, "floor");
        let aggregation = column(&mut p, "aggregation", top_aggregation, "mean");
        for (key, value, choices) in [
            (
                "timestamp_alignment",
                &alignment,
                TimestampAlignment::CHOICES,
            ),
            ("aggregation", &aggregation, Aggregation::CHOICES),
        ] {
            if !choices.contains(&value.as_str()) {
                let mut issue = ConfigIssue::new(
                    format!("collector.{key}"),
                    format!(
                        "unknown value {value:?}; expected one of: {}",
                        choices.join(", ")
                    ),
                );
                if let Some(h) = did_you_mean(value, choices.iter().copied()) {
                    issue = issue.with_hint(h);
                }
                self.issues.push(issue);
            }
        }
        let inner_context: Option<Vec<String>> = p.optional("context_columns");
        let context_columns = top_context.or(inner_context).unwrap_or_default();
        // Connection keys are checked by the collector's factory when the metric is built.
        let report = p.finish_known_only();
        self.absorb(report);

        if let Some(q) = &query
            && let Err(e) = check_query(q)
        {
            self.issues.push(
                ConfigIssue::new("collector.params.query", format!("template error: {e}"))
                    .with_hint("the query may use {{ period_start }}, {{ period_finish }}, {{ interval }}, {{ interval_seconds }}, {{ metric_name }}, {{ execution_time }}"),
            );
        }

        let mut connection: Map<String, Value> = params
            .into_iter()
            .filter(|(k, _)| !COLLECTOR_CORE_KEYS.contains(&k.as_str()))
            .collect();
        let mut profile_failed = false;
        if let Some(name) = &profile {
            match self.profile(name, "collector.profile", kind.as_deref()) {
                Some(from_profile) => merge_profile(&mut kind, &mut connection, from_profile),
                None => profile_failed = true,
            }
        }
        // Profile values are already anchored to the profiles file (absolute locations
        // are left alone); the rest were named by this config.
        self.anchor_to_config(kind.as_deref(), &mut connection);
        // A missing type is implied by a profile that could not be read (already reported).
        if kind.is_none() && !profile_failed {
            self.issues.push(
                ConfigIssue::new("collector.type", "is required")
                    .with_hint("set `type:` (clickhouse, postgres, mysql, sqlite, sql) or a `profile:` that has one"),
            );
        }
        Some(CollectorConfig {
            kind: kind?,
            profile,
            query: query?,
            timestamp_column,
            value_column,
            context_columns,
            timezone,
            timestamp_alignment: TimestampAlignment::parse(&alignment),
            aggregation: Aggregation::parse(&aggregation),
            params: ParamMap(connection),
        })
    }

    /// Makes relative SQLite locations in `params` (named by this config) absolute
    /// against the config's directory.
    fn anchor_to_config(&self, kind: Option<&str>, params: &mut Map<String, Value>) {
        if let Some(base) = &self.base {
            anchor_sqlite_params(kind, params, base);
        }
    }

    /// A file location that no config names (`name`), in the project root.
    fn default_location(&self, name: &str) -> String {
        match &self.project_dir {
            Some(dir) => anchor(name, dir),
            None => name.to_string(),
        }
    }

    /// The params of profile `name`, with `${VAR}` substituted and relative SQLite
    /// locations anchored to the profiles file. `kind` is the type the config sets.
    fn profile(
        &mut self,
        name: &str,
        path: &str,
        kind: Option<&str>,
    ) -> Option<Map<String, Value>> {
        let profiles = &self.options.profiles;
        let Some(profile) = profiles.get(name) else {
            let mut hint = did_you_mean(name, profiles.names()).unwrap_or_default();
            if !hint.is_empty() {
                hint.push(' ');
            }
            if profiles.names().is_empty() {
                let root = match &self.options.project_dir {
                    Some(dir) => dir.join("detectk_profiles.yaml").display().to_string(),
                    None => "detectk_profiles.yaml in the project root".to_string(),
                };
                hint.push_str(&format!("no profiles are defined: create {root} or ~/.detectk/profiles.yaml (or pass --project-dir)"));
            } else {
                hint.push_str(&format!(
                    "defined profiles: {}",
                    profiles.names().join(", ")
                ));
            }
            self.issues
                .push(ConfigIssue::new(path, format!("unknown profile `{name}`")).with_hint(hint));
            return None;
        };
        let env = self.options.env.clone();
        match profile.resolve(&|k| env(k)) {
            Ok(mut params) => {
                let profile_kind = params
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(base) = base_dir_of(&profile.file) {
                    anchor_sqlite_params(kind.or(profile_kind.as_deref()), &mut params, &base);
                }
                Some(params)
            }
            Err(missing) => {
                for var in missing {
                    self.issues.push(ConfigIssue::new(
                        path,
                        format!("profile `{name}` ({}) needs environment variable `{var}`, which is not set", profile.file.display()),
                    ));
                }
                None
            }
        }
    }

    fn storage(
        &mut self,
        map: Option<&Map<String, Value>>,
        collector: Option<&CollectorConfig>,
    ) -> Option<StorageConfig> {
        let Some(map) = map else {
            let c = collector?;
            return Some(StorageConfig {
                kind: c.kind.clone(),
                profile: c.profile.clone(),
                params: c.params.clone(),
                retention_days: None,
                defaulted: true,
            });
        };
        let mut s = Params::new(map, "storage");
        let enabled: bool = s.or("enabled", true);
        let mut kind: Option<String> = s.optional("type");
        let profile: Option<String> = s.optional("profile");
        let params: Map<String, Value> = s.or("params", Map::new());
        let retention_days: Option<u32> = s.optional("retention_days");
        s.check(retention_days != Some(0), "retention_days", || {
            "must be at least 1".into()
        });
        if let Some(days) = retention_days {
            s.check(days <= MAX_DAYS, "retention_days", || {
                format!("is {days}; at most {MAX_DAYS} days (100 years) are allowed")
            });
        }
        if !enabled {
            // Python detectk ran without storage; DetectK needs history, checkpoints and
            // alert state, so it keeps them in a local SQLite file instead of a database.
            s.warn(
                "enabled",
                format!(
                    "storage is never disabled: DetectK keeps its state in the local SQLite file {LOCAL_STATE_FILE} instead"
                ),
            );
            let report = s.finish();
            self.absorb(report);
            let mut params = Map::new();
            params.insert(
                "path".into(),
                Value::String(self.default_location(LOCAL_STATE_FILE)),
            );
            return Some(StorageConfig {
                kind: "sqlite".into(),
                profile: None,
                params: ParamMap(params),
                retention_days,
                defaulted: false,
            });
        }
        let report = s.finish();
        self.absorb(report);

        let mut connection = params.clone();
        let mut p = Params::new(&params, "storage.params");
        let legacy_retention: Option<u32> = p.optional("datapoints_retention_days");
        if let Some(days) = legacy_retention {
            p.check(
                (1..=MAX_DAYS).contains(&days),
                "datapoints_retention_days",
                || format!("is {days}; expected 1 to {MAX_DAYS} days"),
            );
        }
        p.ignore_with_warning("save_detections", "detections are always stored");
        p.ignore_with_warning(
            "detections_retention_days",
            "detections follow `storage.retention_days`",
        );
        let report = p.finish_known_only();
        self.absorb(report);
        for key in [
            "datapoints_retention_days",
            "save_detections",
            "detections_retention_days",
        ] {
            connection.remove(key);
        }
        if let Some(name) = &profile
            && let Some(from_profile) = self.profile(name, "storage.profile", kind.as_deref())
        {
            merge_profile(&mut kind, &mut connection, from_profile);
        }
        let collector_kind = collector.map(|c| c.kind.clone());
        let kind = kind.or(collector_kind.clone());
        self.anchor_to_config(kind.as_deref(), &mut connection);
        if connection.is_empty()
            && profile.is_none()
            && let Some(c) = collector
            && Some(&c.kind) == kind.as_ref()
        {
            connection = c.params.0.clone();
        }
        // A SQLite storage that names no file keeps its tables in the project root's
        // `detectk.db`, not in the working directory (unless DATABASE_URL names one).
        let env = self.options.env.clone();
        let sqlite_url_in_env = env("DATABASE_URL").is_some_and(|u| u.starts_with("sqlite"));
        if kind.as_deref() == Some("sqlite")
            && !["path", "database", "connection_string"]
                .iter()
                .any(|k| connection.contains_key(*k))
            && !sqlite_url_in_env
        {
            connection.insert(
                "path".into(),
                Value::String(self.default_location(DEFAULT_SQLITE_STORAGE)),
            );
        }
        Some(StorageConfig {
            kind: kind?,
            profile,
            params: ParamMap(connection),
            retention_days: retention_days.or(legacy_retention),
            defaulted: false,
        })
    }

    /// `state:`, or the project's profile named [`STATE_PROFILE`] (marked `defaulted`).
    fn state(&mut self, map: Option<&Map<String, Value>>) -> Option<StorageConfig> {
        let Some(map) = map else {
            if self.options.profiles.get(STATE_PROFILE).is_none() {
                // The last resort for a storage that keeps no alert state (ClickHouse): a
                // SQLite file in the project root, never in the working directory.
                let mut params = Map::new();
                params.insert(
                    "path".into(),
                    Value::String(self.default_location(LOCAL_STATE_FILE)),
                );
                return Some(StorageConfig {
                    kind: "sqlite".into(),
                    profile: None,
                    params: ParamMap(params),
                    retention_days: None,
                    defaulted: true,
                });
            }
            let mut kind = None;
            let mut connection = Map::new();
            let from_profile = self.profile(STATE_PROFILE, "state.profile", None)?;
            merge_profile(&mut kind, &mut connection, from_profile);
            let Some(kind) = kind else {
                self.issues.push(
                    ConfigIssue::new("state", format!("profile `{STATE_PROFILE}` has no `type`"))
                        .with_hint("give the profile `type: postgres`, `mysql` or `sqlite`"),
                );
                return None;
            };
            return Some(StorageConfig {
                kind,
                profile: Some(STATE_PROFILE.into()),
                params: ParamMap(connection),
                retention_days: None,
                defaulted: true,
            });
        };
        let mut s = Params::new(map, "state");
        let mut kind: Option<String> = s.optional("type");
        let profile: Option<String> = s.optional("profile");
        let mut connection: Map<String, Value> = s.or("params", Map::new());
        let report = s.finish();
        self.absorb(report);
        if let Some(name) = &profile
            && let Some(from_profile) = self.profile(name, "state.profile", kind.as_deref())
        {
            merge_profile(&mut kind, &mut connection, from_profile);
        }
        self.anchor_to_config(kind.as_deref(), &mut connection);
        let Some(kind) = kind else {
            self.issues.push(
                ConfigIssue::new(
                    "state.type",
                    "missing: the alert state storage needs a type",
                )
                .with_hint("`type: postgres`, `mysql` or `sqlite`, or `profile: <name>`"),
            );
            return None;
        };
        Some(StorageConfig {
            kind,
            profile,
            params: ParamMap(connection),
            retention_days: None,
            defaulted: false,
        })
    }

    fn detectors(&mut self, single: Option<Value>, list: Option<Value>) -> Vec<DetectorConfig> {
        let entries: Vec<(String, Value)> = match (single, list) {
            (Some(_), Some(_)) => {
                self.issues.push(
                    ConfigIssue::new("detectors", "both `detector` and `detectors` are set")
                        .with_hint(
                            "use `detector:` for one detector or a `detectors:` list, not both",
                        ),
                );
                return Vec::new();
            }
            (Some(d), None) => vec![("detector".to_string(), d)],
            (None, Some(Value::Array(items))) => {
                if items.is_empty() {
                    self.issue("detectors", "is empty; list at least one detector");
                }
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| (format!("detectors[{i}]"), d))
                    .collect()
            }
            (None, Some(_)) => {
                self.issue("detectors", "expected a list of detectors");
                return Vec::new();
            }
            (None, None) => {
                self.issues.push(
                    ConfigIssue::new("detector", "is required")
                        .with_hint("add `detector: {type: mad}` or a `detectors:` list"),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<DetectorConfig> = Vec::new();
        for (path, value) in entries {
            let Value::Object(map) = value else {
                self.issue(&path, "expected a mapping with `type` and `params`");
                continue;
            };
            let mut d = Params::new(&map, path.clone());
            let id: Option<String> = d.optional("id");
            let kind: Option<String> = d.required("type");
            let params: Map<String, Value> = d.or("params", Map::new());
            if let Some(id) = &id
                && !valid_name(id)
            {
                d.error(
                    "id",
                    format!("{id:?} may only contain letters, digits, `_` and `-`"),
                );
            }
            if let Some(id) = &id
                && id.len() > MAX_DETECTOR_ID_LEN
            {
                d.error_with_hint(
                    "id",
                    format!(
                        "is {} characters long; at most {MAX_DETECTOR_ID_LEN} are allowed",
                        id.len()
                    ),
                    "storages keep detector IDs in a VARCHAR(128) key column; use a shorter id",
                );
            }
            let report = d.finish();
            self.absorb(report);
            let Some(kind) = kind else { continue };
            let explicit_id = id.is_some();
            let id = id.unwrap_or_else(|| detector_id(&kind, &Value::Object(params.clone())));
            if let Some(other) = out.iter().find(|o| o.id == id) {
                self.issues.push(
                    ConfigIssue::new(format!("{path}.id"), format!("duplicate detector ID `{id}` (also used by {})", other.path))
                        .with_hint("two detectors with the same type and params get the same ID; change one or give it an explicit `id:`"),
                );
                continue;
            }
            out.push(DetectorConfig {
                id,
                explicit_id,
                kind,
                params,
                path,
            });
        }
        out
    }

    /// `alerter:` (first) and the entries of `alerters:`, with unique names.
    fn alerters(
        &mut self,
        single: Option<&Map<String, Value>>,
        list: &[Value],
    ) -> Vec<AlerterConfig> {
        let mut out: Vec<AlerterConfig> = Vec::new();
        if let Some(map) = single {
            out.extend(self.alerter(map, "alerter".into(), true));
        }
        for (i, entry) in list.iter().enumerate() {
            let path = format!("alerters[{i}]");
            match entry {
                Value::Object(map) => out.extend(self.alerter(map, path, false)),
                _ => self.issue(
                    &path,
                    "expected a mapping with `type`, `params`, `conditions`",
                ),
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut duplicates = Vec::new();
        for a in &out {
            if seen.contains(&a.name.as_str()) {
                duplicates.push(ConfigIssue::new(
                    format!("{}.name", a.path),
                    format!(
                        "another alerter of this metric is named {:?}; give each a unique `name`",
                        a.name
                    ),
                ));
            }
            seen.push(&a.name);
        }
        self.issues.extend(duplicates);
        out
    }

    fn alerter(
        &mut self,
        map: &Map<String, Value>,
        path: String,
        primary: bool,
    ) -> Option<AlerterConfig> {
        let mut a = Params::new(map, path.clone());
        let enabled: bool = a.or("enabled", true);
        let digest: bool = a.or("digest", false);
        let kind: Option<String> = a.required("type");
        let name: Option<String> = a.optional("name");
        if let Some(n) = &name
            && (!valid_name(n) || n.len() > MAX_ALERTER_NAME_LEN)
        {
            a.error(
                "name",
                format!("{n:?} must be 1 to {MAX_ALERTER_NAME_LEN} letters, digits, `_` or `-`"),
            );
        }
        let params: Map<String, Value> = a.or("params", Map::new());
        let conditions: Map<String, Value> = a.or("conditions", Map::new());
        let report = a.finish();
        self.absorb(report);
        let mut params = params;
        // The console alerter appends to `path`, a file this config names.
        if kind.as_deref() == Some("console")
            && let (Some(Value::String(location)), Some(base)) =
                (params.get_mut("path"), &self.base)
        {
            *location = anchor(location, base);
        }
        let kind = kind?;
        Some(AlerterConfig {
            name: name.unwrap_or_else(|| kind.clone()),
            path,
            primary,
            enabled,
            digest,
            kind,
            params: ParamMap(params),
            conditions,
        })
    }

    fn schedule(&mut self, map: &Map<String, Value>, timezone: Tz) -> Option<ScheduleConfig> {
        let mut s = Params::new(map, "schedule");
        let interval: HumanDuration = s.or("interval", HumanDuration::from_seconds(600));
        let time = |s: &mut Params<'_>, key: &str| -> Option<DateTime<Utc>> {
            let raw: String = match s.raw(key)? {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            match parse_time(&raw, timezone) {
                Ok(t) => Some(t),
                Err(e) => {
                    s.error(key, e);
                    None
                }
            }
        };
        let start_time = time(&mut s, "start_time");
        let end_time = time(&mut s, "end_time");
        let batch_load_days: u32 = s.or("batch_load_days", 30);
        s.check(batch_load_days >= 1, "batch_load_days", || {
            "must be at least 1".into()
        });
        s.check(
            batch_load_days <= MAX_BATCH_LOAD_DAYS,
            "batch_load_days",
            || {
                format!(
                    "is {batch_load_days}; at most {MAX_BATCH_LOAD_DAYS} days per batch are allowed"
                )
            },
        );
        let delay: Option<HumanDuration> = s.optional("delay");
        if let Some(d) = &delay {
            s.check(d.seconds() <= MAX_DELAY_SECONDS, "delay", || {
                format!(
                    "is {d}; at most {} days are allowed",
                    MAX_DELAY_SECONDS / 86_400
                )
            });
        }
        if let (Some(a), Some(b)) = (start_time, end_time) {
            s.check(a < b, "end_time", || {
                format!("must be after start_time ({a})")
            });
        }
        let interval_secs = interval.seconds();
        s.check(interval_secs <= MAX_INTERVAL_SECONDS, "interval", || {
            format!(
                "is {interval}; at most {} days are allowed",
                MAX_INTERVAL_SECONDS / 86_400
            )
        });
        s.check(86_400 % interval_secs == 0 || interval_secs % 86_400 == 0, "interval", || {
            format!("{interval} does not divide a day evenly; use e.g. 1, 5, 10, 15 or 30 minutes, 1 or 2 hours, 1 day")
        });
        let report = s.finish();
        self.absorb(report);
        Some(ScheduleConfig {
            interval,
            start_time,
            end_time,
            batch_load_days,
            delay,
        })
    }
}

/// Collector types of Python detectk that DetectK does not ship (they have no SQL query);
/// building such a config reports the type itself as unavailable.
pub(crate) const PYTHON_ONLY_COLLECTORS: &[&str] = &["http"];

fn python_only_collector(kind: Option<&str>) -> bool {
    kind.is_some_and(|k| PYTHON_ONLY_COLLECTORS.contains(&k))
}

fn merge_profile(
    kind: &mut Option<String>,
    connection: &mut Map<String, Value>,
    mut from_profile: Map<String, Value>,
) {
    let profile_kind = from_profile
        .remove("type")
        .and_then(|v| v.as_str().map(str::to_string));
    if kind.is_none() {
        *kind = profile_kind;
    }
    for (key, value) in from_profile {
        connection.entry(key).or_insert(value);
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses `2024-01-01`, `2024-01-01 10:00[:00]`, or RFC 3339; times without zone are in `tz`.
///
/// ```
/// use detectk_core::config::parse_time;
/// let t = parse_time("2024-01-01", chrono_tz::Tz::UTC).unwrap();
/// assert_eq!(t.to_rfc3339(), "2024-01-01T00:00:00+00:00");
/// ```
pub fn parse_time(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    let Some(naive) = naive else {
        return Err(format!(
            "invalid time {text:?}; expected `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or RFC 3339"
        ));
    };
    local_to_utc(naive, tz)
}

/// A wall-clock time in `tz` as UTC (the earlier instant when clocks fall back).
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, String> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{naive} does not exist in time zone {tz}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options_with_profile() -> LoadOptions {
        let mut profiles = Profiles::empty();
        profiles
            .add_text(
                "profiles:\n  pg:\n    type: postgres\n    host: db.internal\n    port: 5432\n    password: \"${PG_SECRET}\"\n",
                Path::new("detectk_profiles.yaml"),
            )
            .unwrap();
        LoadOptions {
            profiles,
            env: Arc::new(|k| (k == "PG_SECRET").then(|| "s3cr3t".to_string())),
            ..LoadOptions::default()
        }
    }

    #[test]
    fn state_is_parsed_from_the_file_or_the_project_profile() {
        let ch = "name: m\ncollector: {type: clickhouse, params: {query: \"SELECT 1\"}}\ndetector: {type: mad}\n";
        let plain = parse_config(ch, None, &LoadOptions::default()).unwrap();
        // No `state:` and no project profile: the local file, used only when the
        // storage keeps no alert state of its own.
        let local = plain.config.state.as_ref().expect("the local state file");
        assert!(local.defaulted && local.profile.is_none());
        assert_eq!(
            (local.kind.as_str(), &local.params.0["path"]),
            ("sqlite", &Value::from(LOCAL_STATE_FILE))
        );

        let yaml = format!("{ch}state: {{profile: pg, params: {{database: alerts}}}}\n");
        let config = parse_config(&yaml, None, &options_with_profile())
            .unwrap()
            .config;
        let state = config.state.expect("state");
        assert_eq!(state.kind, "postgres");
        assert_eq!(state.params.0["database"], "alerts");
        assert_eq!(state.params.0["host"], "db.internal");
        assert!(!state.defaulted);

        let err = parse_config(
            &format!("{ch}state: {{params: {{}}, typo: 1}}\n"),
            None,
            &LoadOptions::default(),
        )
        .unwrap_err();
        let paths: Vec<&str> = err.issues.iter().map(|i| i.path.as_str()).collect();
        assert!(paths.contains(&"state.type"), "{paths:?}");
        assert!(paths.contains(&"state.typo"), "{paths:?}");

        let mut options = options_with_profile();
        options
            .profiles
            .add_text(
                &format!("profiles:\n  {STATE_PROFILE}:\n    type: sqlite\n    connection_string: \"sqlite:///alerts.db\"\n"),
                Path::new("more_profiles.yaml"),
            )
            .unwrap();
        let state = parse_config(ch, None, &options)
            .unwrap()
            .config
            .state
            .expect("state");
        assert_eq!((state.kind.as_str(), state.defaulted), ("sqlite", true));
    }

    #[test]
    fn explicit_params_win_over_the_profile_which_supplies_the_type() {
        let yaml = "name: m\ncollector:\n  profile: pg\n  params: {port: 6543, query: \"SELECT 1\"}\ndetector: {type: mad}\n";
        let config = parse_config(yaml, None, &options_with_profile())
            .unwrap()
            .config;
        assert_eq!(config.collector.kind, "postgres");
        let params = &config.collector.params.0;
        assert_eq!(params["port"], 6543, "explicit beats profile");
        assert_eq!(params["host"], "db.internal", "the profile fills the rest");
        assert_eq!(params["password"], "s3cr3t");
        assert!(
            !params.contains_key("query"),
            "core keys are not connection params"
        );
        assert!(
            !format!("{config:?}").contains("s3cr3t"),
            "Debug masks secrets"
        );
        // Storage defaults to the collector's connection.
        assert_eq!(config.storage.kind, "postgres");
        assert!(config.storage.defaulted);
    }

    #[test]
    fn heartbeat_url_is_a_secret_and_a_bad_one_is_named_without_echoing_it() {
        let base = "name: m\ncollector: {type: sqlite, params: {query: \"SELECT 1\"}}\ndetector: {type: mad}\n";
        let ok = format!("{base}heartbeat_url: https://hc.example/ping/abc-secret\n");
        let loaded = parse_config(&ok, None, &LoadOptions::default()).unwrap();
        let url = loaded.config.heartbeat_url.as_ref().unwrap();
        assert_eq!(url.expose(), "https://hc.example/ping/abc-secret");
        assert!(!format!("{:?}", loaded.config).contains("abc-secret"));
        let bad = format!("{base}heartbeat_url: hc.example/ping/abc-secret\n");
        let e = parse_config(&bad, None, &LoadOptions::default()).unwrap_err();
        assert_eq!(e.issues[0].path, "heartbeat_url");
        assert!(e.to_string().contains("http://"), "{e}");
        assert!(!e.to_string().contains("abc-secret"), "{e}");
    }

    #[test]
    fn an_unknown_profile_is_one_problem_with_the_known_names() {
        let yaml = "name: m\ncollector:\n  profile: pgg\n  params: {query: \"SELECT 1\"}\ndetector: {type: mad}\n";
        let e = parse_config(yaml, None, &options_with_profile()).unwrap_err();
        assert_eq!(e.issues.len(), 1, "{e}");
        assert_eq!(e.issues[0].path, "collector.profile");
        assert_eq!(
            e.issues[0].hint.as_deref(),
            Some("did you mean `pg`? defined profiles: pg")
        );
    }

    #[test]
    fn disabled_storage_keeps_state_in_a_local_sqlite_file() {
        let yaml = "name: m\ncollector: {type: clickhouse, params: {query: \"SELECT 1\"}}\ndetector: {type: mad}\nstorage: {enabled: false}\n";
        let loaded = parse_config(yaml, None, &LoadOptions::default()).unwrap();
        assert_eq!(loaded.config.storage.kind, "sqlite");
        // No file and no project root: the location stays relative.
        assert_eq!(loaded.config.storage.params.0["path"], LOCAL_STATE_FILE);
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.warnings[0].path, "storage.enabled");

        let rooted = LoadOptions {
            project_dir: Some(PathBuf::from("/srv/proj")),
            ..LoadOptions::default()
        };
        let file = Path::new("/srv/proj/metrics/m.yaml");
        let loaded = parse_config(yaml, Some(file), &rooted).unwrap();
        assert_eq!(
            loaded.config.storage.params.0["path"],
            "/srv/proj/detectk_state.db"
        );
    }

    #[test]
    fn relative_sqlite_locations_resolve_against_the_file_that_names_them() {
        let mut profiles = Profiles::empty();
        profiles
            .add_text(
                "profiles:\n  src: {type: sqlite, connection_string: \"sqlite:///data/q.db\"}\n  store: {type: sqlite, path: state.db}\n",
                Path::new("/srv/proj/detectk_profiles.yaml"),
            )
            .unwrap();
        let options = LoadOptions {
            profiles,
            env: Arc::new(|_| None),
            project_dir: Some(PathBuf::from("/srv/proj")),
            ..LoadOptions::default()
        };
        let file = Path::new("/srv/proj/metrics/team/m.yaml");
        let yaml = "name: m\ncollector: {profile: src, params: {query: \"SELECT 1\"}}\nstorage: {profile: store}\ndetector: {type: mad}\nalerter: {type: console, params: {path: alerts.log}}\n";
        let c = parse_config(yaml, Some(file), &options).unwrap().config;
        assert_eq!(
            c.collector.params.0["connection_string"],
            "sqlite:////srv/proj/data/q.db"
        );
        assert_eq!(c.storage.params.0["path"], "/srv/proj/state.db");
        assert_eq!(
            c.alerters[0].params.0["path"],
            "/srv/proj/metrics/team/alerts.log"
        );

        // Named in the metric config: relative to the metric config.
        let yaml = "name: m\ncollector: {type: sqlite, params: {path: ../q.db, query: \"SELECT 1\"}}\nstorage: {type: sqlite}\ndetector: {type: mad}\n";
        let c = parse_config(yaml, Some(file), &options).unwrap().config;
        assert_eq!(
            c.collector.params.0["path"],
            "/srv/proj/metrics/team/../q.db"
        );
        // A storage of the collector's type without params shares its file.
        assert_eq!(c.storage.params.0["path"], "/srv/proj/metrics/team/../q.db");
        // Named by nobody: the project root's detectk.db.
        let yaml = "name: m\ncollector: {type: postgres, params: {query: \"SELECT 1\"}}\nstorage: {type: sqlite}\ndetector: {type: mad}\n";
        let c = parse_config(yaml, Some(file), &options).unwrap().config;
        assert_eq!(c.storage.params.0["path"], "/srv/proj/detectk.db");
    }
}
