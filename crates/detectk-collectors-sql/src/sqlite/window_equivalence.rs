//! The window read from day blocks gives exactly the row read: random series written
//! through the lane, then changed behind its back with plain SQL, read over random
//! ranges both ways (the lane, and the sqlx path on the same file, which reads rows);
//! corrupt blocks and a storage migrated with history read the same too.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use detectk_core::Storage;
use detectk_core::model::DataPoint;
use detectk_core::traits::{LoadDatapoints, SeriesStore};
use serde_json::json;
use tempfile::TempDir;

use super::time_text::time_text;
use super::{Lite, SqliteHandle};
use crate::pool::PoolCache;
use crate::settings::{Role, SqliteFile, SqliteSettings};
use crate::storage::{Dialect, SqlStorage};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 27, 0, 0, 0).unwrap()
}

/// The lane's storage and the row-reading sqlx path on one file.
struct Both {
    lane: SqlStorage<Lite>,
    rows: SqlStorage<Lite>,
}

fn open(path: &Path) -> Both {
    let settings = SqliteSettings {
        file: SqliteFile::Path(path.to_path_buf()),
        role: Role::Storage,
        max_connections: 2,
        timeout: Duration::from_secs(10),
    };
    let cache = PoolCache::default();
    Both {
        lane: SqlStorage::<Lite>::new(SqliteHandle::new(&settings, &cache), &cache),
        rows: SqlStorage::<Lite>::without_lane(SqliteHandle::new(&settings, &cache)),
    }
}

/// Four days of 10-minute points with gaps, missing points, NULL, NaN and infinite
/// values, contexts and a few times off the grid (sub-second ones too); every other
/// series has values with four decimals and no infinite ones (kept as scaled integers).
fn series(rng: &mut Rng) -> Vec<DataPoint> {
    let decimal = rng.chance(2);
    let mut points = Vec::new();
    for i in 0..(4 * 144) {
        if rng.chance(9) {
            continue;
        }
        let mut at = start() + chrono::Duration::minutes(10 * i);
        if rng.chance(25) {
            at += chrono::Duration::microseconds(rng.below(599_000_000) as i64 + 1);
        }
        let mut p = match rng.below(30) {
            0 => DataPoint::missing(at),
            1 => DataPoint {
                value: None,
                ..DataPoint::new(at, 0.0)
            },
            2 => DataPoint::new(at, f64::NAN),
            3 if !decimal => DataPoint::new(at, f64::NEG_INFINITY),
            _ if decimal => DataPoint::new(
                at,
                (rng.below(2_000_000_000) as i64 - 10_i64.pow(9)) as f64 / 1e4,
            ),
            _ => DataPoint::new(at, rng.next() as i64 as f64 / 1e12),
        };
        if rng.chance(20) {
            p.context
                .insert("host".into(), json!({"n": rng.below(100), "s": "x"}));
        }
        points.push(p);
    }
    points
}

/// The points as comparable text: times, value bits, missing flags and contexts.
fn exact(points: &[DataPoint]) -> Vec<String> {
    points
        .iter()
        .map(|p| {
            format!(
                "{} {:?} {} {:?}",
                p.timestamp.to_rfc3339(),
                p.value.map(f64::to_bits),
                p.is_missing,
                p.context
            )
        })
        .collect()
}

/// Reads random windows (and a few fixed ones) both ways and compares them; returns
/// how many points the lane read in all.
async fn same_reads(both: &Both, rng: &mut Rng, metrics: &[&str], what: &str) -> usize {
    let mut total = 0;
    let span = 6 * 24 * 60 * 60 * 1_000_000;
    let mut windows = vec![
        (
            start() - chrono::Duration::days(1),
            start() + chrono::Duration::days(6),
        ),
        (
            start() + chrono::Duration::days(1),
            start() + chrono::Duration::days(2),
        ),
    ];
    for _ in 0..12 {
        let a = start() - chrono::Duration::days(1)
            + chrono::Duration::microseconds(rng.below(span) as i64);
        let b = a + chrono::Duration::microseconds(rng.below(span / 2) as i64);
        windows.push((a, b));
    }
    for metric in metrics {
        for &(from, to) in &windows {
            let op = LoadDatapoints::new(*metric, from, to);
            let from_lane = both.lane.load_datapoints(&op).await.unwrap();
            let from_rows = both.rows.load_datapoints(&op).await.unwrap();
            assert_eq!(
                exact(&from_lane),
                exact(&from_rows),
                "{what}: {metric} [{from}, {to})"
            );
            total += from_lane.len();
        }
    }
    total
}

