//! Check results and the report of a whole suite.

use std::fmt;

use crate::error::BackendError;

/// Why a check failed: a message naming what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// What went wrong.
    pub message: String,
}

impl CheckFailure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<BackendError> for CheckFailure {
    fn from(e: BackendError) -> Self {
        let mut message = format!("backend error: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        Self { message }
    }
}

/// Outcome of one check.
pub type CheckResult = Result<(), CheckFailure>;

/// Fails the check with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::testkit::CheckFailure::new(format!($($msg)+)));
        }
    };
}

/// Fails the check unless both sides are equal, showing both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($crate::testkit::CheckFailure::new(format!(
                "{}: expected {:?}, got {:?}",
                format!($($msg)+),
                r,
                l
            )));
        }
    }};
}

pub(crate) use ensure;
pub(crate) use ensure_eq;

/// Results of a whole suite: which checks ran and which failed, and why.
#[derive(Debug, Clone, Default)]
pub struct SuiteReport {
    /// The suite's name and the backend it ran against.
    pub suite: String,
    /// Names of the checks that passed.
    pub passed: Vec<&'static str>,
    /// Names of the checks that failed, with the reason.
    pub failed: Vec<(&'static str, CheckFailure)>,
}

impl SuiteReport {
    /// An empty report for `suite`.
    pub fn new(suite: impl Into<String>) -> Self {
        Self {
            suite: suite.into(),
            ..Self::default()
        }
    }

    /// Records the outcome of the check `name`.
    pub fn record(&mut self, name: &'static str, result: CheckResult) {
        match result {
            Ok(()) => self.passed.push(name),
            Err(e) => self.failed.push((name, e)),
        }
    }

    /// Total number of checks run.
    pub fn total(&self) -> usize {
        self.passed.len() + self.failed.len()
    }

    /// Panics with every failed check's name and reason, if any failed.
    pub fn assert_all_passed(&self) {
        assert!(self.total() > 0, "{}: no check ran", self.suite);
        assert!(self.failed.is_empty(), "{self}");
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} passed, {} failed",
            self.suite,
            self.passed.len(),
            self.failed.len()
        )?;
        for (name, failure) in &self.failed {
            write!(f, "\n  FAILED {name}: {failure}")?;
        }
        Ok(())
    }
}
