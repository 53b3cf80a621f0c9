//! `alerter.params.report_url`: a link to a report or chart of the alerted metric and
//! time, put in every message (`Report: <link>` in the default text, `report_url` in
//! templates). The pattern names the metric and time with placeholders: `{metric}`,
//! `{timestamp}` (`2024-01-01T10:00:00Z`), `{date}` (`2024-01-01`) and `{epoch_ms}`
//! (Unix milliseconds, as Grafana's `from=` / `to=` take them).

use chrono::{DateTime, Utc};

/// The placeholders a `report_url` may use.
pub const REPORT_URL_PLACEHOLDERS: &[&str] = &["metric", "timestamp", "date", "epoch_ms"];

/// The placeholders in `pattern`, in order, or the text of an unclosed one.
fn placeholders(pattern: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("`{{` at `{}` is not closed", &rest[open..]))?;
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Checks a `report_url` pattern: an `http://` or `https://` URL whose placeholders are
/// all known.
///
/// ```
/// use detectk_core::alert::check_report_url;
/// assert!(check_report_url("https://r.example/{metric}.html#{timestamp}").is_ok());
/// assert!(check_report_url("https://r.example/{metrc}").unwrap_err().contains("metrc"));
/// assert!(check_report_url("r.example/x").is_err());
/// ```
pub fn check_report_url(pattern: &str) -> Result<(), String> {
    if !(pattern.starts_with("http://") || pattern.starts_with("https://")) {
        return Err("must start with http:// or https://".into());
    }
    if pattern.chars().any(char::is_whitespace) {
        return Err("contains whitespace".into());
    }
    for name in placeholders(pattern)? {
        if !REPORT_URL_PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{name}}}`; available: {}",
                REPORT_URL_PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// The link for `metric` at `timestamp` (placeholders replaced; unknown ones are kept
/// as written, which validation prevents).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use detectk_core::alert::expand_report_url;
/// let t = Utc.with_ymd_and_hms(2024, 1, 2, 10, 0, 0).unwrap();
/// assert_eq!(
///     expand_report_url("https://r.example/{metric}/{date}.html#{timestamp}", "orders", t),
///     "https://r.example/orders/2024-01-02.html#2024-01-02T10:00:00Z"
/// );
/// ```
pub fn expand_report_url(pattern: &str, metric: &str, timestamp: DateTime<Utc>) -> String {
    pattern
        .replace("{metric}", metric)
        .replace(
            "{timestamp}",
            &timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
        .replace("{date}", &timestamp.format("%Y-%m-%d").to_string())
        .replace("{epoch_ms}", &timestamp.timestamp_millis().to_string())
}
