//! `dtk list-collectors|list-detectors|list-alerters|list-metrics`.

use detectk_core::registry::Component;
use detectk_core::{ConfigError, Registry};
use serde_json::json;

use crate::args::Format;
use crate::cli::ListMetricsArgs;
use crate::commands::{INVALID, OK, execution_time, prepare, print_config_errors};

/// Lists the registered types of one kind, and the known types compiled out of this build.
pub fn list_types(registry: &Registry, component: Component, format: Format) -> u8 {
    let names = registry.names(component);
    let missing = registry.compiled_out(component);
    match format {
        Format::Json => {
            let doc = json!({
                "kind": component,
                "available": names.iter().map(|n| json!({
                    "type": n,
                    "description": registry.description(component, n),
                })).collect::<Vec<_>>(),
                "not_in_this_build": missing.iter().map(|k| json!({
                    "type": k.name, "crate": k.crate_name, "feature": k.feature,
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => {
            let width = names
                .iter()
                .map(String::len)
                .chain(missing.iter().map(|k| k.name.len()))
                .max()
                .unwrap_or(0);
            for name in &names {
                println!(
                    "{name:width$}  {}",
                    registry.description(component, name).unwrap_or("")
                );
            }
            for k in &missing {
                println!(
                    "{:width$}  (not in this build: crate {}, dtk feature `{}`)",
                    k.name,
                    k.crate_name.unwrap_or("?"),
                    k.feature.unwrap_or("?")
                );
            }
        }
    }
    OK
}

/// Lists the metrics of the selection.
pub fn list_metrics(registry: &Registry, args: &ListMetricsArgs) -> Result<u8, ConfigError> {
    let prepared = prepare(registry, &args.selection, execution_time(None)?)?;
    match args.format {
        Format::Json => {
            let metrics: Vec<_> = prepared
                .plans
                .iter()
                .map(|p| {
                    json!({
                        "name": p.config.name,
                        "description": p.config.description,
                        "tags": p.config.tags,
                        "file": p.config.file.as_ref().map(|f| f.display().to_string()),
                        "collector": p.config.collector.kind,
                        "interval": p.config.schedule.interval.as_str(),
                        "detectors": p.detectors.iter().map(|d| json!({"id": d.info.id, "type": d.info.kind})).collect::<Vec<_>>(),
                        "alerter": p.alerts.first().map(|a| a.kind.clone()),
                        "alerters": p.alerts.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"metrics": metrics})).unwrap_or_default()
            );
        }
        Format::Text => {
            print_config_errors(&prepared.errors);
            for p in &prepared.plans {
                let tags = if p.config.tags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", p.config.tags.join(", "))
                };
                let detectors: Vec<String> =
                    p.detectors.iter().map(|d| d.info.kind.clone()).collect();
                println!(
                    "{}{tags}  every {}  {} -> {}  {}",
                    p.config.name,
                    p.config.schedule.interval,
                    p.config.collector.kind,
                    detectors.join("+"),
                    p.config.description.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(if prepared.errors.is_empty() {
        OK
    } else {
        INVALID
    })
}
