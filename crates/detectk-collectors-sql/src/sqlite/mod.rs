//! SQLite: the embedded default. A collector over a user's database file and a
//! storage keeping the `dtk_*` tables in a file (WAL mode).

mod day_block;
mod decode;
mod dialect;
mod idle;
mod lane;
#[cfg(test)]
mod lane_equivalence;
mod lane_error;
mod source;
#[cfg(test)]
mod source_equivalence;
mod time_text;
mod window;
#[cfg(test)]
mod window_equivalence;

pub(crate) use dialect::Lite;
pub(crate) use source::{LiteCollector, SourceConnections};

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use crate::handle::{Backend, Handle};
use crate::pool::{LazyPool, PoolCache};
use crate::settings::{ConnectionSettings, Role, SqliteFile, SqliteSettings};

impl Backend for Sqlite {
    const DRIVER: crate::Driver = crate::Driver::Sqlite;
    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn decode_row(
        row: &sqlx::sqlite::SqliteRow,
    ) -> Result<Vec<detectk_core::model::Cell>, crate::collect::DecodeFailure> {
        decode::decode_row(row)
    }
}

/// A shared, lazily connecting pool on one SQLite database.
pub(crate) type SqliteHandle = Handle<Sqlite>;

impl SqliteHandle {
    /// The pool for `s`, shared through `cache` with every user of the same file and role.
    pub(crate) fn new(s: &SqliteSettings, cache: &PoolCache) -> Self {
        let settings = ConnectionSettings::Sqlite(s.clone());
        let pool = cache.get_or_insert(settings.pool_key(), || {
            let memory = s.file == SqliteFile::Memory;
            let max = if memory { 1 } else { s.max_connections };
            LazyPool::new(
                settings.describe(),
                connect_options(s),
                max,
                (s.timeout, s.timeout),
                None,
                memory,
            )
        });
        Self::with_pool(pool, settings, None)
    }
}

/// WAL pages after which a commit checkpoints the log into the database file (SQLite's
/// default is 1,000, 4 MB). Each checkpoint syncs the log and the file; a history load
/// writes about 500 bytes per point (a point, its detections, their index), so with the
/// default it synced every 8,000 points or so. 16,384 pages (64 MB) cut the load's wall
/// time by 13-18 % on the fleet benchmark, and the log stays bounded.
pub(crate) const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// `PRAGMA cache_size` of a storage connection (negative: KiB). SQLite's default
/// keeps up to 2 MiB of pages per connection; a storage's connections mostly read a
/// metric's few pages once, and in WAL mode a connection drops its cache whenever
/// another connection has committed since its last read, which in a fleet run is
/// nearly every time. 512 KiB holds the B-trees' interior pages.
pub(crate) const STORAGE_CACHE_SIZE: i32 = -512;

/// Rows the connection's worker thread may read ahead of the query's reader. sqlx's
/// default of 50 wakes the reader (a futex round trip) every few rows; a tick reads
/// 4,321 rows of history per metric, a backfill tens of thousands of source rows.
const ROW_BUFFER_SIZE: usize = 4096;

fn connect_options(s: &SqliteSettings) -> SqliteConnectOptions {
    let options = match &s.file {
        SqliteFile::Path(path) => SqliteConnectOptions::new().filename(path),
        SqliteFile::Memory => SqliteConnectOptions::new().in_memory(true),
    }
    .busy_timeout(s.timeout)
    .row_buffer_size(ROW_BUFFER_SIZE);
    match s.role {
        // Never change the journal mode of a user's database file.
        Role::Collector => options.create_if_missing(false),
        Role::Storage => options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .pragma("cache_size", STORAGE_CACHE_SIZE.to_string()),
    }
}
