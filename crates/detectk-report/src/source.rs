//! Reading a metric's data for a report: every storage call of this crate is here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use detectk_core::pipeline::MetricPlan;
use detectk_core::traits::{AlertKind, AlertStatus, LoadAlerts, LoadDatapoints, LoadDetections};

use crate::error::ReportError;
use crate::model::{MetricData, Period};

/// Reads `plan`'s points and detections of `period` and its newest point's time from
/// the metric's storage (read only).
pub async fn load_metric(plan: &MetricPlan, period: &Period) -> Result<MetricData, ReportError> {
    let name = plan.config.name.as_str();
    let storage = plan.storage.as_ref();
    let err = |source| ReportError::Storage {
        metric: name.to_string(),
        source: Box::new(source),
    };
    let points = storage
        .load_datapoints(&LoadDatapoints::new(name, period.from, period.to))
        .await
        .map_err(err)?;
    let detections = storage
        .load_detections(&LoadDetections::new(name, period.from, period.to))
        .await
        .map_err(err)?;
    let last_point = storage.last_datapoint_time(name).await.map_err(err)?;
    let schedule = &plan.config.schedule;
    let mut data = MetricData::new(name, schedule.interval.delta());
    data.description = plan.config.description.clone();
    data.delay = schedule
        .delay
        .as_ref()
        .map(|d| d.delta())
        .unwrap_or_default();
    data.detector_ids = plan.detectors.iter().map(|d| d.info.id.clone()).collect();
    // The policy of the metric's first alerter (its `alerter:`) explains held alerts.
    data.alert = plan.alerts.first().map(|a| a.settings.clone());
    data.points = points;
    data.detections = detections;
    data.last_point = last_point;
    if let Some(alert) = plan.alerts.first() {
        data.held_by_user = held_by_user(plan, &alert.state_key, period).await;
    }
    Ok(data)
}

/// The anomaly alerts of `state_key` that a snooze or an ack held back in `period`,
/// with the reason recorded; none (and a warning) when the alert ledger cannot be read,
/// which only loses the reason, not the report.
async fn held_by_user(
    plan: &MetricPlan,
    state_key: &str,
    period: &Period,
) -> BTreeMap<DateTime<Utc>, String> {
    let rows = plan
        .storage
        .load_alerts(&LoadAlerts::new(state_key, period.from, period.to))
        .await;
    match rows {
        Ok(rows) => rows
            .into_iter()
            .filter(|r| r.kind == AlertKind::Anomaly && r.status == AlertStatus::Suppressed)
            .map(|r| (r.timestamp, r.error.unwrap_or_else(|| "held back".into())))
            .collect(),
        Err(e) => {
            tracing::warn!(
                metric = plan.config.name.as_str(),
                "could not read the alert ledger for suppressed alerts: {e}"
            );
            BTreeMap::new()
        }
    }
}
