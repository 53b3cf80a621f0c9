//! Times in SQLite: UTC text that sorts like the time it denotes.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};

/// Stored text form of a UTC time: `YYYY-MM-DD HH:MM:SS`, with `.ffffff` only when
/// there are sub-seconds. Text order equals time order.
pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    if t.nanosecond() == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// Parses [`time_text`] (and ISO 8601 with `T`, optional `Z` or offset) as UTC.
pub(crate) fn parse_time_text(s: &str) -> Option<DateTime<Utc>> {
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
    }
}
