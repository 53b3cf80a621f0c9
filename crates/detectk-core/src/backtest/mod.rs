//! Backtesting: replay a metric's detectors and alert policy over its history and
//! score them against labelled incident windows (what `dtk backtest` and `dtk tune`
//! do). Nothing is written and nothing is sent.
//!
//! The replay uses the production code path: the same [`crate::Detector::detect`]
//! calls as `dtk backfill` and the same alert policy (`alert::decide`) as the alert step of
//! `dtk run` (see [`replay`]). Scores are event-level (see [`score`]).

pub mod labels;
pub mod replay;
pub mod score;
pub mod tune;

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::alert::{AlertSettings, DetectorInfo};
use crate::error::{ConfigError, ConfigIssue, Error};
use crate::model::{DataPoint, DetectionRecord};
use crate::pipeline::{
    MetricPlan, PlannedDetector, Runner, batches, floor_to_interval, history_span,
    newest_complete_end,
};
use crate::traits::{AlertKind, DetectionContext, LoadDatapoints};

pub use labels::{IncidentWindow, Labels, LabelsError, metric_name_for_key};
pub use replay::{
    ReplayedAlert, ReplayedHold, detect_range, replay_policy, replay_policy_explained,
};
pub use score::{Scores, Tally, score_series};

/// Seconds in a week, for alerts per week.
const WEEK_SECONDS: f64 = 7.0 * 86_400.0;

/// What to replay.
#[derive(Debug, Clone, Copy)]
pub struct BacktestOptions {
    /// First point to score (default `schedule.start_time`).
    pub from: Option<DateTime<Utc>>,
    /// End of the range, exclusive (default `schedule.end_time`, else the newest
    /// complete interval at `execution_time`).
    pub to: Option<DateTime<Utc>>,
    /// Collect the history from the source into memory instead of reading storage.
    pub collect: bool,
    /// The time the replay runs at (detectors' execution time; default end of range).
    pub execution_time: DateTime<Utc>,
}

/// A detector's verdict on one point, for the per-point CSV.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Verdict {
    /// `anomaly`, `normal` or `skipped`.
    pub state: &'static str,
    /// Anomaly score.
    pub score: Option<f64>,
    /// Lower bound of the expected range.
    pub lower_bound: Option<f64>,
    /// Upper bound of the expected range.
    pub upper_bound: Option<f64>,
}

/// One replayed point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PointRow {
    /// The point's timestamp.
    pub timestamp: DateTime<Utc>,
    /// Its value (`None` when missing).
    pub value: Option<f64>,
    /// One verdict per detector, in config order.
    pub verdicts: Vec<Verdict>,
    /// Whether the policy sent an anomaly alert for this point.
    pub alert_sent: bool,
    /// Whether the point lies in a labelled incident window.
    pub in_window: bool,
}

/// How one detector scored.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DetectorScore {
    /// ID, type and params.
    #[serde(flatten)]
    pub info: DetectorInfo,
    /// Counts (positives are anomaly verdicts).
    pub tally: Tally,
    /// Ratios.
    pub scores: Scores,
}

/// How the alert decision scored.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AlertScore {
    /// The policy replayed.
    pub settings: AlertSettings,
    /// Anomaly alerts and recovery messages the policy sent.
    pub alerts: Vec<ReplayedAlert>,
    /// Counts (positives are points with an anomaly alert).
    pub tally: Tally,
    /// Ratios.
    pub scores: Scores,
}

/// The backtest of one metric.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MetricBacktest {
    /// Metric name.
    pub metric: String,
    /// The labels key the windows came from (`None`: the metric is not labelled).
    pub labels_key: Option<String>,
    /// First scored point (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// The labelled windows.
    pub windows: Vec<IncidentWindow>,
    /// Points in the range (missing ones included).
    pub points: usize,
    /// Per detector, in config order.
    pub detectors: Vec<DetectorScore>,
    /// The alert decision.
    pub alert: AlertScore,
    /// Things worth telling the user.
    pub notes: Vec<String>,
    /// Every point of the range with its verdicts (for `--csv`).
    #[serde(skip)]
    pub rows: Vec<PointRow>,
}

fn range_issue(plan: &MetricPlan, field: &str, message: &str, hint: &str) -> Error {
    let mut issue = ConfigIssue::new(field, message).with_hint(hint);
    if let Some(f) = &plan.config.file {
        issue = issue.in_file(f);
    }
    Error::Config(ConfigError::single(issue))
}

