//! The history window of a metric, read from its day blocks (`dtk_datapoint_days`, see
//! [`super::day_block`]) where they exist and from the rows of `dtk_datapoints` where
//! they do not: the same points, in the same order, as the row read of the whole window.
//!
//! The block of day `D` (a metric's `YYYY-MM-DD`) holds every row whose `collected_at`
//! starts with `D`: in text order, the rows in `[D, D⁺)`, `D⁺` being `D` with its last
//! digit raised by one. Triggers on `dtk_datapoints` (schema V4) delete the block of
//! every day a row is inserted into, updated in or deleted from, by any writer, so a
//! block present is exact. A block is built only when every row of its day has the
//! stored time form `time_text` writes (then text order is time order, and the block
//! clips by time as the row query clips by text); a day with any other row keeps
//! being read from rows.
//!
//! A window read takes one read transaction (one snapshot, like the single row query):
//! the blocks of the days overlapping `[from, to)`, decoded and clipped, then the row
//! query over each stretch of `[from, to)` that no block covers. Days read from rows are
//! noted ([`StaleDays`]); the lane's next write of the metric rebuilds their blocks in
//! its write transaction, so a storage migrated with history becomes fast after a tick.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use detectk_core::model::DataPoint;
use rusqlite::{Connection, params};

use super::day_block::{self, BlockPoint};
use super::lane_error::LaneError;
use super::time_text::{not_a_time, parse_naive_exact, parse_time_text, time_text};
use crate::records::Contexts;
use crate::storage::lane::LOAD_POINTS;

/// The blocks of a metric overlapping a window: `(metric, first day, to)`.
const LOAD_BLOCKS: &str = "SELECT day, block FROM dtk_datapoint_days \
     WHERE metric_name = ? AND day >= ? AND day < ? ORDER BY day";

/// Stores (or replaces) a day's block: `(metric, day, block)`.
const STORE_BLOCK: &str =
    "INSERT OR REPLACE INTO dtk_datapoint_days (metric_name, day, block) VALUES (?, ?, ?)";

/// Drops a day's block: `(metric, day)`.
const DROP_BLOCK: &str = "DELETE FROM dtk_datapoint_days WHERE metric_name = ? AND day = ?";

/// At most this many days noted per metric between its writes.
const MAX_NOTED_DAYS: usize = 400;

/// The points of `metric` in `[from, to)` (stored time texts), in time order: from the
/// day blocks and the rows no block covers; days read from rows go to `stale`.
pub(crate) fn read_window(
    conn: &mut Connection,
    metric: &str,
    from: &str,
    to: &str,
    stale: &StaleDays,
) -> Result<Vec<DataPoint>, LaneError> {
    let (Some(from_t), Some(to_t)) = (canonical(from), canonical(to)) else {
        let mut points = Vec::new();
        read_rows(
            conn,
            metric,
            from,
            to,
            &mut points,
            None,
            &mut Contexts::default(),
        )?;
        return Ok(points);
    };
    let tx = conn.transaction()?;
    // No block table (a storage not migrated to V4) reads as no blocks: the rows alone,
    // which fail as the row read does when there are no tables at all.
    let mut contexts = Contexts::default();
    let blocks =
        read_blocks(&tx, metric, from, to, from_t, to_t, &mut contexts).unwrap_or_default();
    // The stretches of [from, to) no block covers, each with where its rows go.
    let mut gaps = Vec::new();
    let mut cursor = from.to_string();
    for (day, at) in &blocks.days {
        if cursor.as_str() < day.as_str() {
            gaps.push((cursor.clone(), day.clone(), *at));
        }
        let next = next_day_text(day);
        if next > cursor {
            cursor = next;
        }
    }
    if cursor.as_str() < to {
        gaps.push((cursor, to.to_string(), blocks.points.len()));
    }
    let mut noted = Vec::new();
    let mut gap_points: Vec<(usize, Vec<DataPoint>)> = Vec::new();
    for (lo, hi, at) in gaps {
        let mut points = Vec::new();
        read_rows(
            &tx,
            metric,
            &lo,
            &hi,
            &mut points,
            Some(&mut noted),
            &mut contexts,
        )?;
        if !points.is_empty() {
            gap_points.push((at, points));
        }
    }
    tx.commit()?;
    stale.note(metric, noted);
    if gap_points.is_empty() {
        return Ok(blocks.points);
    }
    let total = blocks.points.len() + gap_points.iter().map(|(_, g)| g.len()).sum::<usize>();
    let mut points = Vec::with_capacity(total);
    let mut from_blocks = blocks.points.into_iter();
    let mut taken = 0;
    for (at, gap) in gap_points {
        points.extend(from_blocks.by_ref().take(at - taken));
        taken = at;
        points.extend(gap);
    }
    points.extend(from_blocks);
    Ok(points)
}

