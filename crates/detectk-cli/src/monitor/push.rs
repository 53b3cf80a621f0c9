//! `--pushgateway URL`: the metrics file's text PUT to `URL/metrics/job/dtk` (the
//! group is replaced whole, as a batch job's should be). One attempt, 10 s timeout.

use std::time::Duration;

use detectk_core::Secret;

use super::heartbeat::redact_url;

/// Timeout of the push.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The push URL for the base `url`.
pub fn push_url(url: &str) -> String {
    format!("{}/metrics/job/dtk", url.trim_end_matches('/'))
}

/// PUTs `text` (Prometheus text format) to the Pushgateway at `url`.
pub async fn push(url: &Secret, text: &str) -> Result<(), String> {
    let shown = redact_url(url.expose());
    let client = reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {}", e.without_url()))?;
    let response = client
        .put(push_url(url.expose()))
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text.to_string())
        .send()
        .await
        .map_err(|e| format!("push to {shown} failed: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(300).collect();
        return Err(format!(
            "push to {shown} answered HTTP {}: {}",
            status.as_u16(),
            body.trim()
        ));
    }
    Ok(())
}
