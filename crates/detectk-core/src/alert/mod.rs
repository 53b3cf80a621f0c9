//! Alert policy, message text and the built-in console alerter.

pub mod console;
