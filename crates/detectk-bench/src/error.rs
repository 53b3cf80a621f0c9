//! Errors of the fleet benchmark, each naming the file, database or command involved.

use std::path::{Path, PathBuf};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or directory could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// `fleet.json` is missing a field or malformed.
    #[error("{0}: not a fleet manifest: {1}")]
    Manifest(PathBuf, String),
    /// A database statement failed.
    #[error("{what}: {source}")]
    Database {
        /// The database and step (`source.db: insert points`).
        what: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// A measured command failed or could not be started.
    #[error("command `{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// What happened (exit status, stderr tail).
        message: String,
    },
}

impl BenchError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        Self::Io(path.to_path_buf(), e)
    }

    /// A database error of step `what`.
    pub fn db(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let what = what.into();
        move |source| Self::Database { what, source }
    }
}
