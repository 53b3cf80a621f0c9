//! Connection profiles: `detectk_profiles.yaml` in the project root over
//! `~/.detectk/profiles.yaml` (user), or the one file `$DETECTK_PROFILES` names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::env::substitute_env;
use crate::config::paths::PROJECT_PROFILES;
use crate::error::{ConfigError, ConfigIssue};

/// A named set of connection params.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Profile {
    /// Params, including `type` when the profile sets one.
    pub params: Map<String, Value>,
    /// The file it came from.
    pub file: PathBuf,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field(
                "params",
                &crate::secret::redact_json(&Value::Object(self.params.clone())),
            )
            .field("file", &self.file)
            .finish()
    }
}

impl Profile {
    /// The params with `${VAR}` / `${VAR:-default}` substituted from `lookup`. A value that
    /// is a single `${...}` takes the type of what it expands to (`port: ${PORT:-9000}` is a number).
    /// Returns the names of unset required variables on failure.
    pub fn resolve(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Map<String, Value>, Vec<String>> {
        let mut missing = Vec::new();
        let params = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), resolve_value(v, lookup, &mut missing)))
            .collect();
        if missing.is_empty() {
            Ok(params)
        } else {
            Err(missing)
        }
    }
}

fn resolve_value(
    value: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    missing: &mut Vec<String>,
) -> Value {
    match value {
        Value::String(s) if s.contains("${") => {
            let (text, unset) = substitute_env(s, lookup);
            for name in unset {
                if !missing.contains(&name) {
                    missing.push(name);
                }
            }
            let whole = s.trim().starts_with("${")
                && s.trim().ends_with('}')
                && s.matches("${").count() == 1;
            if whole {
                match crate::yaml::parse(&text) {
                    Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
                    _ => Value::String(text),
                }
            } else {
                Value::String(text)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_value(v, lookup, missing))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve_value(v, lookup, missing)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Profiles by name; the first file that defines a name wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profiles {
    entries: BTreeMap<String, Profile>,
    files: Vec<PathBuf>,
}

impl Profiles {
    /// No profiles.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The default locations with the working directory as the project root; see
    /// [`Profiles::load_for_project`].
    pub fn load_default() -> Result<Self, ConfigError> {
        Self::load_for_project(Path::new("."))
    }

    /// The profiles of the project rooted at `project_dir`: `$DETECTK_PROFILES` if set
    /// (that file only), else `PROJECT_DIR/detectk_profiles.yaml` (or `.yml`) over
    /// `~/.detectk/profiles.yaml`. Missing files are skipped.
    pub fn load_for_project(project_dir: &Path) -> Result<Self, ConfigError> {
        Self::load_files(&Self::default_paths(
            project_dir,
            std::env::var_os("DETECTK_PROFILES").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
        ))
    }

    /// The files [`Profiles::load_for_project`] reads, highest priority first, given the
    /// values of `DETECTK_PROFILES` and `HOME`.
    pub fn default_paths(
        project_dir: &Path,
        explicit: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Vec<PathBuf> {
        if let Some(explicit) = explicit {
            return vec![explicit];
        }
        let mut paths = vec![
            project_dir.join(PROJECT_PROFILES),
            project_dir.join("detectk_profiles.yml"),
        ];
        if let Some(home) = home {
            paths.push(home.join(".detectk").join("profiles.yaml"));
        }
        paths
    }

    /// Loads the given files in priority order (earlier wins), skipping missing ones.
    pub fn load_files(paths: &[PathBuf]) -> Result<Self, ConfigError> {
        let mut profiles = Self::default();
        let mut issues = Vec::new();
        for path in paths {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    issues.push(
                        ConfigIssue::new("", format!("cannot read profiles file: {e}"))
                            .in_file(path),
                    );
                    continue;
                }
            };
            if let Err(e) = profiles.add_text(&text, path) {
                issues.extend(e.issues);
            }
        }
        if issues.is_empty() {
            Ok(profiles)
        } else {
            Err(ConfigError { issues })
        }
    }

    /// Adds the profiles of one file's text (names already defined are kept).
    pub fn add_text(&mut self, text: &str, file: &Path) -> Result<(), ConfigError> {
        // `${VAR}` is substituted per value when a profile is used (see `Profile::resolve`):
        // a file may hold profiles for other environments whose variables are not set here.
        let err = |path: &str, msg: String| {
            ConfigError::single(ConfigIssue::new(path, msg).in_file(file))
        };
        let doc = crate::yaml::parse(text).map_err(|e| err("", e.to_string()))?;
        let Some(profiles) = doc.get("profiles") else {
            return Err(err("", "expected a top-level `profiles:` mapping".into()));
        };
        let Value::Object(profiles) = profiles else {
            return Err(err(
                "profiles",
                "expected a mapping of profile name to params".into(),
            ));
        };
        for (name, params) in profiles {
            let Value::Object(params) = params else {
                return Err(err(
                    &format!("profiles.{name}"),
                    "expected a mapping of params".into(),
                ));
            };
            self.entries.entry(name.clone()).or_insert_with(|| Profile {
                params: params.clone(),
                file: file.to_path_buf(),
            });
        }
        self.files.push(file.to_path_buf());
        Ok(())
    }

    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.entries.get(name)
    }

    /// Profile names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// Files the profiles were read from.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_file_wins_and_values_resolve_lazily() {
        let mut p = Profiles::empty();
        p.add_text("profiles:\n  ch: {type: clickhouse, host: \"${CH_HOST:-localhost}\", port: \"${CH_PORT:-8123}\", password: \"${CH_PW}\"}\n", Path::new("a.yaml")).unwrap();
        p.add_text(
            "profiles:\n  ch: {type: postgres}\n  pg: {type: postgres}\n",
            Path::new("b.yaml"),
        )
        .unwrap();
        assert_eq!(p.names(), vec!["ch", "pg"]);
        let ch = p.get("ch").unwrap();
        assert_eq!(ch.file, Path::new("a.yaml"));
        let missing = ch.resolve(&|_| None).unwrap_err();
        assert_eq!(missing, vec!["CH_PW"]);
        let resolved = ch
            .resolve(&|k| (k == "CH_PW").then(|| "s".to_string()))
            .unwrap();
        assert_eq!(resolved["host"], "localhost");
        assert_eq!(resolved["port"], 8123);
        assert!(!format!("{ch:?}").contains("CH_PW") || !format!("{ch:?}").contains("s\""));
    }

    #[test]
    fn project_profiles_come_before_the_users_and_the_variable_replaces_both() {
        let paths = Profiles::default_paths(
            Path::new("/srv/proj"),
            None,
            Some(PathBuf::from("/users/u")),
        );
        assert_eq!(
            paths,
            vec![
                PathBuf::from("/srv/proj/detectk_profiles.yaml"),
                PathBuf::from("/srv/proj/detectk_profiles.yml"),
                PathBuf::from("/users/u/.detectk/profiles.yaml"),
            ]
        );
        let explicit = Profiles::default_paths(
            Path::new("/srv/proj"),
            Some(PathBuf::from("/etc/dtk.yaml")),
            Some(PathBuf::from("/users/u")),
        );
        assert_eq!(explicit, vec![PathBuf::from("/etc/dtk.yaml")]);
    }

    #[test]
    fn rejects_files_without_profiles() {
        let e = Profiles::empty()
            .add_text("foo: 1", Path::new("p.yaml"))
            .unwrap_err();
        assert!(e.to_string().contains("profiles"), "{e}");
    }
}
