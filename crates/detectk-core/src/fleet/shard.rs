//! Splitting a fleet across workers: metric `name` belongs to shard `i` of `n` when
//! `fnv1a_64(name as UTF-8) % n == i`.
//!
//! The hash is 64-bit FNV-1a (offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`) over the bytes of the metric name. It is fixed by this
//! documentation: it never depends on the Rust version, the platform or the process,
//! so every worker of every version agrees which shard a metric is in.

use std::fmt;
use std::str::FromStr;

/// 64-bit FNV-1a of `bytes`.
///
/// ```
/// use detectk_core::fleet::fnv1a_64;
/// assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Shard `index` of `count` (`0 <= index < count`), written `index/count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Shard `index` of `count`; an error names what is wrong.
    pub fn new(index: u64, count: u64) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError(format!(
                "shard `{index}/{count}`: the number of shards must be at least 1"
            )));
        }
        if index >= count {
            return Err(ShardError(format!(
                "shard `{index}/{count}`: the index must be below the number of shards \
                 (shards are numbered from 0, as JOB_COMPLETION_INDEX is)"
            )));
        }
        Ok(Self { index, count })
    }

    /// This shard's index (from 0).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of shards.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The shard a metric named `name` belongs to, of `count` shards (`count >= 1`).
    pub fn of(name: &str, count: u64) -> u64 {
        fnv1a_64(name.as_bytes()) % count.max(1)
    }

    /// Whether the metric named `name` belongs to this shard.
    pub fn contains(&self, name: &str) -> bool {
        Self::of(name, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// Parses `i/n`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ShardError(format!(
                "shard `{s}`: expected INDEX/COUNT with whole numbers, e.g. `0/4`"
            ))
        };
        let (index, count) = s.trim().split_once('/').ok_or_else(bad)?;
        let index = index.trim().parse::<u64>().map_err(|_| bad())?;
        let count = count.trim().parse::<u64>().map_err(|_| bad())?;
        Self::new(index, count)
    }
}

/// A shard that could not be parsed or is out of range; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference test suite (64-bit FNV-1a).
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn every_name_is_in_exactly_one_shard() {
        let shards: Vec<Shard> = (0..4).map(|i| Shard::new(i, 4).unwrap()).collect();
        let mut sizes = [0usize; 4];
        for n in 0..1000 {
            let name = format!("metric_{n}");
            let owners: Vec<_> = shards.iter().filter(|s| s.contains(&name)).collect();
            assert_eq!(owners.len(), 1, "{name}");
            sizes[owners[0].index() as usize] += 1;
        }
        // FNV spreads sequential names: no shard is empty or holds most of them.
        assert!(sizes.iter().all(|&s| s > 150 && s < 350), "{sizes:?}");
    }

    #[test]
    fn parses_and_rejects_with_the_input_named() {
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard::new(1, 4).unwrap());
        assert_eq!("1/4".parse::<Shard>().unwrap().to_string(), "1/4");
        let e = "4/4".parse::<Shard>().unwrap_err().to_string();
        assert!(e.contains("4/4") && e.contains("below"), "{e}");
        let e = "x".parse::<Shard>().unwrap_err().to_string();
        assert!(e.contains("`x`") && e.contains("INDEX/COUNT"), "{e}");
        assert!("1/0".parse::<Shard>().is_err());
    }
}
