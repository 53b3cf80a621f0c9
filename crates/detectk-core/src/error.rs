//! Typed errors. Libraries return these; only the `dtk` binary renders them.

use std::fmt;
use std::path::PathBuf;

/// Boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One problem found in a config file: where it is, what is wrong, and a hint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConfigIssue {
    /// File the problem is in, when known.
    pub file: Option<PathBuf>,
    /// Dotted field path, e.g. `detector.params.n_sigma` (empty for the whole file).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, e.g. "did you mean `n_sigma`?".
    pub hint: Option<String>,
}

impl ConfigIssue {
    /// A new issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the file, unless one is already set.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }

    /// Prefixes the field path (`params` + `n_sigma` -> `params.n_sigma`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = join_path(prefix, &self.path);
        self
    }
}

/// Joins two dotted paths, skipping empty parts.
pub fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ if rest.starts_with('[') => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{rest}"),
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one or more config files, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order found.
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    /// An error with a single issue.
    pub fn single(issue: ConfigIssue) -> Self {
        Self {
            issues: vec![issue],
        }
    }

    /// Sets the file on every issue that has none.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        let file = file.into();
        self.issues = self
            .issues
            .into_iter()
            .map(|i| i.in_file(file.clone()))
            .collect();
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.issues.as_slice() {
            [one] => write!(f, "invalid config: {one}"),
            many => {
                write!(f, "invalid config: {} problems", many.len())?;
                for issue in many {
                    write!(f, "\n  {issue}")?;
                }
                Ok(())
            }
        }
    }
}

/// What kind of failure a backend (collector or storage) hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendErrorKind {
    /// Could not reach the server or open the file.
    Connect,
    /// The server refused the credentials.
    Auth,
    /// The server rejected the query (syntax error, missing table, ...).
    Query,
    /// A value could not be decoded into the expected type.
    Decode,
    /// The storage schema could not be created or migrated.
    Schema,
    /// The operation timed out.
    Timeout,
    /// The backend is not usable with these settings.
    Unsupported,
    /// Anything else.
    Other,
}

impl fmt::Display for BackendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection failed",
            Self::Auth => "authentication failed",
            Self::Query => "query failed",
            Self::Decode => "could not decode result",
            Self::Schema => "schema setup failed",
            Self::Timeout => "timed out",
            Self::Unsupported => "unsupported",
            Self::Other => "backend error",
        })
    }
}

/// A collector or storage failure. `server` names where (host:port, a file path), never a password.
///
/// Displayed as `{kind} ({location or server}): {message}`; the message already holds
/// the driver's own text, so renderers print the `source` chain only below it.
#[derive(Debug, thiserror::Error)]
pub struct BackendError {
    /// What kind of failure.
    pub kind: BackendErrorKind,
    /// Where: `host:port`, `sqlite file.db`; never credentials.
    pub server: String,
    /// Backend, server and database, when known: `postgres 127.0.0.1:5432/shop`.
    /// Shown instead of `server`. Never credentials.
    pub location: Option<String>,
    /// What went wrong, in words.
    pub message: String,
    /// What to do about it, when the backend knows the cause (refused, unknown database, ...).
    pub hint: Option<String>,
    /// Whether retrying may help (connection reset, timeout, server busy).
    pub transient: bool,
    /// The underlying error.
    #[source]
    pub source: Option<BoxError>,
}

impl BackendError {
    /// A new error without a source.
    pub fn new(
        kind: BackendErrorKind,
        server: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            server: server.into(),
            location: None,
            message: message.into(),
            hint: None,
            transient: false,
            source: None,
        }
    }

    /// Names the backend, server and database (`postgres 127.0.0.1:5432/shop`), unless
    /// a location is already set.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        if self.location.is_none() {
            self.location = Some(location.into());
        }
        self
    }

    /// Adds a hint that fits the cause.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Marks the error as worth retrying.
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.location.as_deref().unwrap_or(&self.server);
        write!(f, "{} ({place}): {}", self.kind, self.message)
    }
}

/// What kind of failure an alert channel hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertErrorKind {
    /// The endpoint rejected the message (4xx other than 429): not retried.
    Rejected,
    /// The endpoint kept failing (5xx, 429, connection errors) after all retries.
    Unavailable,
    /// No answer in time.
    Timeout,
    /// The message could not be rendered.
    Template,
    /// Anything else.
    Other,
}

