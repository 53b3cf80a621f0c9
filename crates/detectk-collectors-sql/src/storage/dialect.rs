//! The `Dialect` trait: everything in which one SQL database's storage differs from
//! another's. The storage itself ([`super::SqlStorage`]) is written once over it.
//!
//! A dialect is a module of SQL strings and DDL plus a few encodings: how a time and a
//! JSON value are bound and read back, how an upsert is spelled, how migrations are
//! locked. Real special cases (PostgreSQL's bulk `UNNEST` writes) override the
//! provided methods. See docs/architecture-sql-dialect.md.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use detectk_core::model::{Context, DataPoint, DetectionRecord};
use serde_json::Value;
use sqlx::Database;
use sqlx::error::BoxDynError;

use super::db::{Conn, SqlDb};
use super::lane::BulkLane;
use crate::handle::Handle;
use crate::pool::PoolCache;
use crate::records::Contexts;

/// The arguments of a statement of dialect `D`.
pub(crate) type Args<D> = <<D as Dialect>::DB as Database>::Arguments;
/// A row of dialect `D`.
pub(crate) type RowOf<D> = <<D as Dialect>::DB as Database>::Row;

/// One SQL database's spelling of the `dtk_*` storage.
pub(crate) trait Dialect: Sized + Send + Sync + std::fmt::Debug + 'static {
    /// The sqlx database it talks to.
    type DB: SqlDb;

    // --- Encodings ---------------------------------------------------------------

    /// Binds a UTC time (or NULL) as the time columns store it.
    fn add_time(args: &mut Args<Self>, t: Option<DateTime<Utc>>) -> Result<(), BoxDynError>;

    /// Reads a time column (or `MAX()` of one) back as UTC.
    fn time(row: &RowOf<Self>, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;

    /// Binds JSON text (or NULL) into a JSON column.
    fn add_json(args: &mut Args<Self>, json: Option<String>) -> Result<(), BoxDynError>;

    /// Reads a JSON column; NULL and text that is not JSON give `None`.
    fn json(row: &RowOf<Self>, column: &str) -> Result<Option<Value>, sqlx::Error>;

    /// Reads a point's `context` column as [`Self::json`] does (NULL and non-objects
    /// give an empty context); the points of one read that store the same JSON text
    /// share one context, decoded once, through `contexts`.
    fn context(
        row: &RowOf<Self>,
        column: &str,
        contexts: &mut Contexts,
    ) -> Result<Context, sqlx::Error>;

    /// An SQL expression of the server's current UTC time in the time columns' type,
    /// written for `loaded_at`, `updated_at` and `applied_at` instead of binding the
    /// client's clock (MySQL: `UTC_TIMESTAMP(6)`, one parameter less per row). `None`:
    /// the client's time is bound.
    const NOW: Option<&'static str> = None;

    /// Whether float columns keep NaN and the infinities (MySQL: no; they are stored as NULL).
    const NON_FINITE_FLOATS: bool = true;

    // --- Statements --------------------------------------------------------------

    /// The clause after `INSERT ... VALUES (...)` that turns it into an upsert on the
    /// primary key `keys`, replacing `columns` (both comma-separated lists). Default:
    /// `ON CONFLICT (..) DO UPDATE SET c = excluded.c, ...`.
    fn upsert(keys: &str, columns: &str) -> String {
        let set: Vec<String> = columns
            .split(", ")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!("ON CONFLICT ({keys}) DO UPDATE SET {}", set.join(", "))
    }

    /// Whether `ON CONFLICT ... DO UPDATE ... WHERE` exists, so an alert claim or lease
    /// is one atomic statement. Without it (MySQL), a claim inserts, or else takes the
    /// row over with a guarded update.
    const CONDITIONAL_UPSERT: bool = true;

    /// The statement opening a transaction that writes (SQLite: `BEGIN IMMEDIATE`, so
    /// concurrent writers queue for the lock instead of failing); `None`: `BEGIN`.
    const BEGIN_WRITE: Option<&'static str> = None;

    /// Bind parameters allowed in one statement: multi-row inserts are chunked by it.
    const MAX_BINDS: usize;

    /// Writes the (de-duplicated) points of `metric` inside the open transaction on
    /// `conn`: most dialects call [`super::upsert_points_chunked`] (chunked multi-row
    /// upserts); PostgreSQL writes arrays.
    fn write_points(
        conn: &mut Conn<Self::DB>,
        metric: &str,
        points: &[&DataPoint],
        loaded_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Writes the (de-duplicated) detections inside the open transaction on `conn`.
    /// Most dialects call [`super::upsert_detections_chunked`].
    fn write_detections(
        conn: &mut Conn<Self::DB>,
        records: &[&DetectionRecord],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// The faster path for bulk reads and writes of a storage on `handle` (shared
    /// through `cache`, the factory's cache of lanes, by every storage on the same
    /// database), when this dialect has
    /// one for it: then the history window, points and detections go through it, and
    /// everything else through sqlx. Default: none (SQLite files have one).
    fn bulk_lane(handle: &Handle<Self::DB>, cache: &PoolCache) -> Option<Arc<dyn BulkLane>> {
        let _ = (handle, cache);
        None
    }

    // --- Schema ------------------------------------------------------------------

    /// DDL of each schema version: entry `i` holds the statements (or scripts) that
    /// bring the tables to version `i + 1`. Only ever append.
    const MIGRATIONS: &'static [&'static [&'static str]];

    /// `CREATE TABLE IF NOT EXISTS dtk_schema_version (version, applied_at)`.
    const VERSION_TABLE: &'static str;

    /// A query of one `COUNT(*)` column: tables named `?` in the current schema.
    const TABLE_COUNT: &'static str;

    /// A query of one `COUNT(*)` column: columns named `?` (second) of table `?` (first).
    const COLUMN_COUNT: &'static str;

    /// Whether DDL is transactional: then a migration runs in one write transaction
    /// (rolled back whole on failure), else statement by statement under the lock.
    const TRANSACTIONAL_DDL: bool = true;

    /// Takes the migration lock on `conn` (inside the transaction when DDL is
    /// transactional) and prepares `schema` when one is configured. `Ok(Err(_))`:
    /// the lock was not obtained, and why. Default: the write transaction is the lock.
    fn lock_migrations(
        conn: &mut Conn<Self::DB>,
        schema: Option<&str>,
    ) -> impl Future<Output = Result<Result<(), String>, sqlx::Error>> + Send {
        let _ = (conn, schema);
        async { Ok(Ok(())) }
    }

    /// Releases the lock of [`Dialect::lock_migrations`] when DDL is not transactional.
    fn unlock_migrations(
        conn: &mut Conn<Self::DB>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        let _ = conn;
        async { Ok(()) }
    }
}
