//! The bulk writes (binary `COPY`, `UNNEST` upserts) store exactly what the generic
//! multi-row `INSERT ... VALUES ... ON CONFLICT` path stores: the same batches written
//! through the storage (its bulk lane), through the dialect's write in a transaction
//! and the generic way into three schemas give the same rows, value for value (`loaded_at` aside:
//! the generic path writes the server's clock), after a first load and after
//! upserting changed and new rows over it, for batches that are copied and batches
//! that are upserted. Against the real server on 127.0.0.1:5432 (database `test`).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use detectk_core::model::{DataPoint, Detection, DetectionRecord, Direction};
use detectk_core::traits::{DetectionStore, LoadDatapoints, SeriesStore};
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};

use super::bulk::{self, COPY_MIN_ROWS};
use super::{Pg, PgHandle};
use crate::pool::PoolCache;
use crate::settings::ServerSettings;
use crate::storage::{Dialect, SqlStorage, upsert_detections_chunked, upsert_points_chunked};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 29, 23, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// `n` points from minute `first`, every kind of value among them: plain, NULL, NaN,
/// infinite, missing, with a context, at a sub-microsecond time; `shift` changes values.
fn points(first: i64, n: i64, shift: f64) -> Vec<DataPoint> {
    (first..first + n)
        .map(|i| match i % 7 {
            0 => DataPoint {
                value: None,
                ..DataPoint::new(at(i), 0.0)
            },
            1 => DataPoint::new(at(i), f64::NAN),
            2 => DataPoint::new(at(i), f64::NEG_INFINITY),
            3 => DataPoint::missing(at(i)),
            4 => {
                let mut p = DataPoint::new(at(i), -2.5 + shift);
                p.context.insert(
                    "host".into(),
                    json!({"name": "a", "n": [1, 2.5], "s": "é\"\\"}),
                );
                p
            }
            5 => DataPoint::new(
                at(i) + chrono::Duration::nanoseconds(1_250_999),
                7.0 + shift,
            ),
            _ => DataPoint::new(at(i), i as f64 / 3.0 + shift),
        })
        .collect()
}

/// `n` detections per detector from minute `first`, full and empty ones.
fn detections(first: i64, n: i64, shift: f64) -> Vec<DetectionRecord> {
    let mut out = Vec::new();
    for (detector_id, params) in [
        ("mad_a", json!({"window_size": "30 days", "n_sigma": 3})),
        (
            "zscore_b",
            json!({"window_size": "7 days", "threshold": 2.5}),
        ),
    ] {
        for i in first..first + n {
            let full = i % 3 != 0;
            let detection = Detection {
                timestamp: at(i),
                value: full.then_some(i as f64 + shift),
                is_anomaly: i % 5 == 0,
                score: full.then_some(0.1 * i as f64),
                lower_bound: full.then_some(f64::MIN_POSITIVE),
                upper_bound: full.then_some(1e300),
                direction: [None, Some(Direction::Up), Some(Direction::Down)][(i % 3) as usize],
                percent_deviation: full.then_some(-12.5 + shift),
                skipped: (!full).then(|| "not enough history".into()),
                stats: if full {
                    json!({"median": i, "mad": 0.5 + shift})
                        .as_object()
                        .cloned()
                        .unwrap()
                } else {
                    Default::default()
                },
            };
            out.push(DetectionRecord {
                metric: "m".into(),
                detector_id: detector_id.into(),
                detector_type: detector_id.split('_').next().unwrap().into(),
                detector_params: params.clone(),
                detection,
                alert_sent: i % 4 == 0,
                context: if i % 2 == 0 {
                    json!({"k": "v"}).as_object().cloned().unwrap().into()
                } else {
                    Default::default()
                },
            });
        }
    }
    out
}

/// A connection on a fresh, migrated `schema`.
async fn fresh(schema: &str) -> PgConnection {
    let mut conn = PgConnection::connect(URL)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (run scripts/services/postgres.sh)");
    let setup = format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         SET search_path = {schema};"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut conn)
        .await
        .unwrap();
    for script in Pg::MIGRATIONS.iter().flat_map(|m| m.iter()) {
        sqlx::raw_sql(*script).execute(&mut conn).await.unwrap();
    }
    conn
}

