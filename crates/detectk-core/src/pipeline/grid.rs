//! Interval arithmetic: aligning times to a metric's schedule grid (UTC, from the Unix
//! epoch), batch sizes, and time shifts that report overflow instead of panicking.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::template::format_time;
use crate::error::Error;

/// Start of the interval containing `t`.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use detectk_core::pipeline::floor_to_interval;
/// let t = Utc.with_ymd_and_hms(2024, 1, 1, 14, 7, 0).unwrap();
/// let floor = floor_to_interval(t, TimeDelta::minutes(10));
/// assert_eq!(floor, Utc.with_ymd_and_hms(2024, 1, 1, 14, 0, 0).unwrap());
/// ```
pub fn floor_to_interval(t: DateTime<Utc>, interval: TimeDelta) -> DateTime<Utc> {
    let step = interval.num_seconds().max(1);
    let secs = t.timestamp().div_euclid(step) * step;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// End (exclusive) of the newest complete interval at `execution_time`, after `delay`.
/// At 14:07 with a 10-minute interval the newest complete interval is [13:50, 14:00): 14:00.
/// `None` when the result would fall outside the supported time range.
pub fn newest_complete_end(
    execution_time: DateTime<Utc>,
    interval: TimeDelta,
    delay: TimeDelta,
) -> Option<DateTime<Utc>> {
    execution_time
        .checked_sub_signed(delay)
        .map(|t| floor_to_interval(t, interval))
}

/// Interval starts in `[from, to)`, `from` aligned first.
pub fn slots(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: TimeDelta,
) -> impl Iterator<Item = DateTime<Utc>> {
    let first = {
        let f = floor_to_interval(from, interval);
        if f < from {
            f.checked_add_signed(interval)
        } else {
            Some(f)
        }
    };
    std::iter::successors(first, move |t| t.checked_add_signed(interval))
        .take_while(move |t| *t < to)
}

/// `[from, to)` split into consecutive ranges of at most `size`.
pub fn batches(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    size: TimeDelta,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = start.checked_add_signed(size).map_or(to, |e| e.min(to));
        out.push((start, end));
        start = end;
    }
    out
}

/// `t + by`, or an error naming the metric and what was computed when the result is
/// outside the supported time range (no time computation may panic).
pub(crate) fn shifted(
    metric: &str,
    t: DateTime<Utc>,
    by: TimeDelta,
    what: &str,
) -> Result<DateTime<Utc>, Error> {
    t.checked_add_signed(by).ok_or_else(|| Error::Data {
        metric: metric.to_string(),
        message: format!(
            "{what}: {} {} {}s is outside the supported time range",
            format_time(&t),
            if by < TimeDelta::zero() { "-" } else { "+" },
            by.num_seconds().unsigned_abs()
        ),
        hint: Some(
            "check --execution-time, schedule.start_time/end_time/delay and the detector windows"
                .into(),
        ),
    })
}

/// `-d`, saturating (`TimeDelta::MIN` has no positive counterpart).
pub(crate) fn neg(d: TimeDelta) -> TimeDelta {
    d.checked_mul(-1).unwrap_or(TimeDelta::MIN)
}

/// One batch: `batch_load_days`, but never more than [`MAX_BATCH_POINTS`] intervals, so
/// a batch's points fit in memory at any interval.
pub(crate) fn batch_size(days: u32, interval: TimeDelta) -> TimeDelta {
    let by_days = TimeDelta::days(i64::from(days.max(1)));
    let by_points = interval
        .checked_mul(MAX_BATCH_POINTS)
        .unwrap_or(TimeDelta::MAX);
    by_days.min(by_points)
}

/// Most intervals one collect call asks for (one query, one batch in memory).
pub const MAX_BATCH_POINTS: i32 = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, h, m, 0).unwrap()
    }

    #[test]
    fn only_complete_intervals() {
        let ten = TimeDelta::minutes(10);
        assert_eq!(
            newest_complete_end(t(14, 7), ten, TimeDelta::zero()),
            Some(t(14, 0))
        );
        assert_eq!(
            newest_complete_end(t(14, 0), ten, TimeDelta::zero()),
            Some(t(14, 0))
        );
        assert_eq!(
            newest_complete_end(t(14, 7), ten, TimeDelta::minutes(10)),
            Some(t(13, 50))
        );
        assert_eq!(
            newest_complete_end(DateTime::<Utc>::MIN_UTC, ten, TimeDelta::days(1)),
            None
        );
    }

    #[test]
    fn slots_are_aligned_and_half_open() {
        let s: Vec<_> = slots(t(13, 55), t(14, 30), TimeDelta::minutes(10)).collect();
        assert_eq!(s, vec![t(14, 0), t(14, 10), t(14, 20)]);
    }

    #[test]
    fn ranges_near_the_end_of_time_stop_instead_of_overflowing() {
        let end = DateTime::<Utc>::MAX_UTC;
        let from = floor_to_interval(end, TimeDelta::days(1)) - TimeDelta::days(2);
        assert_eq!(slots(from, end, TimeDelta::days(1)).count(), 3);
        assert_eq!(batches(from, end, TimeDelta::days(365)), vec![(from, end)]);
    }

    #[test]
    fn batches_cover_the_range_exactly() {
        let b = batches(t(0, 0), t(10, 0), TimeDelta::hours(4));
        assert_eq!(
            b,
            vec![(t(0, 0), t(4, 0)), (t(4, 0), t(8, 0)), (t(8, 0), t(10, 0))]
        );
    }
}
