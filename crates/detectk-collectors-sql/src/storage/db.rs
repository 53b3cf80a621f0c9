//! What the generic SQL storage needs of a sqlx database, stated once: run a
//! statement, fetch its rows, and bind and read the plain types every driver shares.
//! Implemented for every [`Backend`] whose sqlx types fit (all three drivers).

use std::future::Future;

use sqlx::error::BoxDynError;
use sqlx::{
    Arguments, AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row,
    Type,
};

use crate::handle::Backend;

/// A sqlx database the generic storage can drive. Statements take owned SQL (built
/// from a template with this driver's placeholders) and owned arguments.
pub(crate) trait SqlDb: Backend {
    /// Runs one statement; the number of rows it changed.
    fn run<'c>(
        conn: &'c mut Self::Connection,
        sql: String,
        args: Self::Arguments,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// Runs one query; all its rows.
    fn rows<'c>(
        conn: &'c mut Self::Connection,
        sql: String,
        args: Self::Arguments,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send + 'c;

    /// Runs a script of one or more statements without arguments (DDL).
    fn script<'c>(
        conn: &'c mut Self::Connection,
        sql: &str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;

    /// Binds text (NULL for `None`).
    fn add_text(args: &mut Self::Arguments, v: Option<&str>) -> Result<(), BoxDynError>;
    /// Binds a float (NULL for `None`).
    fn add_float(args: &mut Self::Arguments, v: Option<f64>) -> Result<(), BoxDynError>;
    /// Binds a boolean.
    fn add_bool(args: &mut Self::Arguments, v: bool) -> Result<(), BoxDynError>;
    /// Binds a 32-bit integer.
    fn add_int(args: &mut Self::Arguments, v: i32) -> Result<(), BoxDynError>;

    /// Reads a text column.
    fn text(row: &Self::Row, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// Reads a float column.
    fn float(row: &Self::Row, column: &str) -> Result<Option<f64>, sqlx::Error>;
    /// Reads a boolean column.
    fn boolean(row: &Self::Row, column: &str) -> Result<bool, sqlx::Error>;
    /// Reads an integer column of either width.
    fn int(row: &Self::Row, column: &str) -> Result<Option<i64>, sqlx::Error>;
}

impl<DB> SqlDb for DB
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<f64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB>,
    for<'q> i32: Encode<'q, DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> f64: Decode<'r, DB>,
    for<'r> bool: Decode<'r, DB>,
    for<'r> i32: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    String: Type<DB>,
    for<'a> &'a str: Type<DB>,
    f64: Type<DB>,
    bool: Type<DB>,
    i32: Type<DB>,
    i64: Type<DB>,
{
    async fn run(
        conn: &mut DB::Connection,
        sql: String,
        args: DB::Arguments,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query_with(AssertSqlSafe(sql), args)
            .execute(&mut *conn)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn rows(
        conn: &mut DB::Connection,
        sql: String,
        args: DB::Arguments,
    ) -> Result<Vec<DB::Row>, sqlx::Error> {
        sqlx::query_with(AssertSqlSafe(sql), args)
            .fetch_all(&mut *conn)
            .await
    }

    fn script<'c>(
        conn: &'c mut DB::Connection,
        sql: &str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c {
        let sql = AssertSqlSafe(sql.to_string());
        async move {
            sqlx::raw_sql(sql).execute(&mut *conn).await?;
            Ok(())
        }
    }

    fn add_text(args: &mut DB::Arguments, v: Option<&str>) -> Result<(), BoxDynError> {
        args.add(v)
    }

    fn add_float(args: &mut DB::Arguments, v: Option<f64>) -> Result<(), BoxDynError> {
        args.add(v)
    }

    fn add_bool(args: &mut DB::Arguments, v: bool) -> Result<(), BoxDynError> {
        args.add(v)
    }

    fn add_int(args: &mut DB::Arguments, v: i32) -> Result<(), BoxDynError> {
        args.add(v)
    }

    fn text(row: &DB::Row, column: &str) -> Result<Option<String>, sqlx::Error> {
        row.try_get(column)
    }

    fn float(row: &DB::Row, column: &str) -> Result<Option<f64>, sqlx::Error> {
        row.try_get(column)
    }

    fn boolean(row: &DB::Row, column: &str) -> Result<bool, sqlx::Error> {
        row.try_get(column)
    }

    fn int(row: &DB::Row, column: &str) -> Result<Option<i64>, sqlx::Error> {
        // PostgreSQL and MySQL keep `INTEGER` as 32 bits, SQLite as 64.
        row.try_get::<Option<i64>, _>(column).or_else(|_| {
            row.try_get::<Option<i32>, _>(column)
                .map(|v| v.map(i64::from))
        })
    }
}

/// The connection type of a database.
pub(crate) type Conn<DB> = <DB as Database>::Connection;
