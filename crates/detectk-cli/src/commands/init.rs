//! `dtk init FILE`: write a commented metric config.

use detectk_core::{ConfigError, ConfigIssue, Registry};

use crate::cli::InitArgs;
use crate::commands::OK;
use crate::templates::metric_config;

/// Runs `dtk init`; returns the exit code.
pub fn init(registry: &Registry, args: &InitArgs) -> Result<u8, ConfigError> {
    let fail = |path: &str, message: String, hint: Option<String>| {
        let mut issue = ConfigIssue::new(path, message);
        if let Some(h) = hint {
            issue = issue.with_hint(h);
        }
        ConfigError::single(issue)
    };
    if let Err(e) = registry.detector(&args.detector) {
        return Err(fail("--detector", e.to_string(), Some(e.hint)));
    }
    if let Err(e) = registry.collector(&args.collector) {
        return Err(fail("--collector", e.to_string(), Some(e.hint)));
    }
    if args.file.exists() && !args.force {
        return Err(fail(
            "",
            format!("{} already exists", args.file.display()),
            Some("pass --force to overwrite it".into()),
        ));
    }
    let name = args
        .file
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })
        .unwrap_or_else(|| "my_metric".to_string());
    let text = metric_config(&name, &args.collector, None, &args.detector);
    if let Some(parent) = args.file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail("", format!("cannot create {}: {e}", parent.display()), None))?;
    }
    std::fs::write(&args.file, text).map_err(|e| {
        fail(
            "",
            format!("cannot write {}: {e}", args.file.display()),
            None,
        )
    })?;
    println!(
        "wrote {} ({} collector, {} detector); check it with `dtk validate {}`",
        args.file.display(),
        args.collector,
        args.detector,
        args.file.display()
    );
    Ok(OK)
}
