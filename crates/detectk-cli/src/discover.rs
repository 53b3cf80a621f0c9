//! Loading the metrics a command selects (`--select` / `--exclude`).

use std::path::PathBuf;

use detectk_core::ConfigError;
use detectk_core::config::{LoadOptions, LoadedConfigs, load_configs};

pub use detectk_core::config::find_config_files;

use crate::select::Selector;

/// Loads every config under `paths`, keeps the selected ones, and checks that names are unique.
/// A file whose name cannot be read is reported (selection cannot skip it).
pub fn load_selected(
    paths: &[PathBuf],
    select: &[Selector],
    exclude: &[Selector],
    options: &LoadOptions,
) -> Result<LoadedConfigs, ConfigError> {
    load_configs(paths, options, |c| {
        (select.is_empty() || select.iter().any(|s| s.matches(c)))
            && !exclude.iter().any(|s| s.matches(c))
    })
}