/// The server settings of `schema` of database `test`.
fn settings(schema: &str) -> ServerSettings {
    ServerSettings {
        driver: crate::Driver::Postgres,
        host: "127.0.0.1".into(),
        port: 5432,
        database: Some("test".into()),
        user: "postgres".into(),
        password: None,
        schema: Some(schema.into()),
        ssl_mode: None,
        max_connections: 2,
        timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(10),
    }
}

/// Writes `points` and `records` in one transaction each, the bulk way (checking that
/// the transaction commits asynchronously) or the generic way.
async fn write(
    conn: &mut PgConnection,
    bulk: bool,
    points: &[DataPoint],
    records: &[DetectionRecord],
) {
    let points: Vec<&DataPoint> = points.iter().collect();
    let records: Vec<&DetectionRecord> = records.iter().collect();
    let loaded_at = Utc::now();
    let mut tx = conn.begin().await.unwrap();
    if bulk {
        bulk::write_points(&mut tx, "m", &points, loaded_at)
            .await
            .unwrap();
        let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(setting, "off");
    } else {
        upsert_points_chunked::<Pg>(&mut tx, "m", &points, loaded_at)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    if bulk {
        bulk::write_detections(&mut tx, &records).await.unwrap();
    } else {
        upsert_detections_chunked::<Pg>(&mut tx, &records)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Every stored row as PostgreSQL's text of its values (floats to the last bit),
/// `loaded_at` left out.
async fn rows(conn: &mut PgConnection) -> (Vec<String>, Vec<String>) {
    let text = |sql: &'static str| sqlx::query(sql);
    let mut out = Vec::new();
    for sql in [
        "SELECT (metric_name, collected_at, value, is_missing, context)::text AS r \
         FROM dtk_datapoints ORDER BY metric_name, collected_at",
        "SELECT d::text AS r FROM dtk_detections d ORDER BY metric_name, detector_id, detected_at",
    ] {
        let found = text(sql).fetch_all(&mut *conn).await.unwrap();
        out.push(
            found
                .iter()
                .map(|r| r.get::<String, _>("r"))
                .collect::<Vec<_>>(),
        );
    }
    let detections = out.pop().unwrap();
    (out.pop().unwrap(), detections)
}

#[tokio::test]
async fn the_bulk_writes_store_the_rows_the_generic_upserts_store() {
    const SCHEMAS: [&str; 3] = [
        "dtk_pg_bulk_tests",
        "dtk_pg_lane_tests",
        "dtk_pg_generic_tests",
    ];
    let mut copy = fresh(SCHEMAS[0]).await;
    let mut through_lane = fresh(SCHEMAS[1]).await;
    let mut plain = fresh(SCHEMAS[2]).await;
    let cache = PoolCache::default();
    let lane = SqlStorage::<Pg>::new(PgHandle::new(&settings(SCHEMAS[1]), &cache), &cache);
    assert!(format!("{lane:?}").contains("PgLane"));
    let big = COPY_MIN_ROWS as i64 * 3;
    // A first load (copied), a small batch over it (upserted), then a big batch that
    // overlaps stored rows with changed values (the copy finds a conflict and upserts).
    let rounds = [
        (points(0, big, 0.0), detections(0, big, 0.0)),
        (points(big - 2, 5, 1.5), detections(big - 2, 5, 1.5)),
        (points(big / 2, big, 3.25), detections(big / 2, big, 3.25)),
    ];
    for (i, (p, d)) in rounds.iter().enumerate() {
        write(&mut copy, true, p, d).await;
        write(&mut plain, false, p, d).await;
        lane.upsert_datapoints("m", p).await.unwrap();
        lane.upsert_detections(d).await.unwrap();
        let want = rows(&mut plain).await;
        assert!(want.0.len() as i64 >= big, "round {i}");
        assert!(want.0.iter().any(|r| r.contains("NaN")));
        assert!(want.1.iter().any(|r| r.contains("not enough history")));
        assert_eq!(rows(&mut copy).await, want, "round {i}: dialect write");
        assert_eq!(rows(&mut through_lane).await, want, "round {i}: bulk lane");
    }
    // The lane reads the window as the generic path does.
    let window = LoadDatapoints::new("m", at(1), at(big));
    let read = lane.load_datapoints(&window).await.unwrap();
    assert_eq!(read.len() as i64, big - 1);
    let generic = SqlStorage::<Pg>::without_lane(PgHandle::new(&settings(SCHEMAS[1]), &cache));
    let from_generic = generic.load_datapoints(&window).await.unwrap();
    assert_eq!(format!("{read:?}"), format!("{from_generic:?}"));
    // ... through binary COPY, whose statement spells the metric name as a literal.
    assert!(
        format!("{lane:?}").contains("copy_window: OnceCell { value: Some(true) }"),
        "{lane:?}"
    );
    let odd = r"o'k\n \' ;--";
    lane.upsert_datapoints(odd, &points(0, 9, 0.5))
        .await
        .unwrap();
    let window = LoadDatapoints::new(odd, at(0), at(9));
    let read = lane.load_datapoints(&window).await.unwrap();
    assert_eq!(read.len(), 9);
    let from_generic = generic.load_datapoints(&window).await.unwrap();
    assert_eq!(format!("{read:?}"), format!("{from_generic:?}"));
    for schema in SCHEMAS {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut copy)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_window_of_other_column_types_is_read_row_by_row() {
    const SCHEMA: &str = "dtk_pg_lane_types_tests";
    let mut conn = fresh(SCHEMA).await;
    // A table someone else made, with the context as text: binary COPY would misread it.
    sqlx::raw_sql("ALTER TABLE dtk_datapoints ALTER COLUMN context TYPE TEXT")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO dtk_datapoints (metric_name, collected_at, value, context) \
         VALUES ('m', '2024-03-01 00:00:00+00', 1.5, NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let cache = PoolCache::default();
    let lane = SqlStorage::<Pg>::new(PgHandle::new(&settings(SCHEMA), &cache), &cache);
    let generic = SqlStorage::<Pg>::without_lane(PgHandle::new(&settings(SCHEMA), &cache));
    let window = LoadDatapoints::new("m", at(0), at(60 * 24));
    let read = lane.load_datapoints(&window).await.unwrap();
    assert_eq!(read.len(), 1);
    assert!(
        format!("{lane:?}").contains("copy_window: OnceCell { value: Some(false) }"),
        "{lane:?}"
    );
    let from_generic = generic.load_datapoints(&window).await.unwrap();
    assert_eq!(format!("{read:?}"), format!("{from_generic:?}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {SCHEMA} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_window_read_dropped_mid_copy_leaves_no_connection_behind_it() {
    const SCHEMA: &str = "dtk_pg_lane_cancel_tests";
    let mut conn = fresh(SCHEMA).await;
    // `dtk_datapoints` as a view whose 100th row makes the server sleep: a window read
    // is then dropped (its time limit) while its COPY stream is half read.
    let setup = format!(
        "ALTER TABLE dtk_datapoints RENAME TO stored_points; \
         CREATE VIEW dtk_datapoints AS SELECT p.* FROM stored_points p, LATERAL ( \
           SELECT pg_sleep(CASE WHEN p.metric_name = 'slow' AND p.collected_at = \
             TIMESTAMPTZ '{}' THEN 5 ELSE 0 END)) s;",
        at(100).format("%Y-%m-%d %H:%M:%S+00")
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut one = settings(SCHEMA);
    one.max_connections = 1;
    let cache = PoolCache::default();
    let lane = SqlStorage::<Pg>::new(PgHandle::new(&one, &cache), &cache);
    let rows = |metric: &str| {
        let points: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    "('{metric}', TIMESTAMPTZ '{}', {i}, false)",
                    at(i).format("%Y-%m-%d %H:%M:%S+00")
                )
            })
            .collect();
        format!(
            "INSERT INTO stored_points (metric_name, collected_at, value, is_missing) VALUES {}",
            points.join(", ")
        )
    };
    for metric in ["slow", "m"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(rows(metric)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let slow = LoadDatapoints::new("slow", at(0), at(300));
    let cut = tokio::time::timeout(Duration::from_secs(1), lane.load_datapoints(&slow)).await;
    assert!(cut.is_err(), "the read should still be waiting: {cut:?}");
    // The pool's only connection was closed, not handed on with the rest of that
    // stream: the next read gets a new one and the right points.
    let read = lane
        .load_datapoints(&LoadDatapoints::new("m", at(0), at(300)))
        .await
        .unwrap();
    assert_eq!(read.len(), 300);
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, p)| p.value == Some(i as f64))
    );
    assert!(format!("{lane:?}").contains("copy_window: OnceCell { value: Some(true) }"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {SCHEMA} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
}
