#![doc = include_str!("../README.md")]

use detectk_core::Registry;

/// Registers this crate's types with `registry`.
pub fn register(registry: &mut Registry) {
    let _ = registry;
}