/// The replayed range `[from, to)`, aligned to the metric's interval.
pub fn resolve_range(
    plan: &MetricPlan,
    options: &BacktestOptions,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let schedule = &plan.config.schedule;
    let interval = schedule.interval.delta();
    let Some(from) = options.from.or(schedule.start_time) else {
        return Err(range_issue(
            plan,
            "schedule.start_time",
            "the backtest needs a start: neither --from nor schedule.start_time is set",
            "pass --from TIME or set schedule.start_time",
        ));
    };
    let to = options.to.or(schedule.end_time).unwrap_or_else(|| {
        // With no delay the subtraction cannot overflow.
        newest_complete_end(options.execution_time, interval, TimeDelta::zero())
            .unwrap_or_else(|| floor_to_interval(options.execution_time, interval))
    });
    let (from, to) = (
        floor_to_interval(from, interval),
        floor_to_interval(to, interval),
    );
    if to <= from {
        return Err(range_issue(
            plan,
            "--to",
            &format!("the range is empty: {from} .. {to}"),
            "the end (--to or schedule.end_time) must be after the start",
        ));
    }
    Ok((from, to))
}

/// The metric's points from the history its detectors need before `from` up to `to`:
/// read from storage, or collected from the source (`collect`). Writes nothing.
pub async fn load_series(
    plan: &MetricPlan,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    collect: bool,
    execution_time: DateTime<Utc>,
) -> Result<(Vec<DataPoint>, Vec<String>), Error> {
    let metric = plan.config.name.as_str();
    let interval = plan.config.schedule.interval.delta();
    let span = plan
        .detectors
        .iter()
        .map(|d| history_span(&d.detector.window(), interval))
        .max()
        .unwrap_or_else(TimeDelta::zero);
    let load_from = from - span;
    if !collect {
        let storage = plan.storage.as_ref();
        let op = LoadDatapoints::new(metric, load_from, to);
        let points = storage
            .load_datapoints(&op)
            .await
            .map_err(|source| Error::Storage {
                metric: metric.to_string(),
                source: Box::new(source),
            })?;
        return Ok((points, Vec::new()));
    }
    let runner = Runner::new();
    let mut points = Vec::new();
    let mut notes = Vec::new();
    let batch = TimeDelta::days(i64::from(plan.config.schedule.batch_load_days.max(1)));
    for (a, b) in batches(load_from, to, batch) {
        let (chunk, chunk_notes) = runner.collect(plan, a, b, execution_time).await?;
        points.extend(chunk);
        notes.extend(chunk_notes);
    }
    Ok((points, notes))
}

/// Detects `[from, to)` of `series` with each detector; records sorted by timestamp,
/// detectors in config order within a timestamp.
pub fn detect_all(
    metric: &str,
    detectors: &[PlannedDetector],
    series: &[DataPoint],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    ctx: &DetectionContext,
) -> Result<Vec<Vec<DetectionRecord>>, Error> {
    let first = series.partition_point(|p| p.timestamp < from);
    let mut out = Vec::with_capacity(detectors.len());
    for d in detectors {
        let detections =
            detect_range(d.detector.as_ref(), series, from, to, ctx).map_err(|message| {
                Error::Detect {
                    metric: metric.to_string(),
                    detector_id: d.info.id.clone(),
                    message,
                }
            })?;
        out.push(
            detections
                .into_iter()
                .zip(&series[first..])
                .map(|(detection, point)| DetectionRecord {
                    metric: metric.to_string(),
                    detector_id: d.info.id.clone(),
                    detector_type: d.info.kind.clone(),
                    detector_params: d.info.params.clone(),
                    detection,
                    alert_sent: false,
                    context: point.context.clone(),
                })
                .collect(),
        );
    }
    Ok(out)
}

/// Interleaves per-detector detections into one list sorted by timestamp.
pub fn merge_by_time(per_detector: &[Vec<DetectionRecord>]) -> Vec<DetectionRecord> {
    let mut all: Vec<DetectionRecord> = per_detector.iter().flatten().cloned().collect();
    // Stable: detectors keep config order within a timestamp.
    all.sort_by_key(|r| r.detection.timestamp);
    all
}

/// The alert settings the backtest replays (those of the metric's first alerter), and
/// a note when they are not the metric's own.
pub fn replayed_settings(plan: &MetricPlan) -> (AlertSettings, Option<String>) {
    match plan.alerts.first() {
        Some(a) if a.settings.enabled => (a.settings.clone(), None),
        Some(a) => (
            a.settings.clone(),
            Some("alerter.enabled is false: the policy is replayed as if enabled".into()),
        ),
        None => (
            AlertSettings::default(),
            Some("no alerter configured: the default alert policy is replayed".into()),
        ),
    }
}

