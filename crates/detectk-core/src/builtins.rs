//! What `detectk-core` itself registers: the `console` alerter, and the names of
//! Python detectk types that DetectK does not port (a config naming one gets "exists
//! only in Python detectk" rather than "unknown").
//!
//! It sits above both the registry and the console alerter, so neither imports the other.

use crate::alert::console;
use crate::config::PYTHON_ONLY_COLLECTORS;
use crate::registry::{Component, Registry};

impl Registry {
    /// A registry holding what `detectk-core` itself provides: the `console` alerter,
    /// and the Python-only type names (every Python detectk alerter, Telegram and email
    /// included, has a DetectK crate).
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        console::register(&mut r);
        for name in PYTHON_ONLY_COLLECTORS {
            r.note_python_only(Component::Collector, name);
        }
        r
    }
}
