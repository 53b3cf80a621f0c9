//! What a factory returns: the part it built, or every problem of its params.

use std::fmt;

use crate::error::ConfigIssue;

/// A part a factory built, with the warnings its params raised.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Built<T> {
    /// The collector, storage, detector or alerter.
    pub part: T,
    /// Things worth telling the user that do not stop the run.
    pub warnings: Vec<ConfigIssue>,
}

impl<T> Built<T> {
    /// `part` with `warnings`.
    pub fn new(part: T, warnings: Vec<ConfigIssue>) -> Self {
        Self { part, warnings }
    }
}

/// Why a factory built nothing: every problem of its params at once, with the
/// warnings found on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildError {
    /// Problems that make the params invalid, in the order found.
    pub issues: Vec<ConfigIssue>,
    /// Warnings found while reading the params.
    pub warnings: Vec<ConfigIssue>,
}

impl BuildError {
    /// An error of `issues`, with `warnings`.
    pub fn new(issues: Vec<ConfigIssue>, warnings: Vec<ConfigIssue>) -> Self {
        Self { issues, warnings }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.issues.is_empty() {
            return f.write_str("the part could not be built");
        }
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// A factory's result.
pub type BuildResult<T> = Result<Built<T>, BuildError>;
