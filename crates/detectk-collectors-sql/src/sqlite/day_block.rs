//! The compact form of one metric's points of one UTC day (`dtk_datapoint_days.block`):
//! exactly the points the row read of `dtk_datapoints` gives for that day, so a tick
//! decodes a day from one small blob instead of stepping through up to 144 rows and
//! parsing their time texts.
//!
//! Layout (version 1; every integer is a LEB128 varint, `i64`s zigzag-encoded):
//!
//! | field | content |
//! |---|---|
//! | version | one byte, [`VERSION`] |
//! | n | number of points, at least 1 |
//! | first | the first point's time, Unix microseconds (`i64`) |
//! | times | `0` then the step (evenly spaced times: the regular grid), or `1` then the n-1 gaps |
//! | flags | `0` then one flags byte shared by every point, or `1` then n flags bytes |
//! | values | their length in bytes, the scale byte, then each value of a point with one |
//! | contexts | length and UTF-8 JSON text of each point with a context |
//!
//! The scale byte is [`RAW`] (each value is its f64 bits, 8 bytes little-endian) or a
//! `k` of 0 to 6: each value is an integer `m` (an `i64` varint) and the value is
//! `m as f64 / 10^k`, which the encoder chose only when that gives back every value's
//! exact bits (a value with up to `k` decimals usually does). A day of 144 values with
//! four decimals then takes about 750 bytes, and its row stays on its b-tree page
//! (SQLite moves the tail of a `WITHOUT ROWID` row longer than about 1,000 bytes of a
//! 4 KiB page to an overflow page).
//!
//! A flags byte holds [`HAS_VALUE`], [`MISSING`] and [`HAS_CONTEXT`]. [`decode`] refuses
//! (gives `None` for) anything else: an unknown version, a truncated or overlong blob,
//! times out of order or outside the day. The caller then reads the day's rows.

use chrono::{DateTime, NaiveTime, Utc};
use detectk_core::model::{Context, DataPoint};

use crate::records::Contexts;

/// The block format this build writes and reads.
pub(crate) const VERSION: u8 = 1;

/// The most points a block holds (a point a second): a day with more keeps no block and
/// is read from its rows, and a block claiming more is refused (a damaged count would
/// otherwise have a decoder produce billions of empty points).
pub(crate) const MAX_POINTS: usize = 86_400;

/// Flag: the point has a value (the `value` column is not NULL).
const HAS_VALUE: u8 = 1;
/// Flag: the point is missing (`is_missing` is true).
const MISSING: u8 = 2;
/// Flag: the point has a context (the `context` column is not NULL).
const HAS_CONTEXT: u8 = 4;

/// The scale byte of values kept as their f64 bits.
const RAW: u8 = 0xff;

/// `10^k` for the decimal scales `k` (each exact in an f64).
const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

/// Integers up to this magnitude are exact in an f64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// One stored point as the block keeps it: the row's values, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockPoint {
    /// `collected_at`, Unix microseconds.
    pub(crate) micros: i64,
    /// `value`.
    pub(crate) value: Option<f64>,
    /// `is_missing`.
    pub(crate) is_missing: bool,
    /// `context`, the stored JSON text.
    pub(crate) context: Option<String>,
}

impl BlockPoint {
    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.value.is_some() {
            flags |= HAS_VALUE;
        }
        if self.is_missing {
            flags |= MISSING;
        }
        if self.context.is_some() {
            flags |= HAS_CONTEXT;
        }
        flags
    }
}