fn sql(path: &Path, statement: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(statement).unwrap();
}

fn count(path: &Path, query: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(query, [], |row| row.get(0)).unwrap()
}

const BLOCKS: &str = "SELECT COUNT(*) FROM dtk_datapoint_days";

#[tokio::test]
async fn blocks_read_as_rows_through_every_kind_of_change() {
    for seed in [1_u64, 7, 42] {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("s.db");
        let both = open(&path);
        both.lane.migrate().await.unwrap();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let metrics = ["a", "b", "c/d"];
        for metric in metrics {
            let points = series(&mut rng);
            // In a few writes, some overlapping: later ones rebuild touched days.
            let third = points.len() / 3;
            for batch in [&points[..2 * third], &points[third..]] {
                both.lane.upsert_datapoints(metric, batch).await.unwrap();
            }
        }
        assert_eq!(count(&path, BLOCKS), 12, "every day of every metric");
        assert!(same_reads(&both, &mut rng, &metrics, "written").await > 0);

        let at = |minutes: i64| time_text(start() + chrono::Duration::minutes(minutes));
        let changes = [
            format!(
                "UPDATE dtk_datapoints SET value = value + 1 WHERE metric_name = 'a' \
                 AND collected_at >= '{}' AND collected_at < '{}'",
                at(1440 + 300),
                at(1440 + 400)
            ),
            format!(
                "DELETE FROM dtk_datapoints WHERE metric_name = 'b' AND collected_at IN \
                 (SELECT collected_at FROM dtk_datapoints WHERE metric_name = 'b' \
                 AND collected_at >= '{}' LIMIT 3)",
                at(2 * 1440 + 100)
            ),
            format!(
                "INSERT OR REPLACE INTO dtk_datapoints VALUES ('a', '{}', 5.5, 0, NULL, 'x')",
                at(3 * 1440 + 5)
            ),
            // Times not in the stored form: that day stays read from rows.
            "INSERT INTO dtk_datapoints VALUES ('c/d', '2024-02-28T10:00:00', 1, 0, NULL, 'x'), \
             ('c/d', '2024-02-29 23:59:59Z', 2, 0, '{\"k\": 1}', 'x')"
                .to_string(),
            // A row moved to another day and metric.
            format!(
                "UPDATE dtk_datapoints SET metric_name = 'b', collected_at = '{}' \
                 WHERE metric_name = 'a' AND collected_at = (SELECT MIN(collected_at) \
                 FROM dtk_datapoints WHERE metric_name = 'a')",
                at(1440 + 7)
            ),
            // Retention.
            format!(
                "DELETE FROM dtk_datapoints WHERE collected_at < '{}'",
                at(1440 - 60)
            ),
        ];
        for change in &changes {
            sql(&path, change);
            same_reads(&both, &mut rng, &metrics, change).await;
            // The lane's next writes rebuild what reads found without a block.
            for metric in metrics {
                let p = DataPoint::new(
                    start() + chrono::Duration::minutes(rng.below(576) as i64 * 10),
                    3.0,
                );
                both.lane.upsert_datapoints(metric, &[p]).await.unwrap();
            }
            same_reads(
                &both,
                &mut rng,
                &metrics,
                &format!("rebuilt after {change}"),
            )
            .await;
        }
        // Two days of `c/d` have rows not in the stored form: no block; every other
        // day with rows was read, then rebuilt by a write.
        let days = count(
            &path,
            "SELECT COUNT(DISTINCT metric_name || substr(collected_at, 1, 10)) FROM dtk_datapoints",
        );
        assert_eq!(count(&path, BLOCKS), days - 2, "seed {seed}");
    }
}

