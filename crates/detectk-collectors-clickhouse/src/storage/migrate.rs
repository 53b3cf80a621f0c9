//! Creates the database and the `dtk_*` tables, and applies pending migrations.

use clickhouse::Row;
use detectk_core::BackendErrorKind;
use detectk_core::traits::StorageResult;
use serde::Serialize;

use super::ClickHouseStorage;
use super::schema::{MIGRATIONS, VERSION_TABLE, latest_version};

#[derive(Row, Serialize)]
struct VersionRow {
    version: u32,
    description: String,
    applied_at: u32,
}

impl ClickHouseStorage {
    /// Idempotent and safe to run from several processes at once: every statement is
    /// `CREATE ... IF NOT EXISTS`, and recording a version twice leaves one row.
    pub(super) async fn migrate_schema(&self) -> StorageResult<()> {
        let create_db = format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            quote_ident(&self.database)
        );
        // Without a default database: the URL's database must exist for any query.
        self.server
            .run(
                "create database",
                self.timeout,
                self.server.client().query_raw(&create_db).execute(),
            )
            .await
            .map_err(schema_error)?;
        self.execute(
            "create dtk_schema_version",
            self.client().query_raw(VERSION_TABLE),
        )
        .await
        .map_err(schema_error)?;
        let current = self.schema_version().await?;
        let latest = latest_version();
        if current > latest {
            return Err(self.error(
                BackendErrorKind::Schema,
                format!(
                    "the dtk_* tables in {} have schema version {current}, newer than the {latest} \
                     this DetectK knows; upgrade DetectK",
                    self.database
                ),
            ));
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            for statement in m.statements {
                self.execute(
                    &format!("schema migration {}", m.version),
                    self.client().query_raw(statement),
                )
                .await
                .map_err(schema_error)?;
            }
            let row = VersionRow {
                version: m.version,
                description: m.description.to_string(),
                applied_at: Self::now_secs(),
            };
            self.insert_rows("dtk_schema_version", &[row])
                .await
                .map_err(schema_error)?;
            tracing::info!(
                storage = %self.server.name(),
                database = %self.database,
                version = m.version,
                "applied schema migration"
            );
        }
        Ok(())
    }

    /// The newest applied schema version (0 for a new database).
    pub async fn schema_version(&self) -> StorageResult<u32> {
        let rows: Vec<u32> = self
            .fetch_all(
                "read schema version",
                self.client()
                    .query("SELECT max(version) FROM dtk_schema_version"),
            )
            .await?;
        Ok(rows.first().copied().unwrap_or(0))
    }
}

fn schema_error(mut e: detectk_core::BackendError) -> detectk_core::BackendError {
    if matches!(e.kind, BackendErrorKind::Query | BackendErrorKind::Other) {
        e.kind = BackendErrorKind::Schema;
    }
    e
}

/// Back-quotes an identifier for DDL.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}
