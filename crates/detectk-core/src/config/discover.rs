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
    // A batch at a time: the configs `keep` drops are freed batch by batch.
    let read = files
        .chunks(READ_BATCH)
        .flat_map(|batch| batch.iter().zip(read_all(batch, options)));
    for (file, read) in read {
        let Some(partial) = read else {
            tracing::debug!(file = %file.display(), "skipping a profiles file");
            continue;
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
                .in_file(file),
            ));
            continue;
        }
        seen.insert(c.name.clone(), file.clone());
        loaded.configs.push(partial);
    }
    Ok(loaded)
}

/// Files read (in parallel) before `keep` filters them.
const READ_BATCH: usize = 512;

/// Below this many files per thread, reading them on more threads costs more than it
/// saves.
const FILES_PER_THREAD: usize = 32;

/// Reads and parses every file (see [`read_one`]), each once, in `files`' order: on up to one thread per
/// core for a fleet (the files are independent; only the order of the results matters).
fn read_all(files: &[PathBuf], options: &LoadOptions) -> Vec<Option<PartialConfig>> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = files.len().div_ceil(cores).max(FILES_PER_THREAD);
    if files.len() <= per_thread {
        return files.iter().map(|f| read_one(f, options)).collect();
    }
    std::thread::scope(|scope| {
        let threads: Vec<_> = files
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| read_one(f, options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| {
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Reads and parses one file: `None` for a profiles-only file (told apart by its text).
fn read_one(file: &Path, options: &LoadOptions) -> Option<PartialConfig> {
    match std::fs::read_to_string(file) {
        Ok(text) if is_profiles_text(&text) => None,
        Ok(text) => Some(parse_config_partial(&text, Some(file), options)),
        // The loader reports the read error with the file name.
        Err(_) => Some(load_file_partial(file, options)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str) -> String {
        format!(
            "name: {name}\ncollector:\n  type: sql\n  params:\n    connection_string: \"sqlite:///s.db\"\n    query: \"SELECT 1\"\nstorage:\n  type: sql\n  params:\n    connection_string: \"sqlite:///d.db\"\nschedule:\n  interval: \"10 minutes\"\n"
        )
    }

    /// Enough files for several threads and batches: the configs come back in file
    /// order, with the same errors (a duplicate name naming the first file, a broken
    /// file) and without the profiles-only file, as a file-by-file load gives.
    #[test]
    fn a_fleet_of_files_loads_in_file_order_with_every_error() {
        let dir = tempfile::tempdir().unwrap();
        let count = READ_BATCH + 3 * FILES_PER_THREAD + 7;
        for i in 0..count {
            let text = match i {
                5 => "name: [broken\n".to_string(),
                9 => "profiles:\n  pg:\n    type: postgres\n".to_string(),
                // A second definition of m0000011, in a later file.
                600 => metric("m0000011"),
                _ => metric(&format!("m{i:07}")),
            };
            std::fs::write(dir.path().join(format!("f{i:07}.yaml")), text).unwrap();
        }
        let options = LoadOptions::default();
        let loaded = load_configs(&[dir.path().to_path_buf()], &options, |_| true).unwrap();
        let names: Vec<_> = loaded
            .configs
            .iter()
            .map(|c| c.config.as_ref().unwrap().name.clone())
            .collect();
        let expected: Vec<_> = (0..count)
            .filter(|i| ![5, 9, 600].contains(i))
            .map(|i| format!("m{i:07}"))
            .collect();
        assert_eq!(names, expected);
        let errors: Vec<String> = loaded.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].contains("f0000005.yaml"), "{}", errors[0]);
        assert!(
            errors[1].contains("also defined in") && errors[1].contains("f0000011.yaml"),
            "{}",
            errors[1]
        );
        // `keep` sees every metric and drops those it refuses.
        let odd = load_configs(&[dir.path().to_path_buf()], &options, |c| {
            c.name.ends_with(['1', '3', '5', '7', '9'])
        })
        .unwrap();
        assert_eq!(
            odd.configs.len(),
            expected
                .iter()
                .filter(|n| n.ends_with(['1', '3', '5', '7', '9']))
                .count()
        );
    }
}
