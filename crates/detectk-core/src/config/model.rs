//! The typed metric config (design section 3).

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::alignment::{Aggregation, TimestampAlignment};
use crate::duration::HumanDuration;
use crate::secret::redact_json;

/// A params map whose `Debug` and `Serialize` hide secrets (passwords, webhook URLs, DSNs).
#[derive(Clone, PartialEq, Default)]
pub struct ParamMap(pub Map<String, Value>);

impl ParamMap {
    /// The params as JSON with secrets masked.
    pub fn redacted(&self) -> Value {
        redact_json(&Value::Object(self.0.clone()))
    }
}

impl fmt::Debug for ParamMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

impl Serialize for ParamMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.redacted().serialize(s)
    }
}

/// One metric: where its series comes from, how it is checked, where alerts go.
#[derive(Debug, Clone, Serialize)]
pub struct MetricConfig {
    /// Unique name (`[A-Za-z0-9_-]+`).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Tags for `--select tag:x`.
    pub tags: Vec<String>,
    /// The data source.
    pub collector: CollectorConfig,
    /// Where datapoints, detections and state are kept.
    pub storage: StorageConfig,
    /// `state:`: where alert claims and the alert lease are kept instead of `storage`
    /// (a PostgreSQL/MySQL/SQLite store beside ClickHouse datapoints). `defaulted` is
    /// true when it comes from the project's `state` profile rather than the file.
    pub state: Option<StorageConfig>,
    /// One or more detectors (`detector:` or `detectors:`).
    pub detectors: Vec<DetectorConfig>,
    /// Where alerts go: `alerter:` first (if any), then each `alerters:` entry.
    pub alerters: Vec<AlerterConfig>,
    /// Interval and backfill range.
    pub schedule: ScheduleConfig,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
    /// `heartbeat_url`: a dead man's switch pinged after each `dtk run` of this metric
    /// (`URL` on success, `URL/fail` on failure). A secret: never printed in full.
    pub heartbeat_url: Option<crate::secret::Secret>,
    /// The file the config was read from.
    pub file: Option<PathBuf>,
}

/// `collector:`: the query template, column mapping and connection params.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CollectorConfig {
    /// Collector type (from the profile when not given).
    #[serde(rename = "type")]
    pub kind: String,
    /// Profile the connection params came from.
    pub profile: Option<String>,
    /// The SQL template, rendered on every collect call.
    pub query: String,
    /// Column holding the interval start.
    pub timestamp_column: String,
    /// Column holding the value.
    pub value_column: String,
    /// Columns stored as JSON context (seasonal features).
    pub context_columns: Vec<String>,
    /// Time zone of `period_start`/`period_finish` and of timestamps without zone.
    pub timezone: Tz,
    /// What to do with rows off the interval grid (`floor`, the default, or `strict`).
    pub timestamp_alignment: TimestampAlignment,
    /// How rows sharing an interval are combined (default `mean`).
    pub aggregation: Aggregation,
    /// Connection params: explicit params over the profile's, without the keys above.
    pub params: ParamMap,
}

/// `storage:`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StorageConfig {
    /// Storage type (defaults to the collector's).
    #[serde(rename = "type")]
    pub kind: String,
    /// Profile the params came from.
    pub profile: Option<String>,
    /// Connection params (the collector's when `storage` was not configured).
    pub params: ParamMap,
    /// Days of datapoints and detections to keep; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// True when the config had no `storage:` section and the collector's connection is used.
    pub defaulted: bool,
}

/// One detector.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DetectorConfig {
    /// The configured `id`, or the ID computed from type and params.
    pub id: String,
    /// Whether `id` was configured explicitly.
    pub explicit_id: bool,
    /// Detector type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Params as configured.
    pub params: Map<String, Value>,
    /// Field path of this detector (`detector` or `detectors[1]`).
    #[serde(skip)]
    pub path: String,
}

/// `alerter:` or one entry of `alerters:`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AlerterConfig {
    /// Unique within the metric: `name:`, else the channel type.
    pub name: String,
    /// Field path: `alerter` or `alerters[1]`.
    #[serde(skip)]
    pub path: String,
    /// True for the `alerter:` block: its alert state is kept under the metric's name
    /// (as before `alerters:` existed); `alerters:` entries keep theirs under
    /// `metric#name`.
    #[serde(skip)]
    pub primary: bool,
    /// False: detect and store, never send.
    pub enabled: bool,
    /// True: this alerter's alerts of a run go out as one digest message per channel.
    pub digest: bool,
    /// Channel type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Channel params (and `cooldown_minutes`, `message_template`).
    pub params: ParamMap,
    /// Alert policy.
    pub conditions: Map<String, Value>,
}

/// `schedule:`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ScheduleConfig {
    /// Length of one interval (default `10 minutes`).
    pub interval: HumanDuration,
    /// Backfill start.
    pub start_time: Option<DateTime<Utc>>,
    /// Backfill end (exclusive).
    pub end_time: Option<DateTime<Utc>>,
    /// Days per backfill batch (default 30).
    pub batch_load_days: u32,
    /// Time to wait after an interval ends before collecting it (late data).
    pub delay: Option<HumanDuration>,
}
