//! Schema versioning shared by the SQL storages.
//!
//! Each storage keeps `dtk_schema_version(version, applied_at)`, one row per applied
//! migration. `migrate()` applies the missing ones in order, under a lock (SQLite:
//! `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock; MySQL: `GET_LOCK`), so several
//! processes may call it at once.

/// An error when the tables are newer than this build understands.
pub(crate) fn check_version(current: i64, known: usize) -> Result<(), String> {
    if current > known as i64 {
        Err(format!(
            "the dtk_* tables are at schema version {current}, newer than this build of DetectK knows ({known}); upgrade dtk"
        ))
    } else {
        Ok(())
    }
}

/// Tables Python detectk created under the same names, recognised by a column only
/// DetectK for Rust has. Before the first migration they are renamed to
/// `<name>_python` (their rows kept for reference) so the new tables can be created;
/// the first run then reloads history from the source.
pub(crate) const LEGACY_TABLES: &[(&str, &str)] = &[
    ("dtk_datapoints", "is_missing"),
    ("dtk_detections", "score"),
];

/// The name a legacy table is kept under.
pub(crate) fn legacy_name(table: &str) -> String {
    format!("{table}_python")
}

/// Logs the rename of a legacy table.
pub(crate) fn log_legacy_rename(table: &str) {
    tracing::warn!(
        table,
        renamed_to = %legacy_name(table),
        "found a {table} table of Python detectk; kept it under a new name and created DetectK's own"
    );
}
