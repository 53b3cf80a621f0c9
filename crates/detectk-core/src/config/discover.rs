//! Finding metric config files under files and directories, and loading them with
//! every problem of each file reported and metric names checked to be unique.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::load::{LoadOptions, PartialConfig, load_file_partial, parse_config_partial};
use crate::config::model::MetricConfig;
use crate::error::{ConfigError, ConfigIssue};

/// Files that live next to metric configs but are not metric configs.
const NOT_METRICS: &[&str] = &[
    "detectk_project.yaml",
    "detectk_project.yml",
    "detectk_profiles.yaml",
    "detectk_profiles.yml",
    "profiles.yaml",
    "profiles.yml",
];

/// Config files under `paths`: files as given, directories searched recursively for
/// `*.yaml` / `*.yml` (hidden entries and profile files skipped), sorted, without duplicates.
pub fn find_config_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    let mut issues = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files, &mut issues);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            issues.push(ConfigIssue::new("", "no such file or directory").in_file(path));
        }
    }
    if !issues.is_empty() {
        return Err(ConfigError { issues });
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, issues: &mut Vec<ConfigIssue>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            issues.push(ConfigIssue::new("", format!("cannot read directory: {e}")).in_file(dir));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || NOT_METRICS.contains(&name.as_str()) {
            continue;
        }
        if path.is_dir() {
            walk(&path, files, issues);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            files.push(path);
        }
    }
}

/// The outcome of loading configs: good configs, and per-file errors.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LoadedConfigs {
    /// Kept configs, parsed as far as possible (they may still hold problems), in file order.
    pub configs: Vec<PartialConfig>,
    /// Files that failed to load (each error lists every problem of its file).
    pub errors: Vec<ConfigError>,
}

/// Loads every config under `paths` (see [`find_config_files`]), keeps those for which
/// `keep` is true, and checks that their names are unique. A file whose name cannot be
/// read is reported (`keep` cannot skip it).
pub fn load_configs(
    paths: &[PathBuf],
    options: &LoadOptions,
    keep: impl Fn(&MetricConfig) -> bool,
) -> Result<LoadedConfigs, ConfigError> {
    let files = find_config_files(paths)?;
    let mut loaded = LoadedConfigs::default();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        // Each file is read once; profiles-only files are told apart by their text.
        let partial = match std::fs::read_to_string(&file) {
            Ok(text) if is_profiles_text(&text) => {
                tracing::debug!(file = %file.display(), "skipping a profiles file");
                continue;
            }
            Ok(text) => parse_config_partial(&text, Some(&file), options),
            // The loader reports the read error with the file name.
            Err(_) => load_file_partial(&file, options),
        };
        let Some(c) = &partial.config else {
            // Without a name the file cannot be selected or skipped: report it.
            loaded.errors.push(ConfigError {
                issues: partial.issues,
            });
            continue;
        };
        if !keep(c) {
            continue;
        }
        if let Some(first) = seen.get(&c.name) {
            loaded.errors.push(ConfigError::single(
                ConfigIssue::new(
                    "name",
                    format!("metric `{}` is also defined in {}", c.name, first.display()),
                )
                .with_hint("metric names must be unique in a project")
                .in_file(&file),
            ));
            continue;
        }
        seen.insert(c.name.clone(), file.clone());
        loaded.configs.push(partial);
    }
    Ok(loaded)
}

/// A file holding only `profiles:` (a profiles file under another name) is not a metric.
/// Only files with a top-level `profiles:` line are parsed for this.
fn is_profiles_text(text: &str) -> bool {
    if !text.lines().any(|l| l.starts_with("profiles:")) {
        return false;
    }
    match crate::yaml::parse(text) {
        Ok(serde_json::Value::Object(map)) => {
            map.contains_key("profiles")
                && !map.contains_key("name")
                && !map.contains_key("collector")
        }
        _ => false,
    }
}
