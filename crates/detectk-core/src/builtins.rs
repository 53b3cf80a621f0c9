//! What `detectk-core` itself registers: the `console` alerter.
//!
//! It sits above both the registry and the console alerter, so neither imports the other.

use crate::alert::console;
use crate::registry::Registry;

impl Registry {
    /// A registry holding what `detectk-core` itself provides: the `console` alerter.
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        console::register(&mut r);
        r
    }
}