/// The decoded blocks of a window.
#[derive(Default)]
struct Blocks {
    /// Every block's points in `[from, to)`, in day order.
    points: Vec<DataPoint>,
    /// Each valid block's day, and where its points start in `points`.
    days: Vec<(String, usize)>,
}

/// The valid blocks of `metric` overlapping `[from, to)`, clipped to `[from_t, to_t)`
/// (the same window as times); an invalid block is left out (read from rows).
fn read_blocks(
    conn: &Connection,
    metric: &str,
    from: &str,
    to: &str,
    from_t: DateTime<Utc>,
    to_t: DateTime<Utc>,
    contexts: &mut Contexts,
) -> Result<Blocks, LaneError> {
    let mut query = conn.prepare_cached(LOAD_BLOCKS)?;
    let mut rows = query.query(params![metric, &from[..10], to])?;
    let mut blocks = Blocks::default();
    while let Some(row) = rows.next()? {
        let (Ok(day), Ok(block)) = (row.get_ref(0)?.as_str(), row.get_ref(1)?.as_blob()) else {
            continue;
        };
        let Some(start) = day_start(day) else {
            continue;
        };
        let at = blocks.points.len();
        if day_block::decode(block, start, from_t, to_t, &mut blocks.points, contexts).is_some() {
            if blocks.days.is_empty() {
                // Sized once, from the first day: growing by doubling copied a 30-day
                // window about twice over (a point is 40 bytes).
                blocks.points.reserve(window_estimate(block, start, to_t));
            }
            blocks.days.push((day.to_string(), at));
        }
    }
    Ok(blocks)
}

/// How many more points a window read should expect after its first decoded block,
/// `block` of the day starting at `day_start`, up to `to`: that day's number of points
/// for every day left, and a few for the points a run appends. Only a capacity hint.
fn window_estimate(block: &[u8], day_start: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    let per_day = day_block::point_count(block).unwrap_or(0);
    let days_left = usize::try_from((to - day_start).num_days()).unwrap_or(0);
    per_day.saturating_mul(days_left).saturating_add(8)
}

/// Rebuilds the block of `metric`'s `day` from its rows (in the caller's write
/// transaction): stored when every row is in the stored time form and decodes and the
/// day has at most [`day_block::MAX_POINTS`], else left absent.
pub(crate) fn rebuild_day(conn: &Connection, metric: &str, day: &str) -> Result<(), LaneError> {
    if day_start(day).is_none() {
        return Ok(());
    }
    let mut query = conn.prepare_cached(LOAD_POINTS)?;
    let mut rows = query.query(params![metric, day, next_day_text(day)])?;
    let mut points = Vec::new();
    while let Some(row) = rows.next()? {
        match block_point(row) {
            Some(p) => points.push(p),
            None => return Ok(()),
        }
    }
    if points.is_empty() || points.len() > day_block::MAX_POINTS {
        conn.prepare_cached(DROP_BLOCK)?
            .execute(params![metric, day])?;
    } else {
        conn.prepare_cached(STORE_BLOCK)?.execute(params![
            metric,
            day,
            day_block::encode(&points)
        ])?;
    }
    Ok(())
}

/// A row of [`LOAD_POINTS`] as a block keeps it; `None` when its time is not in the
/// stored form or a value does not decode (the row read then reports it).
fn block_point(row: &rusqlite::Row<'_>) -> Option<BlockPoint> {
    let text = row.get_ref(0).ok()?.as_str().ok()?;
    let micros = canonical(text)?.timestamp_micros();
    Some(BlockPoint {
        micros,
        value: row.get(1).ok()?,
        is_missing: row.get(2).ok()?,
        context: row
            .get_ref(3)
            .ok()?
            .as_str_or_null()
            .ok()?
            .map(String::from),
    })
}

