//! Row versions for `ReplacingMergeTree(version)`, and UTC time conversions.
//!
//! A version is a Unix time in microseconds made strictly increasing within the
//! process, so of two writes of one key the later one wins, also within one second
//! and within one batch.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

static LAST: AtomicU64 = AtomicU64::new(0);

/// Reserves `n` consecutive versions, all newer than any handed out before; returns the first.
pub fn reserve(n: usize) -> u64 {
    let now = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
    let n = n.max(1) as u64;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let start = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, start + n - 1, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return start,
            Err(actual) => prev = actual,
        }
    }
}

/// A `DateTime` column value (whole seconds since 1970, up to 2106), if `t` fits.
pub fn to_datetime_secs(t: DateTime<Utc>) -> Option<u32> {
    if t.timestamp_subsec_nanos() != 0 {
        return None;
    }
    u32::try_from(t.timestamp()).ok()
}

/// The instant of a `DateTime` column value.
pub fn from_datetime_secs(secs: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(secs), 0).unwrap_or_default()
}

/// `[from, to)` as whole-second bounds for `DateTime` columns: `None` when no whole
/// second lies in the range; an upper bound of `None` means "no upper bound needed".
pub fn second_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(u32, Option<u32>)> {
    let ceil = |t: DateTime<Utc>| t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    let (lo, hi) = (ceil(from).max(0), ceil(to));
    if hi <= lo {
        return None;
    }
    let lo = u32::try_from(lo).ok()?;
    Some((lo, u32::try_from(hi).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn versions_strictly_increase() {
        let a = reserve(1000);
        let b = reserve(1);
        assert!(b >= a + 1000);
    }

    #[test]
    fn ranges_round_to_whole_seconds() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let s = t.timestamp() as u32;
        assert_eq!(second_range(t, t), None);
        assert_eq!(
            second_range(t, t + chrono::Duration::seconds(1)),
            Some((s, Some(s + 1)))
        );
        let half = chrono::Duration::milliseconds(500);
        // (t+0.5, t+1.5) holds only t+1.
        assert_eq!(
            second_range(t + half, t + half * 3),
            Some((s + 1, Some(s + 2)))
        );
        assert_eq!(
            second_range(Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(), t),
            Some((0, Some(s)))
        );
        assert_eq!(
            second_range(t, Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap()),
            Some((s, None))
        );
        assert_eq!(to_datetime_secs(t + half), None);
        assert_eq!(from_datetime_secs(s), t);
    }
}
