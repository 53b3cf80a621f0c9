//! `run` and `backfill`: one code path that collects a range, stores it, and detects it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::alert::{AlertJob, AlertReport};
use crate::config::template::format_time;
use crate::duration::Window;
use crate::error::{BackendError, ConfigError, ConfigIssue, Error};
use crate::layers::DryRunStorage;
use crate::model::{DataPoint, DetectionRecord};
use crate::pipeline::align::{align, notes as align_notes};
use crate::pipeline::carry::{Carried, history_start};
use crate::pipeline::grid::{
    batch_size, batches, floor_to_interval, neg, newest_complete_end, shifted,
};
use crate::pipeline::mapping::{fill_missing, map_table};
use crate::pipeline::plan::MetricPlan;
use crate::pipeline::query::render_collect_query;
use crate::traits::{DetectionContext, LoadDatapoints, Storage};

/// Options of `dtk run`.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// The run's time (default now); only intervals complete by then are collected.
    pub execution_time: DateTime<Utc>,
    /// Collect and detect, but write nothing and send nothing; report what would be sent.
    pub dry_run: bool,
}

/// Options of `dtk backfill`.
#[derive(Debug, Clone, Copy)]
pub struct BackfillOptions {
    /// Caps the range at the newest complete interval at this time.
    pub execution_time: DateTime<Utc>,
    /// Show the plan only.
    pub dry_run: bool,
    /// Ignore the checkpoint and reload the whole range.
    pub force: bool,
    /// Run detectors on the loaded points.
    pub detect: bool,
}

/// One collected range.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct RangeReport {
    /// Range start (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Range end (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Points stored (missing ones included).
    pub points: usize,
    /// Of those, missing points.
    pub missing: usize,
    /// Detections made.
    pub detections: usize,
    /// Anomalous detections.
    pub anomalies: Vec<DetectionRecord>,
    /// Things worth telling the user (NULL values, rows outside the range, ...).
    pub notes: Vec<String>,
}

impl RangeReport {
    fn absorb(&mut self, other: RangeReport) {
        self.from = self.from.or(other.from);
        self.to = other.to.or(self.to);
        self.points += other.points;
        self.missing += other.missing;
        self.detections += other.detections;
        self.anomalies.extend(other.anomalies);
        self.notes.extend(other.notes);
    }
}

/// What `run` did for one metric.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RunReport {
    /// Metric name.
    pub metric: String,
    /// The newest complete interval's start, the point alerts are about.
    pub newest: DateTime<Utc>,
    /// What was collected and detected.
    pub range: RangeReport,
    /// The alert decision, when the metric has an enabled alerter.
    pub alert: Option<AlertReport>,
    /// True for a dry run (nothing written, nothing sent).
    pub dry_run: bool,
    /// The alert could not be delivered ([`Error::Alert`]): everything else of the run
    /// is done and reported, the failure is recorded, and a later run retries it. The
    /// caller counts the metric as failed.
    #[serde(skip)]
    pub alert_failure: Option<std::sync::Arc<Error>>,
    /// Set when the metric was not processed, and why (e.g. "held by another worker":
    /// its run lease is held elsewhere, see [`crate::fleet`]). A skipped metric is
    /// neither ok nor failed; `newest` is then the run's execution time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Alerts of `digest: true` alerters, decided but not yet sent: the caller passes
    /// those of every metric of the run to [`crate::alert::send_digests`].
    #[serde(skip)]
    pub digest: Vec<crate::alert::DigestItem>,
}

impl RunReport {
    /// The report of a metric that was not processed, and why.
    pub fn skipped(metric: &str, execution_time: DateTime<Utc>, reason: &str) -> Self {
        Self {
            metric: metric.to_string(),
            newest: execution_time,
            range: RangeReport::default(),
            alert: None,
            dry_run: false,
            alert_failure: None,
            skipped: Some(reason.to_string()),
            digest: Vec::new(),
        }
    }
}

