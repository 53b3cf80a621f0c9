//! Errors of report building (typed; the binary renders them).

use std::path::PathBuf;

use detectk_core::BackendError;

/// Why a report or chart could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Reading a metric's stored data failed.
    #[error("metric `{metric}`: cannot read its stored data: {source}")]
    Storage {
        /// The metric.
        metric: String,
        /// The storage's error (no secrets).
        #[source]
        source: Box<BackendError>,
    },
    /// Writing the output failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The chart library failed.
    #[error("cannot draw the chart of `{metric}`: {message}")]
    Draw {
        /// The metric.
        metric: String,
        /// What went wrong.
        message: String,
    },
    /// The output name has no known image extension.
    #[error("{}: unknown image format; use a .png or .svg file name", path.display())]
    Format {
        /// The output file.
        path: PathBuf,
    },
}
