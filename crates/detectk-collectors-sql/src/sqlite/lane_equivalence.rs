//! The bulk lane stores exactly what the sqlx path stores: the same points and
//! detections written both ways into two files give the same rows, value for value
//! and storage class for storage class (`loaded_at` aside: it is the write's time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use detectk_core::Storage;
use detectk_core::model::{DataPoint, Detection, DetectionRecord, Direction};
use detectk_core::traits::{DetectionStore, LoadDatapoints, SeriesStore};
use serde_json::json;
use tempfile::TempDir;

use super::{Lite, SqliteHandle};
use crate::pool::PoolCache;
use crate::settings::{Role, SqliteFile, SqliteSettings};
use crate::storage::SqlStorage;
use crate::storage::series::KEYS_PER_QUERY;

fn settings(path: &Path) -> SqliteSettings {
    SqliteSettings {
        file: SqliteFile::Path(path.to_path_buf()),
        role: Role::Storage,
        max_connections: 2,
        timeout: Duration::from_secs(10),
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 29, 23, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// Points with every kind of value: plain, NULL, NaN, infinite, missing, with a
/// context, at a sub-second time.
fn points() -> Vec<DataPoint> {
    let mut with_context = DataPoint::new(at(3), -2.5);
    with_context
        .context
        .insert("host".into(), json!({"name": "a", "n": [1, 2.5]}));
    vec![
        DataPoint::new(at(0), 1.0),
        DataPoint {
            value: None,
            ..DataPoint::new(at(1), 0.0)
        },
        DataPoint::new(at(2), f64::NAN),
        DataPoint::new(at(4), f64::INFINITY),
        DataPoint::missing(at(5)),
        with_context,
        DataPoint::new(at(6) + chrono::Duration::microseconds(1_250), 7.0),
        // A duplicate time: the last one wins, on both paths.
        DataPoint::new(at(0), 11.0),
    ]
}

fn detections() -> Vec<DetectionRecord> {
    let full = Detection {
        timestamp: at(0),
        value: Some(5.0),
        is_anomaly: true,
        score: Some(4.2),
        lower_bound: Some(1.0),
        upper_bound: Some(3.0),
        direction: Some(Direction::Up),
        percent_deviation: Some(66.7),
        skipped: None,
        stats: json!({"median": 2.0}).as_object().cloned().unwrap(),
    };
    let record = |detector_id: &str, detection: Detection, alert_sent| DetectionRecord {
        metric: "m".into(),
        detector_id: detector_id.into(),
        detector_type: "mad".into(),
        detector_params: json!({"window_size": "30 days", "n_sigma": 3}),
        detection,
        alert_sent,
        context: json!({"k": "v"}).as_object().cloned().unwrap().into(),
    };
    let empty = Detection {
        timestamp: at(1),
        value: None,
        is_anomaly: false,
        score: None,
        lower_bound: None,
        upper_bound: None,
        direction: None,
        percent_deviation: None,
        skipped: Some("not enough history".into()),
        stats: Default::default(),
    };
    vec![
        record("mad_a", full.clone(), true),
        record("mad_a", empty, false),
        record(
            "mad_b",
            Detection {
                direction: Some(Direction::Down),
                ..full
            },
            false,
        ),
    ]
}

/// Every row of `table` as text, with each value's storage class, `loaded_at` left out.
fn rows(path: &Path, table: &str, order: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
        .unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut out = Vec::new();
    let mut query = stmt.query([]).unwrap();
    while let Some(row) = query.next().unwrap() {
        let mut cells = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if name != "loaded_at" {
                cells.push(format!("{name}={:?}", row.get_ref(i).unwrap()));
            }
        }
        out.push(cells);
    }
    out
}

/// Two storages on two files of `dir`: one takes the bulk lane, one only sqlx.
struct Pair {
    lane_file: PathBuf,
    sqlx_file: PathBuf,
    lane: SqlStorage<Lite>,
    plain: SqlStorage<Lite>,
}

impl Pair {
    fn in_dir(dir: &TempDir) -> Self {
        let (lane_file, sqlx_file) = (dir.path().join("lane.db"), dir.path().join("sqlx.db"));
        let cache = PoolCache::default();
        let lane =
            SqlStorage::<Lite>::new(SqliteHandle::new(&settings(&lane_file), &cache), &cache);
        let plain =
            SqlStorage::<Lite>::without_lane(SqliteHandle::new(&settings(&sqlx_file), &cache));
        Self {
            lane_file,
            sqlx_file,
            lane,
            plain,
        }
    }
}

#[tokio::test]
async fn the_lane_stores_the_rows_sqlx_stores() {
    let dir = TempDir::new().unwrap();
    let Pair {
        lane_file,
        sqlx_file,
        lane,
        plain,
    } = Pair::in_dir(&dir);
    assert!(format!("{lane:?}").contains("LiteLane"));
    assert!(format!("{plain:?}").contains("lane: None"));
    for storage in [&lane, &plain] {
        storage.migrate().await.unwrap();
        // Twice: the second write is all conflicts (the upsert's update branch).
        for _ in 0..2 {
            storage.upsert_datapoints("m", &points()).await.unwrap();
            storage.upsert_detections(&detections()).await.unwrap();
        }
    }
    let points_order = "metric_name, collected_at";
    let detections_order = "metric_name, detector_id, detected_at";
    let stored = rows(&lane_file, "dtk_datapoints", points_order);
    assert_eq!(stored.len(), 7);
    assert_eq!(stored, rows(&sqlx_file, "dtk_datapoints", points_order));
    let stored = rows(&lane_file, "dtk_detections", detections_order);
    assert_eq!(stored.len(), 3);
    assert_eq!(stored, rows(&sqlx_file, "dtk_detections", detections_order));

    // And both read back the same window.
    let window = LoadDatapoints::new("m", at(0), at(6));
    let read = lane.load_datapoints(&window).await.unwrap();
    assert_eq!(read.len(), 6);
    let from_sqlx = plain.load_datapoints(&window).await.unwrap();
    assert_eq!(format!("{read:?}"), format!("{from_sqlx:?}"));

    // And the same newest times, over more keys than one statement takes (most of
    // them without a row).
    let mut metrics: Vec<String> = (0..KEYS_PER_QUERY + 5).map(|i| format!("x{i}")).collect();
    metrics.push("m".into());
    let newest = lane.last_datapoint_times(&metrics).await.unwrap();
    let expected = at(6) + chrono::Duration::microseconds(1_250);
    assert_eq!(newest, HashMap::from([("m".to_string(), expected)]));
    assert_eq!(newest, plain.last_datapoint_times(&metrics).await.unwrap());
    let mut pairs: Vec<(String, String)> = metrics
        .iter()
        .map(|m| (m.clone(), "mad_a".to_string()))
        .collect();
    pairs.extend(["mad_a", "mad_b", "absent"].map(|d| ("m".to_string(), d.to_string())));
    let newest = lane.last_detection_times_of(&pairs).await.unwrap();
    let key = |d: &str| ("m".to_string(), d.to_string());
    assert_eq!(
        newest,
        HashMap::from([(key("mad_a"), at(1)), (key("mad_b"), at(0))])
    );
    assert_eq!(newest, plain.last_detection_times_of(&pairs).await.unwrap());
}

#[tokio::test]
async fn the_lane_reads_newest_times_as_sqlx_does_and_fails_alike_on_a_bad_time() {
    let dir = TempDir::new().unwrap();
    let Pair {
        lane_file,
        sqlx_file,
        lane,
        plain,
    } = Pair::in_dir(&dir);
    let metrics = ["m".to_string()];
    for (storage, file) in [(&lane, &lane_file), (&plain, &sqlx_file)] {
        storage.migrate().await.unwrap();
        storage.upsert_datapoints("m", &points()).await.unwrap();
        // A row some other writer left with a time that is not one.
        rusqlite::Connection::open(file)
            .unwrap()
            .execute(
                "INSERT INTO dtk_datapoints (metric_name, collected_at, value, loaded_at) \
                 VALUES ('m', 'tomorrow', 1.0, 'now')",
                [],
            )
            .unwrap();
    }
    let (l, s) = (
        lane.last_datapoint_times(&metrics).await.unwrap_err(),
        plain.last_datapoint_times(&metrics).await.unwrap_err(),
    );
    assert!(l.message.contains("\"tomorrow\" is not a time"), "{l}");
    assert_eq!(
        (l.kind, &l.message, &l.hint, l.transient),
        (s.kind, &s.message, &s.hint, s.transient)
    );
}

#[tokio::test]
async fn the_lane_fails_as_sqlx_does() {
    let dir = TempDir::new().unwrap();
    let Pair { lane, plain, .. } = Pair::in_dir(&dir);
    // Not migrated: no tables, on either path.
    let from_lane = failures(&lane).await;
    let from_sqlx = failures(&plain).await;
    for (l, s) in from_lane.iter().zip(&from_sqlx) {
        assert!(l.message.contains("no such table"), "{l}");
        assert_eq!(
            (l.kind, &l.message, &l.hint, l.transient),
            (s.kind, &s.message, &s.hint, s.transient)
        );
    }
}

/// A write of points, of detections, a read of a window and of newest times, all failing.
async fn failures(s: &SqlStorage<Lite>) -> [detectk_core::BackendError; 5] {
    let pairs = [("m".to_string(), "d".to_string())];
    [
        s.upsert_datapoints("m", &points()).await.unwrap_err(),
        s.upsert_detections(&detections()).await.unwrap_err(),
        s.load_datapoints(&LoadDatapoints::new("m", at(0), at(9)))
            .await
            .unwrap_err(),
        s.last_datapoint_times(&["m".to_string()])
            .await
            .unwrap_err(),
        s.last_detection_times_of(&pairs).await.unwrap_err(),
    ]
}
