//! The project root: where profiles are read from and where files that no config names
//! are kept, so `dtk` behaves the same from any working directory (cron, Airflow, systemd).
//!
//! The root is `--project-dir` / `DETECTK_PROJECT_DIR` when given, else the nearest
//! ancestor of the selected configs that holds `detectk_profiles.yaml` or the marker
//! `detectk_project.yaml`, else the working directory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use detectk_core::config::find_project_root;
use detectk_core::config::{LoadOptions, Profiles, ProjectDefaults};
use detectk_core::{ConfigError, ConfigIssue};

static EXPLICIT: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sets the project root given on the command line (once, at start-up).
pub fn set_project_dir(dir: Option<PathBuf>) {
    let _ = EXPLICIT.set(dir);
}

fn explicit() -> Option<&'static Path> {
    EXPLICIT.get().and_then(|d| d.as_deref())
}

/// The project root for configs under `paths`; see the module docs. Configs from two
/// projects at once are an error (the profiles would be ambiguous).
pub fn project_root(paths: &[PathBuf]) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = explicit() {
        if !dir.is_dir() {
            return Err(ConfigError::single(
                ConfigIssue::new(
                    "--project-dir",
                    format!("{} is not a directory", dir.display()),
                )
                .with_hint("pass the directory that holds detectk_profiles.yaml (also settable with DETECTK_PROJECT_DIR)"),
            ));
        }
        return absolute(dir);
    }
    let mut found: Vec<PathBuf> = paths.iter().filter_map(|p| find_project_root(p)).collect();
    found.dedup();
    match found.as_slice() {
        [] => absolute(Path::new(".")),
        [one] => Ok(one.clone()),
        [first, second, ..] => Err(ConfigError::single(
            ConfigIssue::new(
                "",
                format!(
                    "the configs belong to different projects ({} and {})",
                    first.display(),
                    second.display()
                ),
            )
            .with_hint("run each project separately, or pass --project-dir"),
        )),
    }
}

fn absolute(dir: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(dir).map_err(|e| {
        ConfigError::single(ConfigIssue::new(
            "--project-dir",
            format!("cannot resolve {}: {e}", dir.display()),
        ))
    })
}

/// Load options for configs under `paths`: the project's profiles and root.
pub fn load_options(
    paths: &[PathBuf],
    execution_time: DateTime<Utc>,
) -> Result<LoadOptions, ConfigError> {
    let root = project_root(paths)?;
    tracing::debug!(project_dir = %root.display(), "project root");
    let defaults = ProjectDefaults::load(
        &root,
        |k| std::env::var(k).ok(),
        detectk_core::alert::check_conditions,
    )?;
    Ok(LoadOptions {
        execution_time,
        profiles: Profiles::load_for_project(&root)?,
        project_dir: Some(root),
        defaults: std::sync::Arc::new(defaults),
        ..LoadOptions::default()
    })
}
