//! Arguments shared by several commands: the output format and the config selection.
//!
//! They sit below `cli` and the commands, so a command never imports `cli` for them.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For machines: one JSON document on stdout.
    Json,
}

/// Which configs to act on.
#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// Config files or directories (searched recursively for *.yaml / *.yml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Only these metrics: `tag:NAME`, a metric name, or a glob on names (`sessions_*`). Repeatable.
    #[arg(short, long)]
    pub select: Vec<String>,
    /// Leave out these metrics (same forms as --select). Repeatable.
    #[arg(short, long)]
    pub exclude: Vec<String>,
}