/// The day (`YYYY-MM-DD`) of a stored time `text` when it is in the stored form.
pub(crate) fn day_of(text: &str) -> Option<&str> {
    canonical(text).map(|_| &text[..10])
}

/// The time of `text` when it is exactly what [`time_text`] writes for it, with a
/// four-digit year and whole microseconds (the texts whose text order is time order).
fn canonical(text: &str) -> Option<DateTime<Utc>> {
    let t = parse_naive_exact(text.as_bytes())?.and_utc();
    let exact = DateTime::<Utc>::from_timestamp_micros(t.timestamp_micros()) == Some(t);
    (exact && time_text(t) == text).then_some(t)
}

/// UTC midnight of `day` (`YYYY-MM-DD`, exactly).
fn day_start(day: &str) -> Option<DateTime<Utc>> {
    if day.len() != 10 {
        return None;
    }
    canonical(&format!("{day} 00:00:00"))
}

/// `day` with its last digit raised by one: every text starting with `day` sorts in
/// `[day, next_day_text(day))`, and nothing else does.
fn next_day_text(day: &str) -> String {
    let mut next = day.as_bytes().to_vec();
    if let Some(last) = next.last_mut() {
        *last += 1;
    }
    String::from_utf8(next).unwrap_or_else(|_| day.to_string())
}

/// Appends the rows of `metric` in `[from, to)` (stored time texts), in time order, as
/// points; the day of each goes to `noted`, when given.
pub(crate) fn read_rows(
    conn: &Connection,
    metric: &str,
    from: &str,
    to: &str,
    points: &mut Vec<DataPoint>,
    mut noted: Option<&mut Vec<String>>,
    contexts: &mut Contexts,
) -> Result<(), LaneError> {
    let mut query = conn.prepare_cached(LOAD_POINTS)?;
    let mut rows = query.query(params![metric, from, to])?;
    while let Some(row) = rows.next()? {
        let text = text_or_null(row, 0, "collected_at")?;
        let timestamp = match text {
            Some(text) => parse_time_text(text)
                .ok_or_else(|| LaneError::Decode("collected_at", not_a_time(text)))?,
            None => {
                return Err(LaneError::Decode(
                    "collected_at",
                    "NULL, not a time".to_string(),
                ));
            }
        };
        if let (Some(noted), Some(text)) = (noted.as_deref_mut(), text) {
            let day = text
                .get(..10)
                .filter(|d| noted.last().is_none_or(|l| l != d));
            if let Some(day) = day.filter(|d| day_start(d).is_some()) {
                noted.push(day.to_string());
            }
        }
        let context = contexts.of_text(text_or_null(row, 3, "context")?);
        points.push(DataPoint {
            timestamp,
            value: row.get(1)?,
            is_missing: row.get(2)?,
            context,
        });
    }
    Ok(())
}

/// Text column `index` (`column`) of `row`, borrowed; `None` for NULL.
fn text_or_null<'r>(
    row: &'r rusqlite::Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<Option<&'r str>, LaneError> {
    row.get_ref(index)?
        .as_str_or_null()
        .map_err(|e| LaneError::Decode(column, e.to_string()))
}

/// Days each metric's window reads found without a block, for the metric's next write
/// to rebuild (at most [`MAX_NOTED_DAYS`] a metric).
#[derive(Debug, Default)]
pub(crate) struct StaleDays {
    days: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl StaleDays {
    /// Notes `days` of `metric`.
    fn note(&self, metric: &str, days: Vec<String>) {
        if days.is_empty() {
            return;
        }
        let mut map = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        let noted = map.entry(metric.to_string()).or_default();
        for day in days {
            if noted.len() >= MAX_NOTED_DAYS {
                break;
            }
            noted.insert(day);
        }
    }

    /// Takes the days noted for `metric`.
    pub(crate) fn take(&self, metric: &str) -> BTreeSet<String> {
        let mut map = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(metric).unwrap_or_default()
    }
}
