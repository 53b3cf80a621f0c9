//! Creating and migrating the `dtk_*` tables of any dialect: `dtk_schema_version`
//! holds one row per applied migration; the missing ones are applied in order under
//! the dialect's lock, so several processes may migrate at once.

use chrono::Utc;

use super::db::{Conn, SqlDb};
use super::{Dialect, Stmt, begin_write};
use crate::schema::{LEGACY_TABLES, check_version, legacy_name, log_legacy_rename};

/// What a migration ends in: `Ok(Err(message))` when it refused (tables newer than
/// this build, lock not obtained).
pub(crate) type Outcome = Result<Result<(), String>, sqlx::Error>;

/// Creates or migrates the tables on `conn`; `schema` is PostgreSQL's, when set.
pub(crate) async fn migrate<D: Dialect>(conn: &mut Conn<D::DB>, schema: Option<&str>) -> Outcome {
    if D::TRANSACTIONAL_DDL {
        let mut tx = begin_write::<D>(conn).await?;
        if let Err(refused) = D::lock_migrations(&mut *tx, schema).await? {
            return Ok(Err(refused));
        }
        let outcome = apply::<D>(&mut *tx).await?;
        if outcome.is_ok() {
            tx.commit().await?;
        }
        return Ok(outcome);
    }
    if let Err(refused) = D::lock_migrations(conn, schema).await? {
        return Ok(Err(refused));
    }
    let result = apply::<D>(conn).await;
    let released = D::unlock_migrations(conn).await;
    let outcome = result?;
    released?;
    Ok(outcome)
}

/// Applies the migrations newer than the recorded version.
async fn apply<D: Dialect>(conn: &mut Conn<D::DB>) -> Outcome {
    D::DB::script(conn, D::VERSION_TABLE).await?;
    let row = Stmt::<D>::new("SELECT MAX(version) AS version FROM dtk_schema_version")
        .fetch_first(conn)
        .await?;
    let current = match row {
        Some(row) => D::DB::int(&row, "version")?.unwrap_or(0),
        None => 0,
    };
    if let Err(message) = check_version(current, D::MIGRATIONS.len()) {
        return Ok(Err(message));
    }
    if current == 0 {
        rename_legacy_tables::<D>(conn).await?;
    }
    for (i, statements) in D::MIGRATIONS.iter().enumerate().skip(current as usize) {
        for statement in *statements {
            D::DB::script(conn, statement).await?;
        }
        Stmt::<D>::new("INSERT INTO dtk_schema_version (version, applied_at) VALUES (?, ?)")
            .int(i as i32 + 1)
            .now(Utc::now())
            .execute(conn)
            .await?;
    }
    Ok(Ok(()))
}

/// Keeps Python detectk's tables of the same names under `<name>_python`.
async fn rename_legacy_tables<D: Dialect>(conn: &mut Conn<D::DB>) -> Result<(), sqlx::Error> {
    for (table, marker) in LEGACY_TABLES {
        let tables = count::<D>(conn, Stmt::new(D::TABLE_COUNT).text(table)).await?;
        let markers = count::<D>(conn, Stmt::new(D::COLUMN_COUNT).text(table).text(marker)).await?;
        if tables == 1 && markers == 0 {
            let rename = format!("ALTER TABLE {table} RENAME TO {}", legacy_name(table));
            D::DB::script(conn, &rename).await?;
            log_legacy_rename(table);
        }
    }
    Ok(())
}

/// The `COUNT(*)` a query of one column returns.
async fn count<D: Dialect>(conn: &mut Conn<D::DB>, stmt: Stmt<'_, D>) -> Result<i64, sqlx::Error> {
    let row = stmt.fetch_first(conn).await?;
    Ok(match row {
        Some(row) => D::DB::int(&row, "n")?.unwrap_or(0),
        None => 0,
    })
}
