//! The stored text form of a UTC time in SQLite: `YYYY-MM-DD HH:MM:SS[.ffffff]`
//! (SQLite's own date format: text order is time order, and `datetime()` understands
//! it). Written and read digit by digit: a tick reads thousands of stored times per
//! metric, and chrono's format-string parser costs more than the rest of the row.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

/// Stored text form of a UTC time: `YYYY-MM-DD HH:MM:SS`, with `.ffffff` only when
/// there are sub-seconds. Text order equals time order.
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    let year = t.year();
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        // Outside four-digit years, and leap seconds: chrono's own formatting.
        let format = if t.nanosecond() == 0 {
            "%Y-%m-%d %H:%M:%S"
        } else {
            "%Y-%m-%d %H:%M:%S%.6f"
        };
        return t.format(format).to_string();
    }
    let mut text = String::with_capacity(26);
    push_digits(&mut text, year as u32, 4);
    text.push('-');
    push_digits(&mut text, t.month(), 2);
    text.push('-');
    push_digits(&mut text, t.day(), 2);
    text.push(' ');
    push_digits(&mut text, t.hour(), 2);
    text.push(':');
    push_digits(&mut text, t.minute(), 2);
    text.push(':');
    push_digits(&mut text, t.second(), 2);
    if t.nanosecond() != 0 {
        text.push('.');
        push_digits(&mut text, t.nanosecond() / 1000, 6);
    }
    text
}

/// Appends the last `width` decimal digits of `v`, zero-padded.
fn push_digits(text: &mut String, v: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (v / 10u32.pow(place)) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

/// Why a stored text is not read as a time (the sqlx path and the lane say it alike).
pub(crate) fn not_a_time(text: &str) -> String {
    format!("{text:?} is not a time")
}

/// Parses [`time_text`] (and ISO 8601 with `T`, optional `Z` or offset) as UTC.
pub(crate) fn parse_time_text(s: &str) -> Option<DateTime<Utc>> {
    parse_exact(s.as_bytes()).or_else(|| parse_general(s))
}

/// The stored form exactly, as UTC (see [`parse_naive_exact`]).
fn parse_exact(b: &[u8]) -> Option<DateTime<Utc>> {
    parse_naive_exact(b).map(|n| n.and_utc())
}

/// `YYYY-MM-DD HH:MM:SS` (or `T` between date and time), then optionally `.` and 1 to
/// 9 digits, nothing else: the same time chrono's `%Y-%m-%d %H:%M:%S%.f` reads, without
/// its format-string machinery. `None` for anything else (including leap seconds and
/// zones), which the callers then give to chrono.
pub(crate) fn parse_naive_exact(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b' ' && b[10] != b'T' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    if second > 59 {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)
}

/// The value of a run of ASCII digits; `None` when any byte is not one.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Every form SQLite and ISO 8601 write: RFC 3339 with `Z` or an offset, and the
/// naive forms with `T` or a space, with or without seconds and fractions (as UTC).
fn parse_general(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn time_text_is_chronos_format() {
        let start = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 58).unwrap();
        for step in 0..2_000i64 {
            let t = start + chrono::Duration::nanoseconds(step * 987_654_321_123);
            let format = if t.nanosecond() == 0 {
                "%Y-%m-%d %H:%M:%S"
            } else {
                "%Y-%m-%d %H:%M:%S%.6f"
            };
            assert_eq!(time_text(t), t.format(format).to_string());
        }
        let whole = Utc.with_ymd_and_hms(2024, 2, 29, 7, 5, 3).unwrap();
        assert_eq!(time_text(whole), "2024-02-29 07:05:03");
        assert_eq!(
            time_text(whole + chrono::Duration::nanoseconds(1_500)),
            "2024-02-29 07:05:03.000001"
        );
    }

    #[test]
    fn time_text_sorts_like_time_and_round_trips() {
        let a = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let b = a + chrono::Duration::milliseconds(500);
        let c = a + chrono::Duration::seconds(1);
        let texts: Vec<String> = [a, b, c].into_iter().map(time_text).collect();
        assert_eq!(texts[0], "2024-01-01 00:00:00");
        assert_eq!(texts[1], "2024-01-01 00:00:00.500000");
        assert!(texts[0] < texts[1] && texts[1] < texts[2]);
        for (t, s) in [a, b, c].into_iter().zip(&texts) {
            assert_eq!(parse_time_text(s), Some(t));
        }
        assert_eq!(parse_time_text("2024-01-01T00:00:00Z"), Some(a));
        assert_eq!(parse_time_text("2024-01-01T03:00:00+03:00"), Some(a));
        assert_eq!(parse_time_text(" 2024-01-01 00:00 "), Some(a));
    }

    #[test]
    fn the_exact_parser_leaves_everything_else_to_the_general_one() {
        for s in [
            "2024-01-01 00:00",
            "2024-01-01T00:00:00Z",
            "2024-01-01 00:00:00+03:00",
            "2024-01-01 00:00:00.",
            "2024-01-01 00:00:00.1234567890",
            "2024-1-01 00:00:00",
            "2024-01-01 00:00:60",
            "2024-01-01_00:00:00",
            "+2024-01-01 00:00:00",
            " 2024-01-01 00:00:00",
        ] {
            assert_eq!(parse_exact(s.as_bytes()), None, "{s}");
        }
        for s in [
            "2024-02-30 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 00:60:00",
        ] {
            assert_eq!(parse_time_text(s), None, "{s}");
        }
        let leap = parse_time_text("2016-12-31 23:59:60").expect("a leap second");
        assert_eq!(leap.nanosecond(), 1_000_000_000);
    }

    proptest! {
        /// Every stored time reads back as itself, through the exact parser.
        #[test]
        fn stored_times_round_trip(secs in 0i64..253_402_300_799, micros in 0u32..1_000_000) {
            let t = DateTime::from_timestamp(secs, micros * 1000).unwrap();
            let text = time_text(t);
            prop_assert_eq!(parse_exact(text.as_bytes()), Some(t));
            prop_assert_eq!(parse_time_text(&text), Some(t));
        }

        /// Where the exact parser answers, chrono's format parser gives the same time.
        #[test]
        fn the_exact_parser_agrees_with_chrono(
            s in "[0-9]{4}-[0-1][0-9]-[0-3][0-9][ T][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?"
        ) {
            let format = if s.as_bytes()[10] == b'T' { "%Y-%m-%dT%H:%M:%S%.f" } else { "%Y-%m-%d %H:%M:%S%.f" };
            let chrono = NaiveDateTime::parse_from_str(&s, format).ok().map(|n| n.and_utc());
            match parse_exact(s.as_bytes()) {
                Some(t) => prop_assert_eq!(Some(t), chrono),
                None => prop_assert_eq!(parse_time_text(&s), chrono),
            }
        }
    }
}