/// One backfill batch, for progress display.
#[derive(Debug, Clone, Copy, Serialize)]
#[non_exhaustive]
pub struct BatchProgress {
    /// 1-based batch number.
    pub index: usize,
    /// Number of batches in this invocation.
    pub total: usize,
    /// Batch range start.
    pub from: DateTime<Utc>,
    /// Batch range end (exclusive).
    pub to: DateTime<Utc>,
}

/// What `backfill` did (or, in a dry run, would do) for one metric.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BackfillReport {
    /// Metric name.
    pub metric: String,
    /// Configured range start.
    pub start: DateTime<Utc>,
    /// Range end (exclusive), capped at the newest complete interval.
    pub end: DateTime<Utc>,
    /// Where this invocation started (after a checkpoint, when resuming).
    pub resumed_from: Option<DateTime<Utc>>,
    /// The batches of this invocation.
    pub batches: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// What was collected and detected.
    pub range: RangeReport,
    /// True for `--dry-run`.
    pub dry_run: bool,
}

/// What a fleet already read for one metric under its run lease, so that the run
/// does not ask again: its newest stored point and its detectors' newest detections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    /// The newest stored point (missing ones included), if any.
    pub(crate) last_point: Option<DateTime<Utc>>,
    /// Newest detection time per detector ID (detectors without one are absent).
    pub(crate) last_detections: HashMap<String, DateTime<Utc>>,
}

/// Runs metrics; remembers which storages were migrated in this process.
#[derive(Debug, Default)]
pub struct Runner {
    migrated: Mutex<HashSet<String>>,
}

/// History needed before a detector's first scored point, what a run loads (saturating:
/// windows beyond the validated limits give `TimeDelta::MAX`, which the checked
/// subtraction rejects).
pub fn history_span(window: &Window, interval: TimeDelta) -> TimeDelta {
    match window {
        Window::Span(d) => d.delta(),
        // Missing points may not count toward a point window: load twice as many intervals.
        Window::Points(n) => Window::Points(n.saturating_mul(2)).lookback(interval),
    }
}