/// The block of `metric`'s `day`.
fn block(path: &Path, metric: &str, day: &str) -> Vec<u8> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT block FROM dtk_datapoint_days WHERE metric_name = ? AND day = ?",
        [metric, day],
        |row| row.get(0),
    )
    .unwrap()
}

fn set_block(path: &Path, metric: &str, day: &str, block: &dyn rusqlite::ToSql) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "UPDATE dtk_datapoint_days SET block = ? WHERE metric_name = ? AND day = ?",
        rusqlite::params![block, metric, day],
    )
    .unwrap();
}

#[tokio::test]
async fn corrupt_or_unknown_blocks_are_read_from_rows() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("s.db");
    let both = open(&path);
    both.lane.migrate().await.unwrap();
    let points: Vec<DataPoint> = (0..3 * 144)
        .map(|i| DataPoint::new(start() + chrono::Duration::minutes(10 * i), i as f64))
        .collect();
    both.lane.upsert_datapoints("m", &points).await.unwrap();
    let (d1, d2, d3) = ("2024-02-27", "2024-02-28", "2024-02-29");
    let good = block(&path, "m", d2);
    // A later version with the same layout, and a different value: a reader that
    // ignored the version would return the changed value.
    let mut changed = good.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0x40;
    changed[0] = super::day_block::VERSION + 1;
    set_block(&path, "m", d2, &changed);
    // Another day's block under this day.
    set_block(&path, "m", d3, &block(&path, "m", d1));
    // Truncated.
    set_block(&path, "m", d1, &good[..good.len() / 2].to_vec());
    let mut rng = Rng(3);
    same_reads(&both, &mut rng, &["m"], "corrupt").await;
    // Not a blob at all.
    for value in ["'text'", "12"] {
        sql(
            &path,
            &format!("UPDATE dtk_datapoint_days SET block = {value} WHERE day = '{d2}'"),
        );
        same_reads(&both, &mut rng, &["m"], value).await;
    }
    // The next write rebuilds the refused days, which then read the same again.
    let next = DataPoint::new(start() + chrono::Duration::days(3), 1.0);
    both.lane.upsert_datapoints("m", &[next]).await.unwrap();
    assert_eq!(block(&path, "m", d2), good);
    same_reads(&both, &mut rng, &["m"], "rebuilt").await;
}

#[tokio::test]
async fn a_storage_migrated_with_history_reads_the_same_and_gets_its_blocks() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("v3.db");
    // A V3 storage with points, as the previous build left it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(Lite::VERSION_TABLE).unwrap();
    for (i, statements) in Lite::MIGRATIONS[..3].iter().enumerate() {
        for s in *statements {
            conn.execute_batch(s).unwrap();
        }
        conn.execute(
            "INSERT INTO dtk_schema_version VALUES (?, 'before')",
            [i as i64 + 1],
        )
        .unwrap();
    }
    let mut rng = Rng(11);
    for metric in ["a", "b"] {
        for p in series(&mut rng) {
            conn.execute(
                "INSERT INTO dtk_datapoints VALUES (?, ?, ?, ?, ?, 'before')",
                rusqlite::params![
                    metric,
                    time_text(p.timestamp),
                    p.value,
                    p.is_missing,
                    crate::records::context_text(&p.context)
                ],
            )
            .unwrap();
        }
    }
    drop(conn);
    let both = open(&path);
    both.lane.migrate().await.unwrap();
    assert_eq!(
        count(&path, "SELECT MAX(version) FROM dtk_schema_version"),
        4
    );
    assert_eq!(count(&path, BLOCKS), 0);
    same_reads(&both, &mut rng, &["a", "b"], "migrated").await;
    // A tick: the window read, then the new point written, which builds the blocks
    // of the days the read found without one.
    let op = LoadDatapoints::new("a", start(), start() + chrono::Duration::days(4));
    both.lane.load_datapoints(&op).await.unwrap();
    let new = DataPoint::new(start() + chrono::Duration::days(4), 1.0);
    both.lane.upsert_datapoints("a", &[new]).await.unwrap();
    assert_eq!(count(&path, BLOCKS), 5, "four days read, one written");
    same_reads(&both, &mut rng, &["a", "b"], "migrated, then blocks").await;
}
