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