impl Runner {
    /// A new runner.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) async fn migrate(&self, metric: &str, storage: &dyn Storage) -> Result<(), Error> {
        let key = storage.describe();
        if self
            .migrated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Ok(());
        }
        storage
            .migrate()
            .await
            .map_err(|source| storage_error(metric, source))?;
        self.migrated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(())
    }

    /// `dtk run` for one metric: collect from the checkpoint to the newest complete
    /// interval, store, detect every new point, and decide on the alert.
    pub async fn run(&self, plan: &MetricPlan, options: RunOptions) -> Result<RunReport, Error> {
        self.run_known(plan, options, None).await
    }

    /// [`Runner::run`] with the newest point and detections already read (`known`,
    /// read under the metric's run lease; ignored by a dry run).
    pub(crate) async fn run_known(
        &self,
        plan: &MetricPlan,
        options: RunOptions,
        known: Option<Known>,
    ) -> Result<RunReport, Error> {
        let known = known.filter(|_| !options.dry_run);
        let config = &plan.config;
        let metric = config.name.as_str();
        let interval = config.schedule.interval.delta();
        let delay = config
            .schedule
            .delay
            .as_ref()
            .map(|d| d.delta())
            .unwrap_or_else(TimeDelta::zero);
        let end = newest_complete_end(options.execution_time, interval, delay);
        let end = match end {
            Some(end) => end,
            None => shifted(
                metric,
                options.execution_time,
                neg(delay),
                "the newest interval",
            )?,
        };
        let newest = shifted(metric, end, neg(interval), "the newest interval")?;
        // A dry run writes to memory only (see `DryRunStorage`); everything below is
        // the same for both.
        let dry_run_storage;
        let storage: &dyn Storage = if options.dry_run {
            dry_run_storage = DryRunStorage::new(plan.storage.as_ref());
            &dry_run_storage
        } else {
            plan.storage.as_ref()
        };
        self.migrate(metric, storage).await?;
        let last = match &known {
            Some(known) => known.last_point,
            None => storage
                .last_datapoint_time(metric)
                .await
                .map_err(|s| storage_error(metric, s))?,
        };
        let start = match last {
            Some(last) => shifted(
                metric,
                floor_to_interval(last, interval),
                interval,
                "the interval after the newest stored point",
            )?,
            None => shifted(
                metric,
                end,
                neg(self.bootstrap_span(plan)),
                "the first run's history (the largest detector window)",
            )?,
        };

        let mut range = RangeReport::default();
        // Per detector: score points after its newest stored detection, or the new points.
        // A detector new to a metric with stored points (an edited config) also scores
        // the newest stored point at once, so the run can alert on it.
        let last_detections = if plan.detectors.is_empty() {
            Default::default()
        } else if let Some(known) = known {
            known.last_detections
        } else {
            storage
                .last_detection_times(metric)
                .await
                .map_err(|s| storage_error(metric, s))?
        };
        let mut detect_from = Vec::with_capacity(plan.detectors.len());
        for d in &plan.detectors {
            let from = match last_detections.get(&d.info.id).copied() {
                Some(t) => {
                    shifted(metric, t, TimeDelta::seconds(1), "the newest detection")?.min(start)
                }
                None if last.is_some() => {
                    let from = start.min(newest);
                    range.notes.push(new_detector_note(d, from));
                    from
                }
                None => start,
            };
            detect_from.push(from);
        }
        if start >= end && last.is_some() {
            // Nothing new: still run the query on the newest interval (nothing is
            // stored), so an edited query that no longer works fails now, not at the
            // next interval.
            self.collect(plan, newest, end, options.execution_time)
                .await?;
            range.notes.push(format!(
                "nothing new to collect: the newest complete interval ({}) is already stored; the query was checked on it",
                format_time(&newest)
            ));
        }

        let mut fresh: Vec<DetectionRecord> = Vec::new();
        let batch = batch_size(config.schedule.batch_load_days, interval);
        let mut new_points: Vec<DataPoint> = Vec::new();
        for (from, to) in batches(start, end, batch) {
            let (points, notes) = self.collect(plan, from, to, options.execution_time).await?;
            range.notes.extend(notes);
            range.points += points.len();
            range.missing += points.iter().filter(|p| p.is_missing).count();
            new_points.extend(points);
        }
        if start < end {
            range.from = Some(start);
            range.to = Some(end);
        }
        let catching_up = behind_stored_points(&detect_from, start, last);
        if !plan.detectors.is_empty() && (!new_points.is_empty() || catching_up) {
            let records = self
                .detect(
                    plan,
                    &new_points,
                    start,
                    &detect_from,
                    options.execution_time,
                )
                .await?;
            range.detections += records.len();
            range
                .anomalies
                .extend(records.iter().filter(|r| r.detection.is_anomaly).cloned());
            fresh = records;
        }
        // The new points are stored after their detections (one transaction where the
        // storage can): the newest stored point is what the next run resumes from, so a
        // run killed in between (or failing in detection) leaves no points without their
        // detections, and the next run collects and scores them again exactly as this
        // one would have. (Points first would make an interrupted first run look like
        // detectors added to a metric with history, which score only the newest point.)
        storage
            .store_scored(metric, &new_points, &fresh)
            .await
            .map_err(|s| storage_error(metric, s))?;

        let mut alert_failure = None;
        let enabled: Vec<_> = plan.alerts.iter().filter(|a| a.settings.enabled).collect();
        let mut reports: Vec<(&str, AlertReport)> = Vec::new();
        let detectors: Vec<_> = plan.detectors.iter().map(|d| d.info.clone()).collect();
        // Each alerter decides, claims and sends on its own state: one failing channel
        // neither blocks nor repeats another.
        let mut digest = Vec::new();
        for a in &enabled {
            // A digest alerter only decides now; its run-wide message goes out later.
            let deferred = a.digest.as_ref().filter(|_| !options.dry_run);
            let job = AlertJob {
                metric,
                state_key: &a.state_key,
                settings: &a.settings,
                alerter: a.alerter.as_ref(),
                storage,
                detectors: &detectors,
                fresh: &fresh,
                newest,
                interval,
                dry_run: options.dry_run || deferred.is_some(),
            };
            let report = match crate::alert::process(job).await {
                Ok(report) => match deferred {
                    Some(group) => {
                        let queued = report.would_send.len();
                        digest.extend(report.would_send.into_iter().map(|message| {
                            crate::alert::DigestItem {
                                group: group.clone(),
                                name: a.name.clone(),
                                alerter: std::sync::Arc::clone(&a.alerter),
                                storage: std::sync::Arc::clone(&plan.storage),
                                state_key: a.state_key.clone(),
                                message,
                            }
                        }));
                        AlertReport {
                            held_back: if queued > 0 {
                                Some("queued for this run's digest".to_string())
                            } else {
                                report.held_back
                            },
                            ..AlertReport::default()
                        }
                    }
                    None => report,
                },
                Err(e @ Error::Alert { .. }) => {
                    if alert_failure.is_none() {
                        alert_failure = Some(std::sync::Arc::new(e));
                    } else {
                        tracing::error!(metric, alerter = a.name.as_str(), "{e}");
                    }
                    AlertReport {
                        held_back: Some("delivery failed (see the error)".into()),
                        ..AlertReport::default()
                    }
                }
                Err(e) => return Err(e),
            };
            reports.push((a.name.as_str(), report));
        }
        let alert = merge_alert_reports(reports);

        if let Some(days) = config.storage.retention_days {
            let before = shifted(
                metric,
                options.execution_time,
                TimeDelta::days(-i64::from(days)),
                "storage.retention_days",
            )?;
            storage
                .apply_retention(metric, before)
                .await
                .map_err(|s| storage_error(metric, s))?;
        }
        Ok(RunReport {
            metric: metric.to_string(),
            newest,
            range,
            alert,
            dry_run: options.dry_run,
            alert_failure,
            skipped: None,
            digest,
        })
    }

    /// `dtk backfill` for one metric: `schedule.start_time..end_time` in `batch_load_days`
    /// batches, a checkpoint after every batch, alerts off.
    pub async fn backfill(
        &self,
        plan: &MetricPlan,
        options: BackfillOptions,
        mut progress: impl FnMut(BatchProgress),
    ) -> Result<BackfillReport, Error> {
        let config = &plan.config;
        let metric = config.name.as_str();
        let schedule = &config.schedule;
        let interval = schedule.interval.delta();
        let Some(start) = schedule.start_time else {
            let mut issue = ConfigIssue::new("schedule.start_time", "is required for a backfill")
                .with_hint(
                    "set `schedule.start_time` (and optionally `end_time`) to the range to load",
                );
            if let Some(f) = &config.file {
                issue = issue.in_file(f);
            }
            return Err(Error::Config(ConfigError::single(issue)));
        };
        let start = floor_to_interval(start, interval);
        let delay = schedule
            .delay
            .as_ref()
            .map(|d| d.delta())
            .unwrap_or_else(TimeDelta::zero);
        let cap = match newest_complete_end(options.execution_time, interval, delay) {
            Some(cap) => cap,
            None => shifted(
                metric,
                options.execution_time,
                neg(delay),
                "the newest interval",
            )?,
        };
        let end = schedule
            .end_time
            .map(|e| floor_to_interval(e, interval).min(cap))
            .unwrap_or(cap);
        let job = format!("backfill:{}", start.to_rfc3339());
        let storage = plan.storage.as_ref();

        if !options.dry_run {
            self.migrate(metric, storage).await?;
        }
        let checkpoint = if options.force {
            None
        } else {
            match storage.get_checkpoint(metric, &job).await {
                Ok(c) => c,
                // A dry run against a storage whose tables do not exist yet has no checkpoint.
                Err(_) if options.dry_run => None,
                Err(s) => return Err(storage_error(metric, s)),
            }
        };
        let resumed_from = checkpoint.filter(|c| *c > start && *c <= end);
        let from = resumed_from.unwrap_or(start);
        let plan_batches = batches(from, end, batch_size(schedule.batch_load_days, interval));
        let mut report = BackfillReport {
            metric: metric.to_string(),
            start,
            end,
            resumed_from,
            batches: plan_batches.clone(),
            range: RangeReport::default(),
            dry_run: options.dry_run,
        };
        if options.dry_run {
            return Ok(report);
        }
        let total = plan_batches.len();
        let detecting = options.detect && !plan.detectors.is_empty();
        // Each batch's series stands in for the next batch's stored history when
        // nothing of the range was stored before this backfill (see `Carried`).
        let carrying = detecting
            && match storage.last_datapoint_time(metric).await {
                Ok(last) => last.is_none_or(|last| last < from),
                Err(_) => false,
            };
        let spans: Vec<TimeDelta> = plan
            .detectors
            .iter()
            .map(|d| history_span(&d.detector.window(), interval))
            .collect();
        let mut carried: Option<Carried> = None;
        for (index, (from, to)) in plan_batches.into_iter().enumerate() {
            let (points, notes) = self.collect(plan, from, to, options.execution_time).await?;
            storage
                .upsert_datapoints(metric, &points)
                .await
                .map_err(|s| storage_error(metric, s))?;
            let mut batch_report = RangeReport {
                from: Some(from),
                to: Some(to),
                points: points.len(),
                missing: points.iter().filter(|p| p.is_missing).count(),
                notes,
                ..RangeReport::default()
            };
            if detecting {
                let detect_from = vec![from; plan.detectors.len()];
                let (records, scored) = self
                    .detect_series(
                        plan,
                        &points,
                        from,
                        &detect_from,
                        options.execution_time,
                        carried.take(),
                    )
                    .await?;
                if carrying {
                    carried = history_start(to, spans.iter().copied()).and_then(|keep| {
                        Carried::after_batch(scored.history_from, to, scored.series, &points, keep)
                    });
                }
                if !records.is_empty() {
                    storage
                        .upsert_detections(&records)
                        .await
                        .map_err(|s| storage_error(metric, s))?;
                }
                batch_report.detections = records.len();
                batch_report.anomalies = records
                    .into_iter()
                    .filter(|r| r.detection.is_anomaly)
                    .collect();
            }
            storage
                .set_checkpoint(metric, &job, to)
                .await
                .map_err(|s| storage_error(metric, s))?;
            report.range.absorb(batch_report);
            progress(BatchProgress {
                index: index + 1,
                total,
                from,
                to,
            });
        }
        Ok(report)
    }

    /// History loaded on a metric's first run: the largest detector window, at least one interval.
    pub(crate) fn bootstrap_span(&self, plan: &MetricPlan) -> TimeDelta {
        let interval = plan.config.schedule.interval.delta();
        plan.detectors
            .iter()
            .map(|d| history_span(&d.detector.window(), interval))
            .max()
            .unwrap_or(interval)
            .max(interval)
    }

    /// Renders the query for `[from, to)`, runs it, maps the rows and fills missing
    /// intervals; returns the points and notes for the user. Writes nothing.
    pub async fn collect(
        &self,
        plan: &MetricPlan,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        execution_time: DateTime<Utc>,
    ) -> Result<(Vec<DataPoint>, Vec<String>), Error> {
        let config = &plan.config;
        let metric = config.name.as_str();
        let interval = &config.schedule.interval;
        let query = render_collect_query(config, from, to, execution_time).map_err(|e| *e)?;
        tracing::debug!(metric, %from, %to, "collecting");
        let table = plan
            .collector
            .query(&query)
            .await
            .map_err(|source| Error::Collect {
                metric: metric.to_string(),
                source: Box::new(source),
            })?;
        let mapped = map_table(&table, &config.collector).map_err(|e| Error::Data {
            metric: metric.to_string(),
            message: format!(
                "query result for [{}, {}): {}",
                format_time(&from),
                format_time(&to),
                e.message
            ),
            hint: e.hint,
        })?;
        let aligned = align(
            mapped.points,
            interval.delta(),
            config.collector.timestamp_alignment,
            config.collector.aggregation,
        )
        .map_err(|e| Error::Data {
            metric: metric.to_string(),
            message: format!(
                "query result for [{}, {}): {}",
                format_time(&from),
                format_time(&to),
                e.message
            ),
            hint: e.hint,
        })?;
        let mut notes = align_notes(&aligned, interval.as_str(), config.collector.aggregation);
        if mapped.null_values > 0 {
            notes.push(format!(
                "{} row(s) had a NULL value and are stored as missing points",
                mapped.null_values
            ));
        }
        let (points, dropped) = fill_missing(aligned.points, from, to, interval.delta());
        if dropped > 0 {
            notes.push(format!(
                "{dropped} row(s) outside [{}, {}) were ignored; filter the query with {{{{ period_start }}}} and {{{{ period_finish }}}}",
                format_time(&from),
                format_time(&to)
            ));
        }
        for note in &notes {
            tracing::warn!(metric, "{note}");
        }
        Ok((points, notes))
    }

    /// Scores, for each detector, the points from its `detect_from` on, against
    /// stored history plus `new_points` (which start at `new_from`).
    async fn detect(
        &self,
        plan: &MetricPlan,
        new_points: &[DataPoint],
        new_from: DateTime<Utc>,
        detect_from: &[DateTime<Utc>],
        execution_time: DateTime<Utc>,
    ) -> Result<Vec<DetectionRecord>, Error> {
        self.detect_series(
            plan,
            new_points,
            new_from,
            detect_from,
            execution_time,
            None,
        )
        .await
        .map(|(records, _)| records)
    }

    /// [`Runner::detect`], taking the stored history from `carried` when it covers the
    /// window (else from storage), and giving back the series it scored.
    async fn detect_series(
        &self,
        plan: &MetricPlan,
        new_points: &[DataPoint],
        new_from: DateTime<Utc>,
        detect_from: &[DateTime<Utc>],
        execution_time: DateTime<Utc>,
        carried: Option<Carried>,
    ) -> Result<(Vec<DetectionRecord>, Scored), Error> {
        let metric = plan.config.name.as_str();
        let interval = plan.config.schedule.interval.delta();
        let mut window_starts = Vec::with_capacity(plan.detectors.len());
        for (d, from) in plan.detectors.iter().zip(detect_from) {
            let span = history_span(&d.detector.window(), interval);
            window_starts.push(shifted(
                metric,
                *from,
                neg(span),
                &format!("the history of detector `{}`", d.info.id),
            )?);
        }
        let history_from = window_starts.iter().copied().min().unwrap_or(new_from);
        let carried = carried.and_then(|c| c.history(history_from, new_from));
        let mut series: Vec<DataPoint> = match carried {
            Some(history) => history,
            None if history_from < new_from => {
                let op = LoadDatapoints::new(metric, history_from, new_from);
                plan.storage
                    .load_datapoints(&op)
                    .await
                    .map_err(|s| storage_error(metric, s))?
            }
            None => Vec::new(),
        };
        // Stored points are in time order: those from `new_from` on are replaced by the
        // new points.
        series.truncate(series.partition_point(|p| p.timestamp < new_from));
        series.extend_from_slice(new_points);

        let ctx = DetectionContext {
            execution_time,
            interval,
        };
        // Detection is CPU work: a big job (a backfill batch) leaves the async worker.
        let cost = plan.detectors.len() * series.len();
        let scoring = &series;
        let records = crate::pipeline::cpu::off_async(cost, || {
            let series = scoring;
            let mut records = Vec::with_capacity(plan.detectors.len() * new_points.len());
            for ((d, from), window_start) in
                plan.detectors.iter().zip(detect_from).zip(window_starts)
            {
                let first = series.partition_point(|p| p.timestamp < *from);
                if first >= series.len() {
                    continue;
                }
                let start = series.partition_point(|p| p.timestamp < window_start);
                let detections = d.detector.detect(&series[start..], first - start, &ctx);
                if detections.len() != series.len() - first {
                    return Err(Error::Detect {
                        metric: metric.to_string(),
                        detector_id: d.info.id.clone(),
                        message: format!(
                            "returned {} results for {} points",
                            detections.len(),
                            series.len() - first
                        ),
                    });
                }
                for (point, detection) in series[first..].iter().zip(detections) {
                    records.push(DetectionRecord {
                        metric: metric.to_string(),
                        detector_id: d.info.id.clone(),
                        detector_type: d.info.kind.clone(),
                        detector_params: d.info.params.clone(),
                        detection,
                        alert_sent: false,
                        context: point.context.clone(),
                    });
                }
            }
            Ok::<_, Error>(records)
        })?;
        Ok((
            records,
            Scored {
                history_from: history_from.min(new_from),
                series,
            },
        ))
    }
}

