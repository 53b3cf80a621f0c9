//! Human durations (`10 minutes`, `1h`, `30 days`) and detector windows.

use std::fmt;

use chrono::TimeDelta;
use serde::{Serialize, Serializer};

/// Longest duration any config field accepts: 100 years (36,500 days). Fields have
/// tighter limits of their own (windows: [`MAX_WINDOW_SECONDS`]).
pub const MAX_DURATION_SECONDS: i64 = 36_500 * 86_400;

/// Longest time-span window: 10 years (3,650 days).
pub const MAX_WINDOW_SECONDS: i64 = 3_650 * 86_400;

/// Most points a detector window may hold (a point-count window, or a span divided
/// by the metric's interval). A million points is 19 years of 10-minute data.
pub const MAX_WINDOW_POINTS: usize = 1_000_000;

/// A positive duration parsed from config, keeping the text the user wrote.
#[derive(Clone, PartialEq, Eq)]
pub struct HumanDuration {
    delta: TimeDelta,
    text: String,
}

impl HumanDuration {
    /// Parses `10 minutes`, `1 hour`, `30 days`, `90s`, `15m`, `1h`, `7d`, `2 weeks`,
    /// or combinations such as `1h 30m`.
    ///
    /// ```
    /// use detectk_core::HumanDuration;
    /// assert_eq!(HumanDuration::parse("10 minutes").unwrap().seconds(), 600);
    /// assert_eq!(HumanDuration::parse("1h30m").unwrap().seconds(), 5400);
    /// assert!(HumanDuration::parse("3 fortnights").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let seconds = parse_seconds(text)?;
        Ok(Self {
            delta: TimeDelta::seconds(seconds),
            text: text.trim().to_string(),
        })
    }

    /// A duration of whole seconds, displayed in the shortest natural unit.
    pub fn from_seconds(seconds: i64) -> Self {
        Self {
            delta: TimeDelta::seconds(seconds),
            text: format_seconds(seconds),
        }
    }

    /// The duration as a `chrono::TimeDelta`.
    pub fn delta(&self) -> TimeDelta {
        self.delta
    }

    /// Whole seconds.
    pub fn seconds(&self) -> i64 {
        self.delta.num_seconds()
    }

    /// The text as written in the config.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({}s)", self.text, self.seconds())
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

fn unit_seconds(unit: &str) -> Option<i64> {
    Some(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    })
}

fn parse_seconds(text: &str) -> Result<i64, String> {
    let lower = text.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Err("empty duration; expected e.g. `10 minutes`, `1h` or `30 days`".into());
    }
    let mut rest = lower.as_str();
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration `{}`: expected a number before the unit",
                text.trim()
            ));
        }
        let number: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration `{}`: number too large", text.trim()))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(format!(
                "invalid duration `{}`: missing unit (use seconds, minutes, hours, days or weeks)",
                text.trim()
            ));
        }
        let Some(factor) = unit_seconds(unit) else {
            let hint = if matches!(unit, "month" | "months" | "mo" | "y" | "year" | "years") {
                " (months and years vary in length; use days)"
            } else {
                " (use seconds, minutes, hours, days or weeks)"
            };
            return Err(format!(
                "invalid duration `{}`: unknown unit `{unit}`{hint}",
                text.trim()
            ));
        };
        total = number
            .checked_mul(factor)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("invalid duration `{}`: too large", text.trim()))?;
        rest = rest[unit_len..].trim_start_matches([' ', ',']);
    }
    if total <= 0 {
        return Err(format!(
            "invalid duration `{}`: must be greater than zero",
            text.trim()
        ));
    }
    if total > MAX_DURATION_SECONDS {
        return Err(format!(
            "invalid duration `{}`: too large (at most {} days)",
            text.trim(),
            MAX_DURATION_SECONDS / 86_400
        ));
    }
    Ok(total)
}

