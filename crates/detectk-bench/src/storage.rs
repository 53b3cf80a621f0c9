//! The fleet's storage, seen from outside `dtk`: emptied before a history load, and
//! counted afterwards (rows of `dtk_datapoints` and `dtk_detections`).

use std::path::Path;
use std::str::FromStr;

use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::error::BenchError;
use crate::manifest::{STORAGE_FILE, StorageChoice};

/// Rows of DetectK's tables in a fleet's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRows {
    /// Rows of `dtk_datapoints`.
    pub datapoints: i64,
    /// Rows of `dtk_detections`.
    pub detections: i64,
    /// Rows of `dtk_detections` with `is_anomaly`.
    pub anomalies: i64,
}

/// Checks a schema name: it goes into DDL, so letters, digits and `_` only.
pub(crate) fn checked_schema(schema: &str) -> Result<&str, BenchError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(schema)
    } else {
        Err(BenchError::Usage(format!(
            "--pg-schema `{schema}`: use letters, digits and `_` (not first a digit)"
        )))
    }
}

/// Deletes the SQLite database `path` with its journal and WAL files; a missing file is
/// fine.
pub(crate) fn remove_sqlite_database(path: &Path) -> Result<(), BenchError> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BenchError::io(file, e)),
        }
    }
    Ok(())
}

/// Empties the storage: deletes `detectk.db`, or drops the PostgreSQL schema.
pub async fn reset(dir: &Path, storage: &StorageChoice) -> Result<(), BenchError> {
    match storage {
        StorageChoice::Sqlite => remove_sqlite_database(&dir.join(STORAGE_FILE)),
        StorageChoice::Postgres { url, schema } => {
            let schema = checked_schema(schema)?;
            let what = format!("postgres schema {schema}: drop");
            let mut conn = PgConnection::connect(url)
                .await
                .map_err(BenchError::db(what.clone()))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&mut conn)
            .await
            .map_err(BenchError::db(what))?;
            Ok(())
        }
    }
}

const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM dtk_datapoints), \
     (SELECT COUNT(*) FROM dtk_detections), \
     (SELECT COUNT(*) FROM dtk_detections WHERE is_anomaly)";

/// Counts the rows of DetectK's tables.
pub async fn count(dir: &Path, storage: &StorageChoice) -> Result<StoredRows, BenchError> {
    let (datapoints, detections, anomalies): (i64, i64, i64) = match storage {
        StorageChoice::Sqlite => {
            let path = dir.join(STORAGE_FILE);
            let what = format!("{}: count rows", path.display());
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
                .map_err(BenchError::db(what.clone()))?
                .read_only(true);
            let mut conn = SqliteConnection::connect_with(&options)
                .await
                .map_err(BenchError::db(what.clone()))?;
            sqlx::query_as(COUNTS)
                .fetch_one(&mut conn)
                .await
                .map_err(BenchError::db(what))?
        }
        StorageChoice::Postgres { url, schema } => {
            let schema = checked_schema(schema)?;
            let what = format!("postgres schema {schema}: count rows");
            let mut conn = PgConnection::connect(url)
                .await
                .map_err(BenchError::db(what.clone()))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
                .execute(&mut conn)
                .await
                .map_err(BenchError::db(what.clone()))?;
            sqlx::query_as(COUNTS)
                .fetch_one(&mut conn)
                .await
                .map_err(BenchError::db(what))?
        }
    };
    Ok(StoredRows {
        datapoints,
        detections,
        anomalies,
    })
}
