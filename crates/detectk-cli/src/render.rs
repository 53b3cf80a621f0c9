//! Rendering errors and warnings, uv-style: `error:`, `caused by:`, `hint:`.

use std::error::Error as StdError;
use std::fmt::Write as _;

use detectk_core::{ConfigError, ConfigIssue, Error};
use serde_json::{Value, json};

/// The messages of `e`'s source chain (not `e` itself), duplicates removed.
pub fn causes(e: &dyn StdError) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = e.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        // Drivers often repeat the message of their own source; show each text once.
        let shown = e.to_string().contains(&text) || out.iter().any(|o| o.contains(&text));
        if !shown {
            out.push(text);
        }
        current = cause.source();
    }
    out
}

/// A config issue as text lines: `error: file: path: message` and its hint.
pub fn issue_text(level: &str, issue: &ConfigIssue) -> String {
    let mut s = format!("{level}: {issue}\n");
    if let Some(hint) = &issue.hint {
        let _ = writeln!(s, "  hint: {hint}");
    }
    s
}

/// A config error: one `error:` block per issue.
pub fn config_error_text(e: &ConfigError) -> String {
    e.issues.iter().map(|i| issue_text("error", i)).collect()
}

/// Any error: `error:` line, `caused by:` lines, `hint:` line.
pub fn error_text(e: &Error) -> String {
    if let Error::Config(c) = e {
        return config_error_text(c);
    }
    let mut s = format!("error: {e}\n");
    for cause in causes(e) {
        let _ = writeln!(s, "  caused by: {cause}");
    }
    if let Some(hint) = e.hint() {
        let _ = writeln!(s, "  hint: {hint}");
    }
    s
}

/// A config issue as JSON.
pub fn issue_json(issue: &ConfigIssue) -> Value {
    json!({
        "file": issue.file.as_ref().map(|f| f.display().to_string()),
        "path": issue.path,
        "message": issue.message,
        "hint": issue.hint,
    })
}

/// An error as JSON: kind, message, causes, hint (config errors list their issues).
pub fn error_json(e: &Error) -> Value {
    match e {
        Error::Config(c) => json!({
            "kind": "config",
            "message": c.to_string(),
            "issues": c.issues.iter().map(issue_json).collect::<Vec<_>>(),
        }),
        other => json!({
            "kind": other.kind(),
            "message": other.to_string(),
            "causes": causes(other),
            "hint": other.hint(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use detectk_core::{BackendError, BackendErrorKind};

    #[test]
    fn renders_cause_and_hint() {
        let e = Error::Collect {
            metric: "sessions".into(),
            source: Box::new(BackendError::new(
                BackendErrorKind::Connect,
                "127.0.0.1:5433",
                "connection refused",
            )),
        };
        insta::assert_snapshot!(error_text(&e), @r"
        error: metric `sessions`: collecting data failed
          caused by: connection failed (127.0.0.1:5433): connection refused
          hint: is the server at 127.0.0.1:5433 running and reachable? check `host` and `port`
        ");
    }

    #[test]
    fn renders_each_config_issue() {
        let e = ConfigError {
            issues: vec![
                ConfigIssue::new("detector.params.n_sigma", "must be > 0, got -1")
                    .in_file("sessions.yaml"),
                ConfigIssue::new("colector", "unknown key")
                    .with_hint("did you mean `collector`?")
                    .in_file("sessions.yaml"),
            ],
        };
        insta::assert_snapshot!(config_error_text(&e), @r"
        error: sessions.yaml: detector.params.n_sigma: must be > 0, got -1
        error: sessions.yaml: colector: unknown key
          hint: did you mean `collector`?
        ");
    }
}
