//! A seasonal test series shared by the union proptests (`union_ranks`, `union_scan`).

use chrono::{TimeDelta, TimeZone, Utc};
use detectk_core::DataPoint;
use serde_json::{Map, Value};

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
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
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
                    if r % 41 != 0 {
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
            if r % 17 == 0 {
                DataPoint::missing(ts)
            } else {
                DataPoint::new(ts, v)
            }
            .with_context(ctx.clone())
        })
        .collect()
}
