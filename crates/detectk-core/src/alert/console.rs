//! The `console` alerter: prints messages to standard error (or appends them to a file), so
//! it never mixes with `--format json` output on stdout.
//!
//! It needs no server, so the quickstart shows real alerts on any machine.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::config::Params;
use crate::error::{AlertError, AlertErrorKind};
use crate::registry::{AlerterFactory, BuildResult, Registry};
use crate::traits::{AlertMessage, Alerter};

/// Prints each alert to stderr, or appends it to `path`.
#[derive(Debug)]
pub struct ConsoleAlerter {
    path: Option<PathBuf>,
    lock: Mutex<()>,
}

impl ConsoleAlerter {
    /// An alerter printing to stderr (`path: None`) or appending to a file.
    pub fn new(path: Option<PathBuf>) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }
}

#[async_trait]
impl Alerter for ConsoleAlerter {
    fn describe(&self) -> String {
        match &self.path {
            Some(p) => format!("console (file {})", p.display()),
            None => "console".into(),
        }
    }

    async fn send(&self, message: &AlertMessage) -> Result<(), AlertError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let block = format!("----- alert: {} -----\n{}\n", message.title, message.text);
        let result = match &self.path {
            None => std::io::stderr().lock().write_all(block.as_bytes()),
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(block.as_bytes())),
        };
        result.map_err(|e| {
            AlertError::new(
                AlertErrorKind::Other,
                "console",
                format!("could not write the alert: {e}"),
            )
        })
    }
}

struct ConsoleFactory;

impl AlerterFactory for ConsoleFactory {
    fn build(&self, mut params: Params<'_>) -> BuildResult<Arc<dyn Alerter>> {
        let path: Option<String> = params.optional("path");
        let alerter: Arc<dyn Alerter> = Arc::new(ConsoleAlerter::new(path.map(PathBuf::from)));
        params.conclude(Some(alerter))
    }
}

/// Registers the `console` alerter.
pub fn register(registry: &mut Registry) {
    registry.register_alerter(
        "console",
        "prints alerts to standard error, or appends them to `path`",
        Arc::new(ConsoleFactory),
    );
}