fn format_seconds(seconds: i64) -> String {
    let units = [
        (604_800, "week"),
        (86_400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    for (size, name) in units {
        if seconds % size == 0 && seconds >= size {
            let n = seconds / size;
            return format!("{n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{seconds} seconds")
}

/// How much history a detector looks at: a time span or a number of points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// Points with timestamps in `[t - span, t)`.
    Span(HumanDuration),
    /// The last N points before `t`.
    Points(usize),
}

impl Window {
    /// How far back in time the window reaches for a series with the given interval.
    /// Saturates at `TimeDelta::MAX` for windows beyond the validated limits.
    pub fn lookback(&self, interval: TimeDelta) -> TimeDelta {
        match self {
            Window::Span(d) => d.delta(),
            Window::Points(n) => i32::try_from(*n)
                .ok()
                .and_then(|n| interval.checked_mul(n))
                .unwrap_or(TimeDelta::MAX),
        }
    }

    /// How many intervals the window spans (rounded up), saturating.
    pub fn points_at(&self, interval: TimeDelta) -> usize {
        match self {
            Window::Points(n) => *n,
            Window::Span(d) => {
                let step = interval.num_seconds().max(1);
                usize::try_from((d.seconds() + step - 1) / step).unwrap_or(usize::MAX)
            }
        }
    }

    /// Checks the window against `MAX_WINDOW_POINTS` (1,000,000) and `MAX_WINDOW_SECONDS` (10 years) for a
    /// metric with `interval`; the error says what to change.
    pub fn check_limits(&self, interval: &HumanDuration) -> Result<(), String> {
        let points = self.points_at(interval.delta());
        if points > MAX_WINDOW_POINTS {
            return Err(format!(
                "window {} is {points} points at the {interval} interval; at most {MAX_WINDOW_POINTS} points are allowed",
                self.describe()
            ));
        }
        let seconds = self.lookback(interval.delta()).num_seconds();
        if seconds > MAX_WINDOW_SECONDS {
            return Err(format!(
                "window {} reaches back {} days at the {interval} interval; at most {} days are allowed",
                self.describe(),
                seconds / 86_400,
                MAX_WINDOW_SECONDS / 86_400
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match self {
            Window::Span(d) => format!("`{d}`"),
            Window::Points(n) => format!("of {n} points"),
        }
    }

    /// Parses a window from config text: a duration, or a bare integer point count.
    ///
    /// ```
    /// use detectk_core::Window;
    /// assert_eq!(Window::parse("4320").unwrap(), Window::Points(4320));
    /// assert!(matches!(Window::parse("30 days").unwrap(), Window::Span(_)));
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            let n: usize = trimmed
                .parse()
                .map_err(|_| format!("window `{trimmed}` is too large"))?;
            return Window::points(n);
        }
        let span = HumanDuration::parse(trimmed)?;
        if span.seconds() > MAX_WINDOW_SECONDS {
            return Err(format!(
                "window `{trimmed}` is too long (at most {} days)",
                MAX_WINDOW_SECONDS / 86_400
            ));
        }
        Ok(Window::Span(span))
    }

    /// A point-count window; zero is rejected.
    pub fn points(n: usize) -> Result<Self, String> {
        if n == 0 {
            Err("window must hold at least one point".into())
        } else if n > MAX_WINDOW_POINTS {
            Err(format!(
                "window of {n} points is too large (at most {MAX_WINDOW_POINTS} points)"
            ))
        } else {
            Ok(Window::Points(n))
        }
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Window::Span(d) => d.serialize(s),
            Window::Points(n) => s.serialize_u64(*n as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        for (text, secs) in [
            ("10 minutes", 600),
            ("1 hour", 3600),
            ("30 days", 2_592_000),
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("7d", 604_800),
            ("2 weeks", 1_209_600),
            ("1 Hour", 3600),
            ("1h 30m", 5400),
            ("1 day, 2 hours", 93_600),
        ] {
            assert_eq!(
                HumanDuration::parse(text).unwrap().seconds(),
                secs,
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_durations_with_reason() {
        assert!(HumanDuration::parse("").unwrap_err().contains("empty"));
        assert!(
            HumanDuration::parse("10")
                .unwrap_err()
                .contains("missing unit")
        );
        assert!(
            HumanDuration::parse("3 months")
                .unwrap_err()
                .contains("use days")
        );
        assert!(
            HumanDuration::parse("0 minutes")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(
            HumanDuration::parse("ten minutes")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(HumanDuration::parse("99999999999999999 weeks").is_err());
        assert!(
            HumanDuration::parse("100000000 days")
                .unwrap_err()
                .contains("too large (at most 36500 days)")
        );
        assert!(HumanDuration::parse("36500 days").is_ok());
    }

    #[test]
    fn windows_have_limits() {
        assert!(
            Window::parse("1000000000000")
                .unwrap_err()
                .contains("at most 1000000 points")
        );
        assert!(
            Window::parse("3651 days")
                .unwrap_err()
                .contains("at most 3650 days")
        );
        let ten = HumanDuration::parse("10 minutes").unwrap();
        assert!(
            Window::parse("3650 days")
                .unwrap()
                .check_limits(&ten)
                .is_ok()
        );
        let second = HumanDuration::parse("1 second").unwrap();
        let e = Window::parse("30 days")
            .unwrap()
            .check_limits(&second)
            .unwrap_err();
        assert_eq!(
            e,
            "window `30 days` is 2592000 points at the 1 second interval; at most 1000000 points are allowed"
        );
        let day = HumanDuration::parse("1 day").unwrap();
        let e = Window::parse("10000")
            .unwrap()
            .check_limits(&day)
            .unwrap_err();
        assert!(e.contains("reaches back 10000 days"), "{e}");
    }

    #[test]
    fn formats_natural_units() {
        assert_eq!(HumanDuration::from_seconds(600).as_str(), "10 minutes");
        assert_eq!(HumanDuration::from_seconds(3600).as_str(), "1 hour");
        assert_eq!(HumanDuration::from_seconds(90).as_str(), "90 seconds");
    }

    #[test]
    fn window_lookback() {
        let w = Window::parse("6").unwrap();
        assert_eq!(w.lookback(TimeDelta::minutes(10)), TimeDelta::hours(1));
        assert!(Window::parse("0").is_err());
    }
}
