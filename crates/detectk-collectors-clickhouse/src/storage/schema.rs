//! The `dtk_*` tables and the forward-only migrations that create and evolve them.
//!
//! Every table is a `ReplacingMergeTree(version)` ordered by its unique key and read
//! with `FINAL`, so writing a row again replaces it. `version` is a microsecond
//! clock value (see [`super::versions`]); the newest write of a key wins.
//! Everything here runs on ClickHouse 18.16: plain `DateTime('UTC')` (no `DateTime64`),
//! JSON kept as `String`, no TTL, no `ADD COLUMN IF NOT EXISTS`.

/// One step of the schema. Steps are applied in order and recorded in `dtk_schema_version`.
pub struct Migration {
    /// Schema version after this step.
    pub version: u32,
    /// What the step does, stored alongside the version.
    pub description: &'static str,
    /// Idempotent statements (safe to re-run if a process died half way).
    pub statements: &'static [&'static str],
}

/// Records which migrations have been applied.
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS dtk_schema_version (
    version UInt32,
    description String,
    applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree ORDER BY version";

/// All migrations, oldest first. Append new steps; never edit applied ones.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "dtk_datapoints, dtk_detections, dtk_checkpoints, dtk_alerts",
    statements: &[
        "CREATE TABLE IF NOT EXISTS dtk_datapoints (
            metric_name String,
            collected_at DateTime('UTC'),
            value Nullable(Float64),
            is_missing UInt8,
            context String,
            loaded_at DateTime('UTC'),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (metric_name, collected_at)",
        "CREATE TABLE IF NOT EXISTS dtk_detections (
            metric_name String,
            detector_id String,
            detected_at DateTime('UTC'),
            value Nullable(Float64),
            is_anomaly UInt8,
            score Nullable(Float64),
            lower_bound Nullable(Float64),
            upper_bound Nullable(Float64),
            direction Nullable(String),
            percent_deviation Nullable(Float64),
            detector_type String,
            detector_params String,
            alert_sent UInt8,
            context String,
            updated_at DateTime('UTC'),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (metric_name, detector_id, detected_at)",
        "CREATE TABLE IF NOT EXISTS dtk_checkpoints (
            metric_name String,
            job String,
            position DateTime('UTC'),
            position_us Int64,
            is_deleted UInt8,
            updated_at DateTime('UTC'),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (metric_name, job)",
        "CREATE TABLE IF NOT EXISTS dtk_alerts (
            metric_name String,
            alert_key String,
            token String,
            kind String,
            alert_time DateTime('UTC'),
            status String,
            detector_ids Array(String),
            claimed_at DateTime('UTC'),
            claimed_at_us Int64,
            stale_before_us Int64,
            claim_seq UInt64,
            finished_at_us Nullable(Int64),
            message String,
            error Nullable(String),
            version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (metric_name, alert_key, token)",
    ],
}];

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered_and_idempotent() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "migration {} out of order", m.version);
            last = m.version;
            for s in m.statements {
                assert!(
                    s.starts_with("CREATE TABLE IF NOT EXISTS "),
                    "statement of migration {} is not idempotent: {s}",
                    m.version
                );
            }
        }
        assert_eq!(latest_version(), last);
    }
}
