//! The fleet's YAML files: `detectk_project.yaml` and one metric config per series,
//! written the way Python detectk users write them (`type: sql` with a SQLAlchemy
//! `connection_string`, a `detectors:` list, a `schedule`).

use std::path::Path;

use crate::error::BenchError;
use crate::manifest::{
    AlerterChoice, METRICS_DIR, Manifest, SOURCE_FILE, STORAGE_FILE, StorageChoice,
};

/// The project marker.
const PROJECT_TEXT: &str = "# A generated fleet-bench project (crates/detectk-bench). dtk finds this directory\n# from any metric config below it.\nversion: 1\n";

/// The config of metric `id`.
pub fn metric_yaml(manifest: &Manifest, id: u32) -> String {
    let name = manifest.metric_name(id);
    let start = manifest.start.format("%Y-%m-%d %H:%M:%S");
    let storage = match &manifest.storage {
        StorageChoice::Sqlite => {
            format!("    connection_string: \"sqlite:///../{STORAGE_FILE}\"\n")
        }
        StorageChoice::Postgres { url, schema } => {
            format!("    connection_string: \"{url}\"\n    schema: {schema}\n")
        }
    };
    let alerter = match &manifest.alerter {
        AlerterChoice::None => String::new(),
        AlerterChoice::Webhook { url } => format!(
            "alerter:\n  type: webhook\n  params:\n    url: \"{url}\"\n  conditions:\n    consecutive_anomalies: 1\n    cooldown_minutes: 60\n"
        ),
    };
    // Python detectk's way to a seasonal feature: the query returns it as a column.
    let (hour_column, context_columns, seasonal) = if manifest.context_column {
        (
            ", CAST(strftime('%H', ts) AS INTEGER) AS hour_of_day",
            "    context_columns: [hour_of_day]\n",
            "      seasonal_features: [hour_of_day]\n",
        )
    } else {
        ("", "", "")
    };
    format!(
        r#"name: {name}
description: Fleet benchmark series {id}
tags: [fleet-bench]
collector:
  type: sql
  params:
    connection_string: "sqlite:///../{SOURCE_FILE}"
    query: |
      SELECT ts AS period_time, value{hour_column}
      FROM series_points
      WHERE series_id = {id}
        AND ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}'
      ORDER BY ts
    timestamp_column: period_time
    value_column: value
{context_columns}storage:
  enabled: true
  type: sql
  params:
{storage}detectors:
  - type: mad
    params:
      window_size: "30 days"
{seasonal}      n_sigma: 3.0
  - type: zscore
    params:
      window_size: "7 days"
      n_sigma: 3.0
{alerter}schedule:
  interval: "10 minutes"
  start_time: "{start}"
"#
    )
}

/// Writes `detectk_project.yaml` and every metric config into `dir`.
pub fn write_configs(manifest: &Manifest, dir: &Path) -> Result<(), BenchError> {
    let project = dir.join(detectk_project_file());
    std::fs::write(&project, PROJECT_TEXT).map_err(|e| BenchError::io(&project, e))?;
    let metrics = dir.join(METRICS_DIR);
    std::fs::create_dir_all(&metrics).map_err(|e| BenchError::io(&metrics, e))?;
    for id in 1..=manifest.metrics {
        let path = manifest.metric_path(dir, id);
        std::fs::write(&path, metric_yaml(manifest, id)).map_err(|e| BenchError::io(&path, e))?;
    }
    Ok(())
}

/// File name of the project marker.
fn detectk_project_file() -> &'static str {
    "detectk_project.yaml"
}