/// The series a detection scored: the stored points from `history_from` on, then the
/// new points.
struct Scored {
    history_from: DateTime<Utc>,
    series: Vec<DataPoint>,
}

/// Whether a detector must score stored points (those before `start`, the first new
/// interval): one whose `detect_from` is at or before `last`, the newest stored point.
/// A detector scored up to the newest point has `detect_from` just after it, so a
/// tick with nothing new neither loads the window nor runs a detector.
fn behind_stored_points(
    detect_from: &[DateTime<Utc>],
    start: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
) -> bool {
    last.is_some_and(|last| detect_from.iter().any(|f| *f < start && *f <= last))
}

/// What `run` says about a detector that has no detection yet on a metric with stored points.
fn new_detector_note(d: &crate::pipeline::plan::PlannedDetector, from: DateTime<Utc>) -> String {
    format!(
        "detector `{}` ({}) is new for this metric: scored from {} on; older stored points are not scored until `dtk backfill --force` is run for this metric",
        d.info.id,
        d.info.kind,
        format_time(&from)
    )
}

fn storage_error(metric: &str, source: BackendError) -> Error {
    Error::Storage {
        metric: metric.to_string(),
        source: Box::new(source),
    }
}

/// One report for the metric's alerters: every message sent (or that a dry run would
/// send), and why each alerter that sent nothing held back (named when there are
/// several). `None` when no alerter is enabled.
fn merge_alert_reports(reports: Vec<(&str, AlertReport)>) -> Option<AlertReport> {
    let several = reports.len() > 1;
    let mut merged: Option<AlertReport> = None;
    let mut held: Vec<String> = Vec::new();
    for (name, report) in reports {
        let out = merged.get_or_insert_with(AlertReport::default);
        out.sent.extend(report.sent);
        out.would_send.extend(report.would_send);
        if let Some(reason) = report.held_back {
            held.push(if several {
                format!("{name}: {reason}")
            } else {
                reason
            });
        }
    }
    if let Some(out) = merged.as_mut()
        && !held.is_empty()
    {
        out.held_back = Some(held.join("; "));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    #[test]
    fn a_detector_scored_up_to_the_newest_point_is_not_behind() {
        // Stored up to 10:00 (minute 600), next interval 610: scored through 600.
        let from = t(600) + TimeDelta::seconds(1);
        assert!(!behind_stored_points(&[from], t(610), Some(t(600))));
    }

    #[test]
    fn a_detector_with_unscored_stored_points_is_behind() {
        assert!(behind_stored_points(
            &[t(590) + TimeDelta::seconds(1)],
            t(610),
            Some(t(600))
        ));
        // A new detector scores the newest stored point.
        assert!(behind_stored_points(&[t(600)], t(610), Some(t(600))));
        // One of several is enough.
        let scored = t(600) + TimeDelta::seconds(1);
        assert!(behind_stored_points(
            &[scored, t(580)],
            t(610),
            Some(t(600))
        ));
    }

    #[test]
    fn nothing_stored_means_nothing_to_catch_up() {
        assert!(!behind_stored_points(&[t(0)], t(610), None));
        // Points from `start` on are new points, scored with them.
        assert!(!behind_stored_points(&[t(610)], t(610), Some(t(600))));
    }
}