/// Backtests one metric (see the module docs). `labels_path` only names the file in errors.
pub async fn backtest_metric(
    plan: &MetricPlan,
    labels: &Labels,
    labels_path: &Path,
    options: &BacktestOptions,
) -> Result<MetricBacktest, Error> {
    let metric = plan.config.name.as_str();
    let (from, to) = resolve_range(plan, options)?;
    let labels_key = plan
        .config
        .metadata
        .get("labels_key")
        .and_then(|v| v.as_str());
    let found = labels
        .find(metric, labels_key, labels_path)
        .map_err(|e| Error::Data {
            metric: metric.to_string(),
            message: e.to_string(),
            hint: None,
        })?;
    let (series, mut notes) =
        load_series(plan, from, to, options.collect, options.execution_time).await?;
    let (labels_key, windows) = match found {
        Some((k, w)) => (Some(k.to_string()), w.to_vec()),
        None => {
            notes.push(format!(
                "no labelled windows for `{metric}` in {}: every alert counts as a false alarm",
                labels_path.display()
            ));
            (None, Vec::new())
        }
    };
    let (settings, note) = replayed_settings(plan);
    notes.extend(note);
    let mut result = evaluate(plan, &series, from, to, settings, &windows, options)?;
    result.labels_key = labels_key;
    result.notes = notes;
    Ok(result)
}

/// Detects, replays and scores `series` over `[from, to)` (the synchronous heart of
/// [`backtest_metric`], for embedders that hold the series already).
pub fn evaluate(
    plan: &MetricPlan,
    series: &[DataPoint],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    settings: AlertSettings,
    windows: &[IncidentWindow],
    options: &BacktestOptions,
) -> Result<MetricBacktest, Error> {
    let metric = plan.config.name.as_str();
    let interval = plan.config.schedule.interval.delta();
    let ctx = DetectionContext {
        execution_time: options.execution_time.min(to).max(from),
        interval,
    };
    let per_detector = detect_all(metric, &plan.detectors, series, from, to, &ctx)?;
    let ids: Vec<String> = plan.detectors.iter().map(|d| d.info.id.clone()).collect();
    let merged = merge_by_time(&per_detector);
    let alerts = replay_policy(&settings, &ids, &merged, interval, None, None);
    let weeks = (to - from).num_seconds() as f64 / WEEK_SECONDS;

    let detectors = plan
        .detectors
        .iter()
        .zip(&per_detector)
        .map(|(d, records)| {
            let scored: Vec<(DateTime<Utc>, bool)> = records
                .iter()
                .filter(|r| r.detection.skipped.is_none())
                .map(|r| (r.detection.timestamp, r.detection.is_anomaly))
                .collect();
            let tally = score_series(&scored, windows, weeks);
            DetectorScore {
                info: d.info.clone(),
                tally,
                scores: tally.scores(),
            }
        })
        .collect();

    let first = series.partition_point(|p| p.timestamp < from);
    let end = series.partition_point(|p| p.timestamp < to);
    let in_range = &series[first..end];
    let alert_points: std::collections::HashSet<DateTime<Utc>> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Anomaly)
        .map(|a| a.timestamp)
        .collect();
    let rows: Vec<PointRow> = in_range
        .iter()
        .enumerate()
        .map(|(i, p)| PointRow {
            timestamp: p.timestamp,
            value: p.value,
            verdicts: per_detector
                .iter()
                .map(|records| verdict(&records[i].detection))
                .collect(),
            alert_sent: alert_points.contains(&p.timestamp),
            in_window: windows.iter().any(|w| w.contains(p.timestamp)),
        })
        .collect();
    let scored: Vec<(DateTime<Utc>, bool)> = rows
        .iter()
        .filter(|r| r.verdicts.iter().any(|v| v.state != "skipped"))
        .map(|r| (r.timestamp, r.alert_sent))
        .collect();
    let tally = score_series(&scored, windows, weeks);
    Ok(MetricBacktest {
        metric: metric.to_string(),
        labels_key: None,
        from,
        to,
        windows: windows.to_vec(),
        points: rows.len(),
        detectors,
        alert: AlertScore {
            settings,
            alerts,
            tally,
            scores: tally.scores(),
        },
        notes: Vec::new(),
        rows,
    })
}

fn verdict(d: &crate::model::Detection) -> Verdict {
    Verdict {
        state: if d.skipped.is_some() {
            "skipped"
        } else if d.is_anomaly {
            "anomaly"
        } else {
            "normal"
        },
        score: d.score,
        lower_bound: d.lower_bound,
        upper_bound: d.upper_bound,
    }
}
