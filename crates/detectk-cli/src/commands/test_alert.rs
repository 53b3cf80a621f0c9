//! `dtk test-alert CONFIG`: send a sample message through each of the metric's alerters.

use chrono::Utc;
use detectk_core::alert::sample_message;
use detectk_core::config::load_file;
use detectk_core::pipeline::build_plan;
use detectk_core::{ConfigError, ConfigIssue, Error, Registry};

use crate::cli::TestAlertArgs;
use crate::commands::{FAILED, OK};
use crate::render::error_text;

/// Runs `dtk test-alert`; returns the exit code.
pub async fn test_alert(registry: &Registry, args: &TestAlertArgs) -> Result<u8, ConfigError> {
    let options = crate::project::load_options(std::slice::from_ref(&args.config), Utc::now())?;
    let loaded = load_file(&args.config, &options)?;
    let plan = build_plan(registry, loaded.config)?;
    if plan.alerts.is_empty() {
        return Err(ConfigError::single(
            ConfigIssue::new("alerter", "this metric has no alerter")
                .with_hint("add an `alerter:` section (type slack, email, telegram, pagerduty, console, ...)")
                .in_file(&args.config),
        ));
    }
    let detectors: Vec<_> = plan.detectors.iter().map(|d| d.info.clone()).collect();
    let mut code = OK;
    for alert in &plan.alerts {
        let message = sample_message(&plan.config.name, &alert.settings, &detectors, Utc::now());
        match alert.alerter.send(&message).await {
            Ok(()) => println!(
                "sent a test message for `{}` via {}",
                plan.config.name,
                alert.alerter.describe()
            ),
            Err(source) => {
                eprint!(
                    "{}",
                    error_text(&Error::Alert {
                        metric: plan.config.name.clone(),
                        source
                    })
                );
                code = FAILED;
            }
        }
    }
    Ok(code)
}
