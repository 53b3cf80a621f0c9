//! The project's `on_error` channel in `dtk run`: built from `detectk_project.yaml`
//! with the registry, then told which metrics of the run failed and which ran fine
//! (see `detectk_core::alert::alert_errors`).

use std::path::PathBuf;
use std::sync::Arc;

use detectk_core::config::{PROJECT_MARKER, Params, ProjectDefaults};
use detectk_core::traits::Alerter;
use detectk_core::{ConfigError, Registry};

/// A project's `on_error` channel.
pub struct OnError {
    /// The project directory, where the incident state is kept.
    pub root: PathBuf,
    /// The channel.
    pub alerter: Arc<dyn Alerter>,
}

/// The `on_error` alerter of the project holding the configs under `paths`; `None`
/// when the project sets none.
pub fn channel(registry: &Registry, paths: &[PathBuf]) -> Result<Option<OnError>, ConfigError> {
    let root = crate::project::project_root(paths)?;
    let project = ProjectDefaults::load(
        &root,
        |name| std::env::var(name).ok(),
        detectk_core::alert::check_conditions,
    )?;
    let Some(spec) = project.on_error else {
        return Ok(None);
    };
    let file = project
        .file
        .clone()
        .unwrap_or_else(|| root.join(PROJECT_MARKER));
    let factory = registry
        .alerter(&spec.kind)
        .map_err(|e| ConfigError::single(e.to_issue("on_error.type")).in_file(&file))?;
    match factory.build(Params::new(&spec.params, "on_error.params")) {
        Ok(built) => Ok(Some(OnError {
            root,
            alerter: built.part,
        })),
        Err(e) => Err(ConfigError { issues: e.issues }.in_file(&file)),
    }
}
