//! Placeholder so the workspace manifest parses; the SQL storage benchmark replaces it.
fn main() {}
