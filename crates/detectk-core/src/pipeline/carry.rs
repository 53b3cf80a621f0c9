//! A backfill's carried history: the series one batch scored (the stored history it
//! read plus the points it just stored) stands in for the next batch's read of the
//! same history from storage. Used only where the storage would give back exactly
//! these points: nothing was stored in the backfill's range before it started (else an
//! older point could sit between the new ones), and every new point survives the
//! round trip unchanged (a finite value or none, a whole-second time, no context).

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::DataPoint;

/// Points equal to the storage's points of a metric in `[from, to)`, in time order.
#[derive(Debug)]
pub(crate) struct Carried {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: Vec<DataPoint>,
}

impl Carried {
    /// The stored points in `[history_from, new_from)` when these cover exactly that
    /// range's end and reach back far enough; `None` otherwise (read them from storage).
    pub(crate) fn history(
        self,
        history_from: DateTime<Utc>,
        new_from: DateTime<Utc>,
    ) -> Option<Vec<DataPoint>> {
        if self.from > history_from || self.to != new_from {
            return None;
        }
        let mut points = self.points;
        let first = points.partition_point(|p| p.timestamp < history_from);
        points.drain(..first);
        Some(points)
    }

    /// What a batch carries to the next one: `series` (the stored points from
    /// `history_from` on, then `new_points`, just stored, all before `to`), keeping
    /// only the points from `keep_from` on. `None` when a new point might come back
    /// from storage different from what it is (see the module documentation), or the
    /// series is not one point per time in order (the storage keeps one per time).
    pub(crate) fn after_batch(
        history_from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut series: Vec<DataPoint>,
        new_points: &[DataPoint],
        keep_from: DateTime<Utc>,
    ) -> Option<Self> {
        let in_order = series.windows(2).all(|w| w[0].timestamp < w[1].timestamp);
        if !in_order
            || series.last().is_some_and(|p| p.timestamp >= to)
            || !new_points.iter().all(round_trips)
        {
            return None;
        }
        let first = series.partition_point(|p| p.timestamp < keep_from);
        series.drain(..first);
        Some(Self {
            from: history_from.max(keep_from),
            to,
            points: series,
        })
    }
}

/// Whether every storage gives `p` back as it is: no NaN or infinity (SQLite stores
/// NaN as NULL, MySQL has neither), a time on a whole second, no context (JSON
/// numbers need not come back bit for bit).
fn round_trips(p: &DataPoint) -> bool {
    p.value.is_none_or(f64::is_finite)
        && p.timestamp.timestamp_subsec_nanos() == 0
        && p.context.is_empty()
}

/// The start of the history `spans` need before `at` (the earliest of them), or
/// `None` when it is out of range.
pub(crate) fn history_start(
    at: DateTime<Utc>,
    spans: impl Iterator<Item = TimeDelta>,
) -> Option<DateTime<Utc>> {
    spans
        .map(|span| at.checked_sub_signed(span))
        .try_fold(at, |earliest, start| Some(earliest.min(start?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    fn series(minutes: std::ops::Range<i64>) -> Vec<DataPoint> {
        minutes.map(|m| DataPoint::new(t(m), m as f64)).collect()
    }

    #[test]
    fn the_next_batch_gets_the_stored_points_of_its_window() {
        let all = series(0..100);
        let carried = Carried::after_batch(t(0), t(100), all.clone(), &all[50..], t(20)).unwrap();
        let history = carried.history(t(30), t(100)).unwrap();
        assert_eq!(history, all[30..].to_vec());
    }

    #[test]
    fn a_window_reaching_further_back_or_another_range_reads_storage() {
        let all = series(0..100);
        let carried =
            || Carried::after_batch(t(0), t(100), all.clone(), &all[50..], t(20)).unwrap();
        assert!(carried().history(t(10), t(100)).is_none());
        assert!(carried().history(t(30), t(110)).is_none());
    }

    #[test]
    fn points_that_may_not_come_back_as_they_are_are_not_carried() {
        let all = series(0..10);
        let mut odd = all.clone();
        odd[9].value = Some(f64::NAN);
        assert!(Carried::after_batch(t(0), t(10), odd.clone(), &odd[5..], t(0)).is_none());
        let mut odd = all.clone();
        odd[9].timestamp += TimeDelta::milliseconds(1);
        assert!(Carried::after_batch(t(0), t(10), odd.clone(), &odd[5..], t(0)).is_none());
        let mut odd = all.clone();
        odd[9].context.insert("k".into(), serde_json::json!(0.1));
        assert!(Carried::after_batch(t(0), t(10), odd.clone(), &odd[5..], t(0)).is_none());
        // A missing point (no value) comes back as it is.
        let mut missing = all;
        missing[9] = DataPoint::missing(t(9));
        assert!(Carried::after_batch(t(0), t(10), missing.clone(), &missing[5..], t(0)).is_some());
    }

    #[test]
    fn the_history_starts_at_the_longest_span() {
        let spans = [TimeDelta::minutes(5), TimeDelta::minutes(30)];
        assert_eq!(history_start(t(100), spans.into_iter()), Some(t(70)));
        assert_eq!(history_start(t(100), std::iter::empty()), Some(t(100)));
        assert_eq!(history_start(t(100), std::iter::once(TimeDelta::MAX)), None);
    }
}