/// An alert delivery failure. Never contains the webhook URL.
#[derive(Debug, thiserror::Error)]
#[error("{channel}: {message}")]
#[non_exhaustive]
pub struct AlertError {
    /// What kind of failure.
    pub kind: AlertErrorKind,
    /// Channel type, e.g. `mattermost`.
    pub channel: String,
    /// What went wrong, in words.
    pub message: String,
    /// Last HTTP status, when there was one.
    pub status: Option<u16>,
    /// How many attempts were made.
    pub attempts: u32,
    /// The underlying error (already scrubbed of secrets).
    #[source]
    pub source: Option<BoxError>,
}

impl AlertError {
    /// A new error.
    pub fn new(
        kind: AlertErrorKind,
        channel: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            channel: channel.into(),
            message: message.into(),
            status: None,
            attempts: 0,
            source: None,
        }
    }
}

/// A failure while processing one metric. Carries the metric's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The collector failed.
    #[error("metric `{metric}`: collecting data failed")]
    Collect {
        /// Metric name.
        metric: String,
        /// Cause.
        #[source]
        source: Box<BackendError>,
    },
    /// The query result does not fit the column mapping or holds bad values.
    #[error("metric `{metric}`: {message}")]
    Data {
        /// Metric name.
        metric: String,
        /// What is wrong with the data.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The storage failed.
    #[error("metric `{metric}`: storage failed")]
    Storage {
        /// Metric name.
        metric: String,
        /// Cause.
        #[source]
        source: Box<BackendError>,
    },
    /// A detector failed.
    #[error("metric `{metric}`: detector `{detector_id}` failed: {message}")]
    Detect {
        /// Metric name.
        metric: String,
        /// Detector ID.
        detector_id: String,
        /// What went wrong.
        message: String,
    },
    /// Sending an alert failed.
    #[error("metric `{metric}`: sending the alert failed")]
    Alert {
        /// Metric name.
        metric: String,
        /// Cause.
        #[source]
        source: AlertError,
    },
    /// Processing the metric panicked: a bug in DetectK. The caller caught it, so the
    /// other metrics of the run were not affected.
    #[error("metric `{metric}`: internal error: {message}")]
    Internal {
        /// Metric name.
        metric: String,
        /// The panic message.
        message: String,
    },
}

impl Error {
    /// The kind as one word, as `--format json` output names it: `config`, `collect`,
    /// `data`, `storage`, `detect`, `alert` or `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Collect { .. } => "collect",
            Error::Data { .. } => "data",
            Error::Storage { .. } => "storage",
            Error::Detect { .. } => "detect",
            Error::Alert { .. } => "alert",
            Error::Internal { .. } => "internal",
        }
    }

    /// An [`Error::Internal`] from a caught panic's payload.
    pub fn from_panic(metric: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-text payload".to_string());
        Error::Internal {
            metric: metric.to_string(),
            message,
        }
    }
}

impl Error {
    /// A hint for the user, when there is an obvious next step.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config(e) => e.issues.iter().find_map(|i| i.hint.clone()),
            Error::Data { hint, .. } => hint.clone(),
            Error::Collect { source, .. } | Error::Storage { source, .. }
                if source.hint.is_some() =>
            {
                source.hint.clone()
            }
            Error::Collect { source, .. } | Error::Storage { source, .. } => match source.kind {
                BackendErrorKind::Connect if source.server.starts_with("sqlite") => Some(
                    "check the SQLite file's path and that its directory is readable and writable".into(),
                ),
                BackendErrorKind::Connect => Some(format!(
                    "is the server at {} running and reachable? check `host` and `port`",
                    source.server
                )),
                BackendErrorKind::Auth => {
                    Some("check the user and password in the params, profile or environment".into())
                }
                BackendErrorKind::Timeout => Some(
                    "the server did not answer in time; check that it is not overloaded, or raise `timeout`".into(),
                ),
                _ => None,
            },
            Error::Internal { .. } => Some(
                "this is a bug in DetectK, please report it with the metric's config (secrets removed); the other metrics were not affected".into(),
            ),
            Error::Alert { source, .. } if source.kind == AlertErrorKind::Rejected => Some(
                "the endpoint rejected the message; check the webhook URL and the channel".into(),
            ),
            _ => None,
        }
    }

    /// The metric the error belongs to, when there is one.
    pub fn metric(&self) -> Option<&str> {
        match self {
            Error::Config(_) => None,
            Error::Collect { metric, .. }
            | Error::Data { metric, .. }
            | Error::Storage { metric, .. }
            | Error::Detect { metric, .. }
            | Error::Alert { metric, .. }
            | Error::Internal { metric, .. } => Some(metric),
        }
    }
}
