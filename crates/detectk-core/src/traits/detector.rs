use chrono::{DateTime, TimeDelta, Utc};

use crate::duration::Window;
use crate::model::{DataPoint, Detection};

/// What a detector may know besides the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectionContext {
    /// When the run happens (`--execution-time`, default now).
    pub execution_time: DateTime<Utc>,
    /// The metric's schedule interval.
    pub interval: TimeDelta,
}

/// Scores points of a series against the history strictly before each point.
///
/// `series` is sorted by timestamp, holds missing points (`is_missing`), and starts
/// at least one window before `series[first]` when that much history exists. The
/// detector returns one [`Detection`] for each of `series[first..]`, in order; the
/// detection of `series[i]` may look only at `series[..i]` (never at `i` or later),
/// so the result does not depend on how a series is split into batches.
pub trait Detector: Send + Sync + std::fmt::Debug {
    /// How much history the detector looks at; the pipeline loads this much
    /// before the first point to score.
    fn window(&self) -> Window;

    /// Scores `series[first..]`.
    fn detect(&self, series: &[DataPoint], first: usize, ctx: &DetectionContext) -> Vec<Detection>;
}
