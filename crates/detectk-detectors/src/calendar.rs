//! Calendar features computed from a point's timestamp in a configured timezone.
//!
//! `hour_of_day` (0-23), `day_of_week` (0 = Monday .. 6 = Sunday, as pandas'
//! `dayofweek`), `day_of_month` (1-31), `month` (1-12), `is_weekend` (0 or 1) and
//! `hour_of_week` (`day_of_week * 24 + hour_of_day`, 0-167). Detectors use them as
//! seasonal features without the query having to compute them.

use chrono::{DateTime, Datelike, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Names of the calendar features, as written in `seasonal_features`.
pub const CALENDAR_FEATURES: [&str; 6] = [
    "hour_of_day",
    "day_of_week",
    "day_of_month",
    "month",
    "is_weekend",
    "hour_of_week",
];

/// One calendar feature of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalendarFeature {
    /// Hour of the day, 0-23.
    HourOfDay,
    /// Day of the week, 0 = Monday .. 6 = Sunday.
    DayOfWeek,
    /// Day of the month, 1-31.
    DayOfMonth,
    /// Month, 1-12.
    Month,
    /// 1 on Saturday and Sunday, else 0.
    IsWeekend,
    /// `day_of_week * 24 + hour_of_day`, 0-167.
    HourOfWeek,
}

impl CalendarFeature {
    /// The feature called `name`, if it is a calendar feature.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "hour_of_day" => Self::HourOfDay,
            "day_of_week" => Self::DayOfWeek,
            "day_of_month" => Self::DayOfMonth,
            "month" => Self::Month,
            "is_weekend" => Self::IsWeekend,
            "hour_of_week" => Self::HourOfWeek,
            _ => return None,
        })
    }

    /// The feature's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::HourOfDay => "hour_of_day",
            Self::DayOfWeek => "day_of_week",
            Self::DayOfMonth => "day_of_month",
            Self::Month => "month",
            Self::IsWeekend => "is_weekend",
            Self::HourOfWeek => "hour_of_week",
        }
    }

    /// The feature's value at `t` seen in `tz`.
    pub fn value(self, t: DateTime<Utc>, tz: Tz) -> u32 {
        let local = local(t, tz);
        self.of_local(&local)
    }

    /// The feature's value of a local time.
    pub(crate) fn of_local<T: Datelike + Timelike>(self, local: &T) -> u32 {
        let dow = local.weekday().num_days_from_monday();
        match self {
            Self::HourOfDay => local.hour(),
            Self::DayOfWeek => dow,
            Self::DayOfMonth => local.day(),
            Self::Month => local.month(),
            Self::IsWeekend => u32::from(dow >= 5),
            Self::HourOfWeek => dow * 24 + local.hour(),
        }
    }
}

/// `t` as a naive local time in `tz`.
pub(crate) fn local(t: DateTime<Utc>, tz: Tz) -> chrono::NaiveDateTime {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    t.naive_utc() + offset
}

/// Converts timestamps to local times, reusing the last UTC offset while it is valid
/// (offsets change only at DST transitions, so this is one lookup per hour at most).
#[derive(Debug, Clone)]
pub(crate) struct LocalClock {
    tz: Tz,
    /// `(hour start, hour end, offset seconds)` of the last lookup, in UTC seconds.
    cached: Option<(i64, i64, i64)>,
}

impl LocalClock {
    /// A clock for `tz`.
    pub(crate) fn new(tz: Tz) -> Self {
        Self { tz, cached: None }
    }

    /// `t` as a naive local time.
    pub(crate) fn local(&mut self, t: DateTime<Utc>) -> chrono::NaiveDateTime {
        let secs = t.timestamp();
        let offset = match self.cached {
            Some((a, b, off)) if a <= secs && secs < b => off,
            _ => {
                let off = i64::from(
                    self.tz
                        .offset_from_utc_datetime(&t.naive_utc())
                        .fix()
                        .local_minus_utc(),
                );
                // Offsets only change on whole quarter hours: cache the quarter hour.
                let start = secs - secs.rem_euclid(900);
                self.cached = Some((start, start + 900, off));
                off
            }
        };
        t.naive_utc() + chrono::TimeDelta::seconds(offset)
    }
}

/// Parses an IANA timezone name.
pub(crate) fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!(
            "unknown timezone {name:?}; expected an IANA name such as \"UTC\" or \"Europe/Berlin\""
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_of_a_utc_and_a_local_time() {
        // Sunday 2024-03-31 23:30 UTC is Monday 01:30 in Berlin (after the DST change).
        let t = Utc.with_ymd_and_hms(2024, 3, 31, 23, 30, 0).unwrap();
        let utc: Tz = "UTC".parse().unwrap();
        let berlin = parse_timezone("Europe/Berlin").unwrap();
        let f = |c: CalendarFeature, tz| c.value(t, tz);
        assert_eq!(f(CalendarFeature::HourOfDay, utc), 23);
        assert_eq!(f(CalendarFeature::DayOfWeek, utc), 6);
        assert_eq!(f(CalendarFeature::IsWeekend, utc), 1);
        assert_eq!(f(CalendarFeature::HourOfWeek, utc), 6 * 24 + 23);
        assert_eq!(f(CalendarFeature::Month, utc), 3);
        assert_eq!(f(CalendarFeature::HourOfDay, berlin), 1);
        assert_eq!(f(CalendarFeature::DayOfWeek, berlin), 0);
        assert_eq!(f(CalendarFeature::DayOfMonth, berlin), 1);
        assert_eq!(f(CalendarFeature::Month, berlin), 4);
        assert_eq!(f(CalendarFeature::IsWeekend, berlin), 0);
        assert_eq!(f(CalendarFeature::HourOfWeek, berlin), 1);
    }

    #[test]
    fn names_round_trip_and_the_clock_matches_direct_lookups() {
        for name in CALENDAR_FEATURES {
            assert_eq!(CalendarFeature::parse(name).unwrap().name(), name);
        }
        assert!(CalendarFeature::parse("hour").is_none());
        assert!(
            parse_timezone("Mars/Base")
                .unwrap_err()
                .contains("Mars/Base")
        );
        let tz = parse_timezone("America/New_York").unwrap();
        let mut clock = LocalClock::new(tz);
        let t0 = Utc.with_ymd_and_hms(2024, 3, 9, 0, 0, 0).unwrap();
        for k in 0..(4 * 24 * 6) {
            let t = t0 + chrono::TimeDelta::minutes(10 * k + 3);
            assert_eq!(clock.local(t), local(t, tz), "at {t}");
        }
    }
}
