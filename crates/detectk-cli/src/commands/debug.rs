//! `dtk debug [PATH]`: connect to every source, storage and alerter endpoint the
//! selected configs use, each once, and report it as ok (with latency) or the error.
//! Sends no alert and writes nothing.

use std::time::Instant;

use chrono::Utc;
use detectk_core::pipeline::MetricPlan;
use detectk_core::{ConfigError, Error, Registry};
use serde::Serialize;
use serde_json::json;

use crate::args::{Format, Selection};
use crate::cli::DebugArgs;
use crate::commands::{FAILED, INVALID, OK, prepare, print_config_errors};
use crate::render::{causes, issue_json};

/// What an endpoint is to the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Role {
    Source,
    Storage,
    Alerter,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Storage => "storage",
            Role::Alerter => "alerter",
        }
    }
}

/// One endpoint, the metrics using it, and how its check went.
#[derive(Debug, Serialize)]
struct Check {
    role: Role,
    target: String,
    metrics: Vec<String>,
    ok: bool,
    latency_ms: u64,
    detail: Option<String>,
    error: Option<String>,
    causes: Vec<String>,
    hint: Option<String>,
}

/// The endpoints of `plans`, deduplicated by role and description: (role, target, plan index, metrics).
fn endpoints(plans: &[MetricPlan]) -> Vec<(Role, String, usize, Vec<String>)> {
    let mut out: Vec<(Role, String, usize, Vec<String>)> = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let mut targets = vec![
            (Role::Source, plan.collector.describe()),
            (Role::Storage, plan.storage.describe()),
        ];
        for a in plan.alerts.iter().filter(|a| a.settings.enabled) {
            targets.push((Role::Alerter, a.alerter.describe()));
        }
        for (role, target) in targets {
            let name = plan.config.name.clone();
            match out.iter_mut().find(|(r, t, ..)| *r == role && *t == target) {
                Some((.., metrics)) => metrics.push(name),
                None => out.push((role, target, i, vec![name])),
            }
        }
    }
    out
}

/// Checks one endpoint of `plan`.
async fn check(role: Role, target: String, plan: &MetricPlan, metrics: Vec<String>) -> Check {
    let started = Instant::now();
    let metric = plan.config.name.clone();
    let result: Result<Option<String>, Error> = match role {
        Role::Source => plan
            .collector
            .check()
            .await
            .map_err(|source| Error::Collect {
                metric,
                source: Box::new(source),
            }),
        Role::Storage => plan.storage.check().await.map_err(|source| Error::Storage {
            metric,
            source: Box::new(source),
        }),
        Role::Alerter => match plan.alerts.iter().find(|a| a.alerter.describe() == target) {
            Some(a) => a
                .alerter
                .check()
                .await
                .map_err(|source| Error::Alert { metric, source }),
            None => Ok(None),
        },
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(detail) => Check {
            role,
            target,
            metrics,
            ok: true,
            latency_ms,
            detail,
            error: None,
            causes: Vec::new(),
            hint: None,
        },
        Err(e) => {
            // The metric-level line ("collecting data failed") says nothing here: show the cause.
            let mut chain = causes(&e);
            let error = if chain.is_empty() {
                e.to_string()
            } else {
                chain.remove(0)
            };
            Check {
                role,
                target,
                metrics,
                ok: false,
                latency_ms,
                detail: None,
                error: Some(error),
                causes: chain,
                hint: e.hint(),
            }
        }
    }
}

/// Runs `dtk debug`; returns the exit code.
pub async fn debug(registry: &Registry, args: &DebugArgs) -> Result<u8, ConfigError> {
    let selection = Selection {
        paths: args.paths.clone(),
        select: args.select.clone(),
        exclude: args.exclude.clone(),
    };
    let prepared = prepare(registry, &selection, Utc::now())?;
    let mut checks = Vec::new();
    for (role, target, i, metrics) in endpoints(&prepared.plans) {
        checks.push(check(role, target, &prepared.plans[i], metrics).await);
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let code = if failed > 0 {
        FAILED
    } else if !prepared.errors.is_empty() {
        INVALID
    } else {
        OK
    };
    match args.format {
        Format::Json => {
            let doc = json!({
                "ok": code == OK,
                "checks": checks,
                "config_errors": prepared.errors.iter().flat_map(|e| e.issues.iter().map(issue_json)).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => {
            for c in &checks {
                let status = if c.ok { "ok    " } else { "FAILED" };
                let detail = c
                    .detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                println!(
                    "{status} {:<8}{} [{} ms]{detail}  used by: {}",
                    c.role.label(),
                    c.target,
                    c.latency_ms,
                    c.metrics.join(", ")
                );
                if let Some(error) = &c.error {
                    println!("  error: {error}");
                    for cause in &c.causes {
                        println!("  caused by: {cause}");
                    }
                    if let Some(hint) = &c.hint {
                        println!("  hint: {hint}");
                    }
                }
            }
            print_config_errors(&prepared.errors);
            println!(
                "{} endpoint(s) checked: {} ok, {failed} failed; no alert was sent",
                checks.len(),
                checks.len() - failed
            );
        }
    }
    Ok(code)
}
