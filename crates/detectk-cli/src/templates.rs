//! Config templates written by `dtk init` and `dtk init-project`.

/// Metric configs of the SQLite quickstart project (with `@START@` / `@BACKFILL_END@` placeholders).
pub const QUICKSTART_METRICS: &[(&str, &str)] = &[
    (
        "site_sessions.yaml",
        include_str!("../templates/quickstart/metrics/site_sessions.yaml"),
    ),
    (
        "site_errors.yaml",
        include_str!("../templates/quickstart/metrics/site_errors.yaml"),
    ),
    (
        "site_latency.yaml",
        include_str!("../templates/quickstart/metrics/site_latency.yaml"),
    ),
];

/// Profiles of the SQLite quickstart project.
pub const QUICKSTART_PROFILES: &str = include_str!("../templates/quickstart/detectk_profiles.yaml");

/// `events.sql` of a server project: a sample `events` table (one row per event, the last
/// 12 hours, one every 5 minutes) that the project's metric counts per 10 minutes.
/// Idempotent for the table; each load adds another 144 rows.
pub fn sample_events_sql(kind: &str) -> &'static str {
    match kind {
        "postgres" => {
            "-- A sample `events` table for metrics/events_10min.yaml (times in UTC).\nCREATE TABLE IF NOT EXISTS events (ts timestamp NOT NULL);\nINSERT INTO events (ts)\nSELECT (now() AT TIME ZONE 'UTC') - n * interval '5 minutes' FROM generate_series(1, 144) AS n;\n"
        }
        "mysql" => {
            "-- A sample `events` table for metrics/events_10min.yaml (times in UTC).\nCREATE TABLE IF NOT EXISTS events (ts DATETIME NOT NULL);\nINSERT INTO events (ts)\nSELECT UTC_TIMESTAMP() - INTERVAL (a.i * 12 + b.i + 1) * 5 MINUTE\nFROM (SELECT 0 AS i UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5\n      UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10 UNION ALL SELECT 11) AS a\nCROSS JOIN (SELECT 0 AS i UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5\n      UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9 UNION ALL SELECT 10 UNION ALL SELECT 11) AS b;\n"
        }
        _ => {
            "-- A sample `events` table for metrics/events_10min.yaml (server time zone).\nCREATE TABLE IF NOT EXISTS events (ts DateTime) ENGINE = MergeTree ORDER BY ts;\nINSERT INTO events SELECT now() - (number + 1) * 300 FROM system.numbers LIMIT 144;\n"
        }
    }
}

/// The detector type `dtk init` writes when `-d` is not given: the recommended setting
/// of docs/detectors.md ("Choosing a detector"). Its params are the `detector_block`
/// entry of this type. Chosen by backtests on the NAB corpus (docs/nab-baseline.md).
pub const RECOMMENDED_DETECTOR: &str = "robust_seasonal";

/// The `alerter.conditions` lines `dtk init` writes (indented four spaces), from the
/// same recommendation: one alert per incident, then quiet for 12 hours.
pub const RECOMMENDED_CONDITIONS: &str =
    "    consecutive_anomalies: 1\n    cooldown_minutes: 720\n";

/// Example params of each detector type for `dtk init -d TYPE`.
pub fn detector_block(kind: &str) -> String {
    let params = match kind {
        "threshold" => {
            "      threshold: 1000\n      operator: greater_than   # greater_equal, less_than, less_equal, equals, not_equals, between, outside\n"
        }
        "mad" => {
            "      window_size: 30 days     # or a point count, e.g. 4320\n      n_sigma: 3\n      # seasonal_features: [hour_of_day]\n"
        }
        "zscore" => "      window_size: 7 days\n      n_sigma: 3\n",
        "robust_seasonal" => {
            "      window_size: 28 days\n      seasonal_features: [hour_of_day]   # or day_of_week, hour_of_week, is_weekend\n      timezone: UTC              # the time zone the seasons follow\n      quantile: 0.99\n      multiplier: 1.1\n      min_history: 2 days\n"
        }
        "iqr" => "      window_size: 14 days\n      multiplier: 1.5\n",
        "missing_data" => {
            "      consecutive_missing: 1   # missing intervals in a row before an anomaly\n      max_age: 1 hour          # a value arriving later than this after the previous one\n"
        }
        _ => "      {}\n",
    };
    let params = if params.trim() == "{}" {
        " {}\n".to_string()
    } else {
        format!("\n{params}")
    };
    format!("detector:\n  type: {kind}\n  params:{params}")
}

/// Collector section for `dtk init -c TYPE` / `init-project --database`, with a dialect-appropriate query.
pub fn collector_block(kind: &str, profile: Option<&str>) -> String {
    let connection = match (profile, kind) {
        (Some(p), _) => format!("  profile: {p}\n  params:\n"),
        (None, "sqlite") => "  type: sqlite\n  params:\n    connection_string: \"sqlite:///metrics.db\"\n".to_string(),
        (None, "postgres") => "  type: postgres\n  params:\n    connection_string: \"${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}\"\n".to_string(),
        (None, "mysql") => "  type: mysql\n  params:\n    connection_string: \"${MYSQL_URL:-mysql://root@127.0.0.1:3306/test}\"\n".to_string(),
        (None, "clickhouse") => "  type: clickhouse\n  params:\n    host: \"${CLICKHOUSE_HOST:-127.0.0.1}\"\n    port: 8123\n    database: default\n".to_string(),
        (None, other) => format!("  type: {other}\n  params:\n"),
    };
    let query = match kind {
        "clickhouse" => {
            "      SELECT toDateTime(intDiv(toUInt32(ts), {{ interval_seconds }}) * {{ interval_seconds }}) AS period_time, count() AS value\n      FROM events\n      WHERE ts >= toDateTime('{{ period_start }}') AND ts < toDateTime('{{ period_finish }}')\n      GROUP BY period_time\n      ORDER BY period_time\n"
        }
        "postgres" => {
            "      SELECT date_bin(INTERVAL '{{ interval }}', ts, TIMESTAMP '2000-01-01') AS period_time, count(*) AS value\n      FROM events\n      WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}'\n      GROUP BY 1\n      ORDER BY 1\n"
        }
        "mysql" => {
            "      SELECT FROM_UNIXTIME(FLOOR(UNIX_TIMESTAMP(ts) / {{ interval_seconds }}) * {{ interval_seconds }}) AS period_time, COUNT(*) AS value\n      FROM events\n      WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}'\n      GROUP BY 1\n      ORDER BY 1\n"
        }
        _ => {
            "      SELECT datetime((CAST(strftime('%s', ts) AS INTEGER) / {{ interval_seconds }}) * {{ interval_seconds }}, 'unixepoch') AS period_time,\n             COUNT(*) AS value\n      FROM events\n      WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}'\n      GROUP BY 1\n      ORDER BY 1\n"
        }
    };
    format!("collector:\n{connection}    query: |\n{query}")
}

/// A complete metric config.
pub fn metric_config(
    name: &str,
    collector_kind: &str,
    profile: Option<&str>,
    detector_kind: &str,
) -> String {
    format!(
        "# Metric config for DetectK. Reference: docs/configuration.md\nname: {name}\ndescription: Events per 10 minutes\ntags: []\n\n{}\n{}\nalerter:\n  type: console                 # mattermost or slack in production\n  conditions:\n{}\nschedule:\n  interval: 10 minutes\n  # start_time: \"2024-01-01\"    # for `dtk backfill`\n  batch_load_days: 30\n",
        collector_block(collector_kind, profile),
        detector_block(detector_kind),
        RECOMMENDED_CONDITIONS,
    )
}
