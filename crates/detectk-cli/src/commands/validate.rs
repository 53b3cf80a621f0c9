//! `dtk validate`: load and build every selected config; connect to nothing.

use detectk_core::Registry;
use serde_json::json;

use crate::args::Format;
use crate::cli::ValidateArgs;
use crate::commands::{INVALID, OK, execution_time, prepare, print_config_errors};
use crate::render::issue_json;

/// Runs `dtk validate`; returns the exit code.
pub fn validate(registry: &Registry, args: &ValidateArgs) -> Result<u8, detectk_core::ConfigError> {
    let prepared = prepare(registry, &args.selection, execution_time(None)?)?;
    // The project's on_error channel is built (not contacted) like the metrics' alerters.
    crate::on_error::channel(registry, &args.selection.paths)?;
    let code = if prepared.errors.is_empty() {
        OK
    } else {
        INVALID
    };
    match args.format {
        Format::Json => {
            let mut metrics: Vec<serde_json::Value> = prepared
                .plans
                .iter()
                .map(|p| {
                    json!({
                        "name": p.config.name,
                        "file": p.config.file.as_ref().map(|f| f.display().to_string()),
                        "valid": true,
                        "tags": p.config.tags,
                        "collector": p.config.collector.kind,
                        "storage": p.config.storage.kind,
                        "interval": p.config.schedule.interval.as_str(),
                        "detectors": p.detectors.iter().map(|d| json!({
                            "id": d.info.id,
                            "type": d.info.kind,
                            "params": d.info.params,
                        })).collect::<Vec<_>>(),
                        "alerter": p.alerts.first().map(|a| json!({"type": a.kind, "enabled": a.settings.enabled})),
                        "alerters": p.alerts.iter().map(|a| json!({"name": a.name, "type": a.kind, "enabled": a.settings.enabled})).collect::<Vec<_>>(),
                        "warnings": p.warnings.iter().map(issue_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            for e in &prepared.errors {
                let file = e
                    .issues
                    .first()
                    .and_then(|i| i.file.as_ref())
                    .map(|f| f.display().to_string());
                metrics.push(json!({
                    "file": file,
                    "valid": false,
                    "errors": e.issues.iter().map(issue_json).collect::<Vec<_>>(),
                }));
            }
            let doc = json!({
                "valid": prepared.errors.is_empty(),
                "metrics": metrics,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => {
            for p in &prepared.plans {
                let detectors: Vec<String> = p
                    .detectors
                    .iter()
                    .map(|d| format!("{} {}", d.info.kind, d.info.id))
                    .collect();
                let file = p
                    .config
                    .file
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default();
                println!("ok    {} ({file}): {}", p.config.name, detectors.join(", "));
                crate::commands::print_warnings(&p.warnings);
            }
            print_config_errors(&prepared.errors);
            let total = prepared.plans.len() + prepared.errors.len();
            println!("{} of {total} config(s) valid", prepared.plans.len());
        }
    }
    Ok(code)
}
