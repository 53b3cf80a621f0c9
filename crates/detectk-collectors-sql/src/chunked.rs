//! Multi-row `INSERT ... VALUES (...), (...) <upsert clause>` statements, one per
//! chunk of rows, as the MySQL and SQLite storages write (a statement's bind
//! parameters are limited, so large batches take several).

use sqlx::query_builder::Separated;
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};

/// Executes `head VALUES <rows> tail` on `conn` for every `chunk_rows` rows of `rows`,
/// in order; `push_row` binds the values of one row. Stops at the first failure.
pub(crate) async fn insert_chunked<DB, T>(
    conn: &mut DB::Connection,
    rows: &[T],
    chunk_rows: usize,
    head: &str,
    tail: &str,
    mut push_row: impl FnMut(Separated<'_, DB, &'static str>, &T),
) -> Result<(), sqlx::Error>
where
    DB: Database,
    DB::Arguments: Default + IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    for chunk in rows.chunks(chunk_rows) {
        let mut q = QueryBuilder::<DB>::new(head);
        q.push_values(chunk, &mut push_row);
        q.push(tail);
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}
