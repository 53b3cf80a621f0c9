//! What the detectors' proptests share: a seeded generator, a seasonal test series
//! (`union_ranks`, `union_scan`) and the detection a `(lower, upper)` summary stands for.

use chrono::{TimeDelta, TimeZone, Utc};
use detectk_core::{DataPoint, Detection};
use serde_json::{Map, Value};

use crate::history::Scored;

/// A xorshift generator seeded with `seed` (made odd): the same seed, the same numbers.
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// A scored point's `(lower, upper)` summary as a detection, with the history size as
/// its score, for comparing a fast scan with the reference one.
pub(crate) fn pair_detection(s: Scored<'_, (f64, f64)>) -> Detection {
    let mut d = Detection::skipped(s.point.timestamp, Some(s.value), "");
    d.skipped = None;
    d.lower_bound = Some(s.summary.0);
    d.upper_bound = Some(s.summary.1);
    d.score = Some(s.n as f64);
    d
}

/// A series of `len` 10-minute points with `features` context features `f0`, `f1`, ...
/// (some null or absent) that keep their values for runs of `run` points, about one
/// missing point in 17, and continuous values drifting upward, or with `ties` values
/// from nine integers. The same `seed` gives the same series.
pub(crate) fn featured_series(
    seed: u64,
    len: usize,
    features: usize,
    ties: bool,
    run: usize,
) -> Vec<DataPoint> {
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut next = xorshift(seed);
    let mut ctx = Map::new();
    (0..len)
        .map(|i| {
            if i % run == 0 {
                ctx = Map::new();
                for f in 0..features {
                    let r = next();
                    let v = match r % 23 {
                        0 => Value::Null,
                        _ => Value::from((r >> 8) % (3 + 2 * f as u64)),
                    };
                    if !r.is_multiple_of(41) {
                        ctx.insert(format!("f{f}"), v);
                    }
                }
            }
            let r = next();
            let v = if ties {
                ((r >> 16) % 9) as f64
            } else {
                ((r >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 100.0 + (i / 300) as f64 * 50.0
            };
            let ts = t0 + TimeDelta::minutes(10 * i as i64);
            if r.is_multiple_of(17) {
                DataPoint::missing(ts)
            } else {
                DataPoint::new(ts, v)
            }
            .with_context(ctx.clone())
        })
        .collect()
}