/// The block of `points` (in strictly increasing time order, at least one).
pub(crate) fn encode(points: &[BlockPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + points.len() * 9);
    out.push(VERSION);
    put_varint(&mut out, points.len() as u64);
    let first = points.first().map_or(0, |p| p.micros);
    put_varint(&mut out, zigzag(first));
    let gaps: Vec<u64> = points
        .windows(2)
        .map(|w| w[1].micros.wrapping_sub(w[0].micros) as u64)
        .collect();
    match gaps.first() {
        Some(&step) if gaps.iter().all(|&g| g == step) => {
            out.push(0);
            put_varint(&mut out, step);
        }
        None => {
            out.push(0);
            put_varint(&mut out, 0);
        }
        Some(_) => {
            out.push(1);
            for g in gaps {
                put_varint(&mut out, g);
            }
        }
    }
    let first_flags = points.first().map_or(0, BlockPoint::flags);
    if points.iter().all(|p| p.flags() == first_flags) {
        out.push(0);
        out.push(first_flags);
    } else {
        out.push(1);
        out.extend(points.iter().map(BlockPoint::flags));
    }
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    let mut section = Vec::with_capacity(1 + values.len() * 8);
    match decimal_scale(&values) {
        Some(k) => {
            section.push(k as u8);
            for v in &values {
                put_varint(&mut section, zigzag((v * POW10[k]).round() as i64));
            }
        }
        None => {
            section.push(RAW);
            for v in &values {
                section.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
    }
    put_varint(&mut out, section.len() as u64);
    out.extend_from_slice(&section);
    for c in points.iter().filter_map(|p| p.context.as_deref()) {
        put_varint(&mut out, c.len() as u64);
        out.extend_from_slice(c.as_bytes());
    }
    out
}

/// The smallest decimal scale `k` at which every value is `m / 10^k` exactly.
fn decimal_scale(values: &[f64]) -> Option<usize> {
    (0..POW10.len()).find(|&k| {
        values.iter().all(|&v| {
            let m = (v * POW10[k]).round();
            m.abs() < EXACT_INT && ((m as i64) as f64 / POW10[k]).to_bits() == v.to_bits()
        })
    })
}

/// The number of points `block` says it holds (`None` for another version or a
/// truncated header); not a validation of the rest of it.
pub(crate) fn point_count(block: &[u8]) -> Option<usize> {
    Reader { rest: block }.count()
}

/// Appends to `out` the points of `block` in `[from, to)`, in time order, as the row
/// read decodes them; `day_start` is the block's day (its UTC midnight). `None` (and
/// `out` unchanged) when the block is not a valid block of that day.
pub(crate) fn decode(
    block: &[u8],
    day_start: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut Vec<DataPoint>,
    contexts: &mut Contexts,
) -> Option<()> {
    let start = out.len();
    let done = decode_into(block, day_start, from, to, out, contexts);
    if done.is_none() {
        out.truncate(start);
    }
    done
}

/// [`decode`], leaving what it appended when it fails.
fn decode_into(
    block: &[u8],
    day_start: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut Vec<DataPoint>,
    contexts: &mut Contexts,
) -> Option<()> {
    let mut r = Reader { rest: block };
    let n = r.count().filter(|&n| n > 0 && n <= MAX_POINTS)?;
    let first = unzigzag(r.varint()?);
    let day = day_start.timestamp_micros();
    let day_end = day.checked_add(DAY_MICROS)?;
    // Times: every one checked inside the day and increasing (a grid's last time is
    // computed, so a grid is checked without walking it).
    let times = match r.byte()? {
        0 => {
            let step = i64::try_from(r.varint()?).ok()?;
            let last = if n > 1 {
                let steps = i64::try_from(n - 1).ok()?;
                first
                    .checked_add(step.checked_mul(steps)?)
                    .filter(|_| step > 0)?
            } else {
                first
            };
            Times::Grid { first, step, last }
        }
        1 => {
            let mut times = Vec::with_capacity(n.min(block.len()));
            let mut t = first;
            times.push(t);
            for _ in 1..n {
                let gap = i64::try_from(r.varint()?).ok().filter(|&g| g > 0)?;
                t = t.checked_add(gap)?;
                times.push(t);
            }
            Times::Each(times)
        }
        _ => return None,
    };
    if first < day || times.last() >= day_end {
        return None;
    }
    let flags: Flags = match r.byte()? {
        0 => Flags::Uniform(r.byte()?),
        1 => Flags::Each(r.take(n)?),
        _ => return None,
    };
    let known = HAS_VALUE | MISSING | HAS_CONTEXT;
    let flags_ok = match flags {
        Flags::Uniform(f) => f & !known == 0,
        Flags::Each(each) => each.iter().all(|f| f & !known == 0),
    };
    if !flags_ok {
        return None;
    }
    let values_len = usize::try_from(r.varint()?).ok()?;
    let mut values = Reader {
        rest: r.take(values_len)?,
    };
    let scale = match values.byte()? {
        RAW => None,
        k => Some(*POW10.get(usize::from(k))?),
    };
    // The points kept are those in [from, to): as microseconds of the day, [lo, hi)
    // (a point's time is whole microseconds, so a bound between two rounds up).
    let (lo, hi) = (micros_of_day(from, day_start), micros_of_day(to, day_start));
    let date = day_start.date_naive();
    for i in 0..n {
        let f = flags.of(i);
        let value = if f & HAS_VALUE != 0 {
            Some(match scale {
                Some(p) => unzigzag(values.varint()?) as f64 / p,
                None => {
                    let bytes: [u8; 8] = values.take(8)?.try_into().ok()?;
                    f64::from_bits(u64::from_le_bytes(bytes))
                }
            })
        } else {
            None
        };
        let context = if f & HAS_CONTEXT != 0 {
            let len = usize::try_from(r.varint()?).ok()?;
            contexts.parse(r.take(len)?)?
        } else {
            Context::new()
        };
        // Within the day (checked above): the day's date and the time of day.
        let of_day = times.at(i) - day;
        if of_day < lo || of_day >= hi {
            continue;
        }
        let time = NaiveTime::from_num_seconds_from_midnight_opt(
            u32::try_from(of_day / 1_000_000).ok()?,
            u32::try_from(of_day % 1_000_000 * 1000).ok()?,
        )?;
        out.push(DataPoint {
            timestamp: date.and_time(time).and_utc(),
            value,
            is_missing: f & MISSING != 0,
            context,
        });
    }
    (r.rest.is_empty() && values.rest.is_empty()).then_some(())
}

/// `bound` as microseconds from `day_start`, rounded up, clamped to just outside the
/// day: a point `p` of the day is at or after `bound` exactly when its microseconds
/// of the day are at least this.
fn micros_of_day(bound: DateTime<Utc>, day_start: DateTime<Utc>) -> i64 {
    if bound <= day_start {
        return -1;
    }
    match (bound - day_start).num_nanoseconds() {
        Some(nanos) if nanos <= DAY_MICROS * 1000 => (nanos + 999) / 1000,
        _ => DAY_MICROS + 1,
    }
}

/// The times of a block's points, Unix microseconds.
enum Times {
    /// Evenly spaced: `first + i * step`, the last one `last`.
    Grid { first: i64, step: i64, last: i64 },
    /// Each point's own.
    Each(Vec<i64>),
}

impl Times {
    fn at(&self, i: usize) -> i64 {
        match self {
            // In range: `last` was computed without overflow.
            Times::Grid { first, step, .. } => first + i as i64 * step,
            Times::Each(each) => each[i],
        }
    }

    fn last(&self) -> i64 {
        match self {
            Times::Grid { last, .. } => *last,
            Times::Each(each) => each.last().copied().unwrap_or(i64::MIN),
        }
    }
}

/// The flags of a block's points.
enum Flags<'b> {
    /// One byte for every point.
    Uniform(u8),
    /// One byte per point.
    Each(&'b [u8]),
}

impl Flags<'_> {
    fn of(&self, i: usize) -> u8 {
        match self {
            Flags::Uniform(f) => *f,
            Flags::Each(each) => each[i],
        }
    }
}

/// Reads a block front to back; every read is `None` past the end.
struct Reader<'b> {
    rest: &'b [u8],
}

