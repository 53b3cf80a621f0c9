-- Sample data for examples/clickhouse: per-minute sessions of a web site over
-- January and February 2024 (UTC), with a daily cycle, noise and one outage.
-- Works on ClickHouse 18.16 and newer:
--   clickhouse-client --multiquery < seed.sql
CREATE DATABASE IF NOT EXISTS detectk_demo;

CREATE TABLE IF NOT EXISTS detectk_demo.site_sessions
(
    ts DateTime('UTC'),
    sessions UInt32
) ENGINE = MergeTree ORDER BY ts;

INSERT INTO detectk_demo.site_sessions
SELECT
    toDateTime('2024-01-01 00:00:00', 'UTC') + number * 60 AS ts,
    toUInt32(
        if(ts >= toDateTime('2024-02-20 14:00:00', 'UTC') AND ts < toDateTime('2024-02-20 14:40:00', 'UTC'),
           5,
           100 + 60 * sin(2 * pi() * toHour(ts) / 24) + rand() % 15)
    ) AS sessions
FROM system.numbers
LIMIT 86400;
