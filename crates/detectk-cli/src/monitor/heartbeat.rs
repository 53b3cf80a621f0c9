//! The dead man's switch: `heartbeat_url` pinged after `dtk run` (healthchecks.io
//! convention): `URL` on success, `URL/fail` on failure. One attempt per ping with a
//! short timeout, never retried (the next run pings again), at most
//! [`PARALLEL_PINGS`] at a time. The URL is a secret: messages name only its host.
//!
//! Project level: `heartbeat_url` in `detectk_project.yaml`, pinged once per run (fail
//! when any metric failed or was invalid). Metric level: `heartbeat_url` in the metric
//! config, pinged after that metric's run.

use std::path::Path;
use std::time::Duration;

use detectk_core::config::ProjectDefaults;
use detectk_core::{ConfigError, Secret};
use futures::StreamExt;

use super::{MetricOutcome, Problem, RunTotals};

/// Timeout of one ping (connecting included).
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Pings sent at the same time.
pub const PARALLEL_PINGS: usize = 8;

/// `scheme://host[:port]/...`: a URL with its path, query and credentials hidden.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    format!("{scheme}://{host}/***")
}

/// The failure URL: `/fail` appended to the path (before any query string).
pub fn fail_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = format!("{}/fail", base.trim_end_matches('/'));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The project's `heartbeat_url` from `ROOT/detectk_project.yaml` (`${VAR}` expanded
/// from the environment), if the file sets one; the file is checked as a whole.
pub fn project_heartbeat(root: &Path) -> Result<Option<Secret>, ConfigError> {
    let project = ProjectDefaults::load(
        root,
        |name| std::env::var(name).ok(),
        detectk_core::alert::check_conditions,
    )?;
    Ok(project.heartbeat_url)
}

async fn ping(client: &reqwest::Client, url: &Secret, ok: bool) -> Result<(), String> {
    let target = if ok {
        url.expose().to_string()
    } else {
        fail_url(url.expose())
    };
    let shown = redact_url(url.expose());
    let response = client
        .get(&target)
        .send()
        .await
        .map_err(|e| format!("heartbeat ping to {shown} failed: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!(
            "heartbeat ping to {shown} answered HTTP {}",
            response.status().as_u16()
        ));
    }
    Ok(())
}

/// Pings every heartbeat of the run; returns the failed pings as warnings.
pub async fn ping_all(
    project: Option<&Secret>,
    outcomes: &[MetricOutcome],
    totals: &RunTotals,
) -> Vec<Problem> {
    let mut pings: Vec<(Option<&str>, &Secret, bool)> = outcomes
        .iter()
        .filter_map(|o| {
            o.heartbeat_url
                .as_ref()
                .map(|u| (Some(o.metric.as_str()), u, o.ok))
        })
        .collect();
    if let Some(url) = project {
        pings.push((None, url, totals.failed == 0 && totals.invalid == 0));
    }
    if pings.is_empty() {
        return Vec::new();
    }
    let client = match reqwest::Client::builder()
        .timeout(PING_TIMEOUT)
        .connect_timeout(PING_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Problem::warning(format!(
                "heartbeat: cannot start the HTTP client: {}",
                e.without_url()
            ))];
        }
    };
    let client = &client;
    futures::stream::iter(pings)
        .map(|(metric, url, ok)| async move {
            ping(client, url, ok).await.err().map(|e| match metric {
                Some(m) => Problem::warning(format!("metric `{m}`: {e}")),
                None => Problem::warning(format!("project: {e}")),
            })
        })
        .buffer_unordered(PARALLEL_PINGS)
        .filter_map(|p| async move { p })
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_fail_goes_before_the_query() {
        assert_eq!(
            redact_url("https://user:pw@hc-ping.com/abc-uuid?x=1"),
            "https://hc-ping.com/***"
        );
        assert_eq!(
            fail_url("https://hc-ping.com/abc/"),
            "https://hc-ping.com/abc/fail"
        );
        assert_eq!(
            fail_url("http://127.0.0.1:9/p/abc?create=1"),
            "http://127.0.0.1:9/p/abc/fail?create=1"
        );
    }

    #[test]
    fn the_project_heartbeat_comes_from_the_marker_file_with_env_expanded() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(project_heartbeat(dir.path()).unwrap(), None);
        let marker = dir.path().join(detectk_core::config::PROJECT_MARKER);
        std::fs::write(
            &marker,
            "version: 1\nheartbeat_url: ${DTK_TEST_UNSET_HB_VAR}\n",
        )
        .unwrap();
        let e = project_heartbeat(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("DTK_TEST_UNSET_HB_VAR") && e.contains("detectk_project.yaml"),
            "{e}"
        );
        std::fs::write(&marker, "heartbeat_url: ftp://x/secret-token\n").unwrap();
        let e = project_heartbeat(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("heartbeat_url") && !e.contains("secret-token"),
            "{e}"
        );
        std::fs::write(&marker, "heartbeat_url: http://127.0.0.1:1/ping/x\n").unwrap();
        let url = project_heartbeat(dir.path()).unwrap().unwrap();
        assert_eq!(url.expose(), "http://127.0.0.1:1/ping/x");
    }
}