impl<'b> Reader<'b> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    /// The version byte (this build's, else `None`) and the number of points.
    fn count(&mut self) -> Option<usize> {
        if self.byte()? != VERSION {
            return None;
        }
        usize::try_from(self.varint()?).ok()
    }

    fn take(&mut self, len: usize) -> Option<&'b [u8]> {
        if len > self.rest.len() {
            return None;
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(taken)
    }

    /// A LEB128 varint of at most 10 bytes that fits in a `u64`.
    fn varint(&mut self) -> Option<u64> {
        // Most end within the next 8 bytes (56 bits: every value a block scales):
        // read them as one word and gather the 7-bit groups pairwise.
        if let Some(chunk) = self.rest.first_chunk::<8>() {
            let word = u64::from_le_bytes(*chunk);
            let ends = !word & 0x8080_8080_8080_8080;
            if ends != 0 {
                let len = (ends.trailing_zeros() / 8 + 1) as usize;
                let x = word & (u64::MAX >> (64 - 8 * len)) & 0x7f7f_7f7f_7f7f_7f7f;
                let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
                let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
                let x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
                self.rest = &self.rest[len..];
                return Some(x);
            }
        }
        let mut v: u64 = 0;
        for (i, &b) in self.rest.iter().take(10).enumerate() {
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return None;
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Some(v);
            }
        }
        None
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 2, 29, 0, 0, 0).unwrap()
    }

    fn point(minutes: i64, value: Option<f64>) -> BlockPoint {
        BlockPoint {
            micros: day().timestamp_micros() + minutes * 60_000_000,
            value,
            is_missing: false,
            context: None,
        }
    }

    fn all(block: &[u8]) -> Option<Vec<DataPoint>> {
        let mut out = Vec::new();
        let (from, to) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        decode(block, day(), from, to, &mut out, &mut Contexts::default()).map(|()| out)
    }

    #[test]
    fn a_regular_day_is_a_header_and_its_values() {
        let points: Vec<_> = (0..144).map(|i| point(i * 10, Some(i as f64))).collect();
        let block = encode(&points);
        // version, n (2 bytes), first (~8), grid + step (~5), uniform flags, then the
        // values as small integers (scale 0).
        assert!(block.len() < 144 * 2 + 24, "{}", block.len());
        let read = all(&block).unwrap();
        assert_eq!(read.len(), 144);
        assert_eq!(read[143].value, Some(143.0));
        assert_eq!(read[143].timestamp.timestamp_micros(), points[143].micros);
    }

    #[test]
    fn values_with_decimals_are_small_and_exact() {
        let points: Vec<_> = (0..144)
            .map(|i| {
                let text = format!("{}.{:04}", 90_000 + i * 37, (i * 7919) % 10_000);
                point(i * 10, Some(text.parse().unwrap()))
            })
            .collect();
        let block = encode(&points);
        // Fits a 4 KiB page's b-tree cell of a WITHOUT ROWID table (about 1,000 bytes).
        assert!(block.len() < 1000, "{}", block.len());
        let read = all(&block).unwrap();
        for (r, p) in read.iter().zip(&points) {
            assert_eq!(r.value.map(f64::to_bits), p.value.map(f64::to_bits));
        }
        // One value that no scale gives back exactly: every value is kept as its bits.
        let mut odd = points.clone();
        odd[70].value = Some(0.1 + 0.2);
        let block = encode(&odd);
        assert!(block.len() > 144 * 8, "{}", block.len());
        let read = all(&block).unwrap();
        assert_eq!(read[70].value, Some(0.1 + 0.2));
        assert_eq!(read[71].value, odd[71].value);
    }

    #[test]
    fn every_kind_of_point_comes_back_exactly() {
        let mut odd = point(7, Some(f64::from_bits(0x7ff0_0000_0000_0001)));
        odd.micros += 1;
        odd.context = Some(r#"{"host":"a","n":[1,2.5]}"#.into());
        let points = vec![
            point(0, Some(-0.0)),
            point(3, None),
            BlockPoint {
                is_missing: true,
                ..point(5, None)
            },
            odd,
            point(1439, Some(f64::INFINITY)),
        ];
        let read = all(&encode(&points)).unwrap();
        assert_eq!(read.len(), points.len());
        for (r, p) in read.iter().zip(&points) {
            assert_eq!(r.timestamp.timestamp_micros(), p.micros);
            assert_eq!(r.value.map(f64::to_bits), p.value.map(f64::to_bits));
            assert_eq!(r.is_missing, p.is_missing);
        }
        assert_eq!(read[3].context["n"][1], 2.5);
    }

    #[test]
    fn decoding_clips_to_the_range() {
        let points: Vec<_> = (0..10).map(|i| point(i, Some(1.0))).collect();
        let mut out = Vec::new();
        let from = day() + chrono::Duration::minutes(2);
        let to = day() + chrono::Duration::minutes(5);
        decode(
            &encode(&points),
            day(),
            from,
            to,
            &mut out,
            &mut Contexts::default(),
        )
        .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].timestamp, from);
    }

    #[test]
    fn a_block_claiming_more_than_a_point_a_second_is_refused() {
        // n points a microsecond apart, none with a value: a few bytes whatever n is.
        let empty_points = |n: usize| {
            let mut block = vec![VERSION];
            put_varint(&mut block, n as u64);
            put_varint(&mut block, zigzag(day().timestamp_micros()));
            block.extend([0, 1, 0, 0, 1, 0]);
            block
        };
        assert_eq!(
            all(&empty_points(MAX_POINTS)).map(|p| p.len()),
            Some(MAX_POINTS)
        );
        assert!(all(&empty_points(MAX_POINTS + 1)).is_none());
        assert!(all(&empty_points(1 << 40)).is_none());
    }

    #[test]
    fn anything_but_a_valid_block_of_the_day_is_refused() {
        let points: Vec<_> = (0..4).map(|i| point(i * 7, Some(2.0))).collect();
        let good = encode(&points);
        assert!(all(&good).is_some());
        let mut unknown_version = good.clone();
        unknown_version[0] = 2;
        assert!(all(&unknown_version).is_none());
        for cut in 0..good.len() {
            assert!(all(&good[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(all(&longer).is_none());
        let mut other_day = Vec::new();
        let next = day() + chrono::Duration::days(1);
        let (from, to) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert!(
            decode(
                &good,
                next,
                from,
                to,
                &mut other_day,
                &mut Contexts::default()
            )
            .is_none()
        );
        assert!(all(&[]).is_none());
        assert!(all(&[VERSION, 0xff, 0xff, 0xff]).is_none());
    }

    /// The first varint reader, byte by byte: the oracle of [`Reader::varint`].
    fn reference_varint(r: &mut Reader<'_>) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = r.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// The first decoder, point by point, kept as the oracle the faster one is checked
    /// against (with the later cap on a block's points).
    fn reference_decode_into(
        block: &[u8],
        day_start: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        out: &mut Vec<DataPoint>,
        contexts: &mut Contexts,
    ) -> Option<()> {
        let mut r = Reader { rest: block };
        if r.byte()? != VERSION {
            return None;
        }
        let n = usize::try_from(reference_varint(&mut r)?)
            .ok()
            .filter(|&n| n > 0 && n <= MAX_POINTS)?;
        let first = unzigzag(reference_varint(&mut r)?);
        let day = day_start.timestamp_micros();
        let day_end = day.checked_add(DAY_MICROS)?;
        // Times: every one checked inside the day and increasing.
        let mut times = Vec::with_capacity(n.min(block.len()));
        let mut t = first;
        match r.byte()? {
            0 => {
                let step = i64::try_from(reference_varint(&mut r)?).ok()?;
                for i in 0..n {
                    if i > 0 {
                        t = t.checked_add(step).filter(|_| step > 0)?;
                    }
                    times.push(t);
                }
            }
            1 => {
                times.push(t);
                for _ in 1..n {
                    let gap = i64::try_from(reference_varint(&mut r)?)
                        .ok()
                        .filter(|&g| g > 0)?;
                    t = t.checked_add(gap)?;
                    times.push(t);
                }
            }
            _ => return None,
        }
        if first < day || t >= day_end {
            return None;
        }
        let flags: Flags = match r.byte()? {
            0 => Flags::Uniform(r.byte()?),
            1 => Flags::Each(r.take(n)?),
            _ => return None,
        };
        if (0..n).any(|i| flags.of(i) & !(HAS_VALUE | MISSING | HAS_CONTEXT) != 0) {
            return None;
        }
        let values_len = usize::try_from(reference_varint(&mut r)?).ok()?;
        let mut values = Reader {
            rest: r.take(values_len)?,
        };
        let scale = match values.byte()? {
            RAW => None,
            k => Some(*POW10.get(usize::from(k))?),
        };
        let date = day_start.date_naive();
        for (i, &micros) in times.iter().enumerate() {
            let f = flags.of(i);
            let value = if f & HAS_VALUE != 0 {
                Some(match scale {
                    Some(p) => unzigzag(reference_varint(&mut values)?) as f64 / p,
                    None => {
                        let bytes: [u8; 8] = values.take(8)?.try_into().ok()?;
                        f64::from_bits(u64::from_le_bytes(bytes))
                    }
                })
            } else {
                None
            };
            let context = if f & HAS_CONTEXT != 0 {
                let len = usize::try_from(reference_varint(&mut r)?).ok()?;
                contexts.parse(r.take(len)?)?
            } else {
                Context::new()
            };
            // Within the day (checked above): the day's date and the time of day.
            let of_day = micros - day;
            let time = NaiveTime::from_num_seconds_from_midnight_opt(
                u32::try_from(of_day / 1_000_000).ok()?,
                u32::try_from(of_day % 1_000_000 * 1000).ok()?,
            )?;
            let timestamp = date.and_time(time).and_utc();
            if timestamp < from || timestamp >= to {
                continue;
            }
            out.push(DataPoint {
                timestamp,
                value,
                is_missing: f & MISSING != 0,
                context,
            });
        }
        (r.rest.is_empty() && values.rest.is_empty()).then_some(())
    }

    /// Both decoders on one block and range: the points, or `None`, of each.
    fn both(
        block: &[u8],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> (Option<Vec<DataPoint>>, Option<Vec<DataPoint>>) {
        let mut fast = Vec::new();
        let fast =
            decode(block, day(), from, to, &mut fast, &mut Contexts::default()).map(|()| fast);
        let mut slow = Vec::new();
        let slow =
            reference_decode_into(block, day(), from, to, &mut slow, &mut Contexts::default())
                .map(|()| slow);
        (fast, slow)
    }

    /// A point of the test day from generated parts.
    fn generated(micros: i64, kind: u8, value: f64, decimals: i64) -> BlockPoint {
        let value = match kind % 4 {
            0 => None,
            1 => Some(value),
            // Values with a few decimals: the scaled encodings.
            _ => Some((value * 1e4).round().clamp(-1e15, 1e15) / 10f64.powi(decimals as i32)),
        };
        BlockPoint {
            micros: day().timestamp_micros() + micros,
            value,
            is_missing: kind & 4 != 0,
            context: (kind & 8 != 0).then(|| format!(r#"{{"k":{}}}"#, kind)),
        }
    }

    proptest::proptest! {

        /// The decoder reads every byte string as the first, point-by-point decoder did.
        #[test]
        fn arbitrary_bytes_decode_as_the_reference_does(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            from_ns in -1_000_000_000i64..90_000_000_000_000,
            span_ns in 0i64..90_000_000_000_000,
        ) {
            let mut block = vec![VERSION];
            block.extend(bytes);
            let from = day() + chrono::Duration::nanoseconds(from_ns);
            let to = from + chrono::Duration::nanoseconds(span_ns);
            let (fast, slow) = both(&block, from, to);
            proptest::prop_assert_eq!(fast, slow);
        }

        /// Valid blocks, clipped anywhere (to the nanosecond) and with one byte changed
        /// or cut off, decode as the first decoder decoded them.
        #[test]
        fn blocks_and_damaged_blocks_decode_as_the_reference_does(
            parts in proptest::collection::btree_map(
                0i64..DAY_MICROS,
                (proptest::num::u8::ANY, -1e9f64..1e9, 0i64..5),
                1..60,
            ),
            grid in proptest::option::of((0i64..DAY_MICROS / 2, 1i64..600_000_000, 1usize..200)),
            damage in proptest::option::of((proptest::num::usize::ANY, proptest::num::u8::ANY)),
            cut in proptest::option::of(proptest::num::usize::ANY),
            from_ns in -1_000_000_000i64..90_000_000_000_000,
            span_ns in 0i64..90_000_000_000_000,
        ) {
            let points: Vec<BlockPoint> = match grid {
                // An evenly spaced day (the common block), each point from the parts.
                Some((first, step, n)) => parts
                    .values()
                    .cycle()
                    .take(n)
                    .enumerate()
                    .map(|(i, &(kind, value, decimals))| (first + i as i64 * step, kind, value, decimals))
                    .take_while(|&(micros, ..)| micros < DAY_MICROS)
                    .map(|(micros, kind, value, decimals)| generated(micros, kind, value, decimals))
                    .collect(),
                None => parts
                    .iter()
                    .map(|(&micros, &(kind, value, decimals))| generated(micros, kind, value, decimals))
                    .collect(),
            };
            let mut block = encode(&points);
            if let Some((at, byte)) = damage {
                let at = at % block.len();
                block[at] = byte;
            }
            if let Some(cut) = cut {
                block.truncate(cut % (block.len() + 1));
            }
            let from = day() + chrono::Duration::nanoseconds(from_ns);
            let to = from + chrono::Duration::nanoseconds(span_ns);
            let (fast, slow) = both(&block, from, to);
            if damage.is_none() && cut.is_none() {
                let all = fast.as_ref().map(Vec::len);
                proptest::prop_assert!(all.is_some(), "an undamaged block decodes");
            }
            proptest::prop_assert_eq!(fast, slow);
        }

        /// The varint reader reads every byte string as the byte-by-byte one did, and
        /// leaves the same rest.
        #[test]
        fn varints_read_as_the_reference_does(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..14),
            last in 0usize..16,
            long in proptest::bool::ANY,
        ) {
            // Varints of every length: with `long`, every byte continues but the one
            // at `last` (none when `last` is past the end: an unfinished varint).
            let mut bytes = bytes;
            if long {
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = if i == last { *b & 0x7f } else { *b | 0x80 };
                }
            }
            let (mut fast, mut slow) = (Reader { rest: &bytes }, Reader { rest: &bytes });
            let (a, b) = (fast.varint(), reference_varint(&mut slow));
            proptest::prop_assert_eq!(a, b);
            if a.is_some() {
                proptest::prop_assert_eq!(fast.rest, slow.rest);
            }
        }

        /// No byte string makes decoding panic, and what decodes lies in the day.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut block = vec![VERSION];
            block.extend(bytes);
            if let Some(points) = all(&block) {
                for p in points {
                    proptest::prop_assert!(p.timestamp >= day());
                    proptest::prop_assert!(p.timestamp < day() + chrono::Duration::days(1));
                }
            }
        }
    }
}
