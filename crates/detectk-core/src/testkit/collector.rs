//! The collector conformance suite: a backend-provided fixture, then decoding checks.
//!
//! The backend creates one table holding a sample row (canonical values below, one
//! column per [`SampleKind`] it supports) and a row of NULLs, in its own dialect.
//! The checks then query it through the collector and compare every cell.

use async_trait::async_trait;
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;

use crate::error::BackendErrorKind;
use crate::model::Cell;
use crate::testkit::report::{ensure, ensure_eq};
use crate::testkit::{CheckFailure, CheckResult, SuiteReport};
use crate::traits::Collector;

/// A column type of the sample table and the canonical value the fixture stores in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// Timestamp without zone (TIMESTAMP, DATETIME): `2024-03-10 02:30:05`.
    Timestamp,
    /// Timestamp with zone (TIMESTAMPTZ, MySQL TIMESTAMP): `2024-03-10 02:30:05` UTC.
    TimestampTz,
    /// Calendar date (DATE): `2024-02-29`.
    Date,
    /// Small integer (SMALLINT, INT): `-42`.
    SmallInt,
    /// 64-bit integer (BIGINT): `-9000000000`.
    BigInt,
    /// Unsigned 64-bit integer (BIGINT UNSIGNED, UInt64): `18446744073709551615`.
    UnsignedBigInt,
    /// Double precision float: `2.5`.
    Double,
    /// Fixed-point decimal (NUMERIC(12,3), DECIMAL(12,3)): `12345.678`.
    Decimal,
    /// Text (TEXT, VARCHAR): `héllo, wörld`.
    Text,
    /// JSON document: `{"a": 1, "b": [true, null]}`.
    Json,
    /// Boolean: `true`.
    Bool,
}

impl SampleKind {
    /// Every kind, in a fixed order.
    pub const ALL: [SampleKind; 11] = [
        SampleKind::Timestamp,
        SampleKind::TimestampTz,
        SampleKind::Date,
        SampleKind::SmallInt,
        SampleKind::BigInt,
        SampleKind::UnsignedBigInt,
        SampleKind::Double,
        SampleKind::Decimal,
        SampleKind::Text,
        SampleKind::Json,
        SampleKind::Bool,
    ];

    /// The canonical value as SQL literal text, for the fixture's INSERT
    /// (quote it as the dialect needs: strings, timestamps and JSON are unquoted here).
    pub fn literal(self) -> &'static str {
        match self {
            SampleKind::Timestamp | SampleKind::TimestampTz => "2024-03-10 02:30:05",
            SampleKind::Date => "2024-02-29",
            SampleKind::SmallInt => "-42",
            SampleKind::BigInt => "-9000000000",
            SampleKind::UnsignedBigInt => "18446744073709551615",
            SampleKind::Double => "2.5",
            SampleKind::Decimal => "12345.678",
            SampleKind::Text => "héllo, wörld",
            SampleKind::Json => r#"{"a": 1, "b": [true, null]}"#,
            SampleKind::Bool => "true",
        }
    }

    /// The cell the collector must return for the canonical value.
    pub fn expected(self) -> Cell {
        let naive = NaiveDate::from_ymd_opt(2024, 3, 10)
            .and_then(|d| d.and_hms_opt(2, 30, 5))
            .expect("valid constant");
        match self {
            SampleKind::Timestamp => Cell::DateTime(naive),
            SampleKind::TimestampTz => Cell::DateTimeUtc(Utc.from_utc_datetime(&naive)),
            SampleKind::Date => {
                Cell::Date(NaiveDate::from_ymd_opt(2024, 2, 29).expect("valid constant"))
            }
            SampleKind::SmallInt => Cell::Int(-42),
            SampleKind::BigInt => Cell::Int(-9_000_000_000),
            SampleKind::UnsignedBigInt => Cell::UInt(u64::MAX),
            SampleKind::Double => Cell::Float(2.5),
            SampleKind::Decimal => Cell::Float(12345.678),
            SampleKind::Text => Cell::Text("héllo, wörld".into()),
            SampleKind::Json => Cell::Json(json!({"a": 1, "b": [true, null]})),
            SampleKind::Bool => Cell::Bool(true),
        }
    }
}

/// What a backend provides to run the collector suite: the collector and its sample data.
#[async_trait]
pub trait CollectorFixture: Send + Sync {
    /// The collector under test.
    fn collector(&self) -> &dyn Collector;

    /// Creates the sample table (in its own database, schema or uniquely named table)
    /// with the sample row and the all-NULL row. Called once before the checks.
    async fn setup(&self) -> Result<(), String>;

    /// Removes what `setup` created, after the checks (default: nothing to remove).
    async fn teardown(&self) {}

    /// The sample table's columns as `(column name, kind)`, in query order.
    fn sample_columns(&self) -> Vec<(String, SampleKind)>;

    /// A query returning exactly the sample columns in order, sample row first, NULL row second.
    fn select_samples(&self) -> String;

    /// A query returning no rows, with the columns `period_time` and `value`.
    fn select_empty(&self) -> String;

    /// A query of constant expressions:
    /// `SELECT 2 AS i, 0.5 AS f, 'txt' AS t, NULL AS n` (adapt to the dialect).
    fn select_expressions(&self) -> String {
        "SELECT 2 AS i, 0.5 AS f, 'txt' AS t, NULL AS n".into()
    }

    /// A query the server rejects as a syntax error.
    fn select_syntax_error(&self) -> String {
        "SELEC 1 FROMM nowhere".into()
    }

    /// A query of a table that does not exist.
    fn select_missing_table(&self) -> String {
        "SELECT value FROM dtk_no_such_table_anywhere".into()
    }
}

fn cells_match(got: &Cell, want: &Cell) -> bool {
    match (got, want) {
        (Cell::Float(a), Cell::Float(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        _ => got == want,
    }
}

/// Every sample column decodes to its canonical cell by its real type.
pub async fn collector_typed_columns(f: &dyn CollectorFixture) -> CheckResult {
    let table = f.collector().query(&f.select_samples()).await?;
    let columns = f.sample_columns();
    ensure!(!table.rows.is_empty(), "the sample query returned no rows");
    let row = &table.rows[0];
    ensure_eq!(row.len(), columns.len(), "cells in the sample row");
    let mut wrong = Vec::new();
    for ((name, kind), got) in columns.iter().zip(row) {
        let want = kind.expected();
        if !cells_match(got, &want) {
            wrong.push(format!("{name} ({kind:?}): expected {want:?}, got {got:?}"));
        }
    }
    ensure!(
        wrong.is_empty(),
        "cells decoded wrongly: {}",
        wrong.join("; ")
    );
    Ok(())
}

/// Every sample column of the NULL row decodes to `Cell::Null`.
pub async fn collector_null_cells(f: &dyn CollectorFixture) -> CheckResult {
    let table = f.collector().query(&f.select_samples()).await?;
    ensure_eq!(table.rows.len(), 2, "rows of the sample query");
    let not_null: Vec<String> = f
        .sample_columns()
        .iter()
        .zip(&table.rows[1])
        .filter(|(_, c)| **c != Cell::Null)
        .map(|((name, _), c)| format!("{name} = {c:?}"))
        .collect();
    ensure!(
        not_null.is_empty(),
        "NULLs decoded as values: {}",
        not_null.join("; ")
    );
    Ok(())
}

/// Column names come back in query order, and every row has one cell per column.
pub async fn collector_columns_keep_order(f: &dyn CollectorFixture) -> CheckResult {
    let table = f.collector().query(&f.select_samples()).await?;
    let names: Vec<String> = f.sample_columns().into_iter().map(|(n, _)| n).collect();
    ensure_eq!(table.columns, names, "column names");
    for (i, row) in table.rows.iter().enumerate() {
        ensure_eq!(row.len(), names.len(), "cells in row {i}");
    }
    Ok(())
}

/// An empty result has no rows (and, when the backend reports them, the column names).
pub async fn collector_empty_result(f: &dyn CollectorFixture) -> CheckResult {
    let table = f.collector().query(&f.select_empty()).await?;
    ensure!(
        table.rows.is_empty(),
        "the empty query returned {} rows",
        table.rows.len()
    );
    ensure!(
        table.columns.is_empty() || table.columns == ["period_time", "value"],
        "columns of the empty result: {:?}",
        table.columns
    );
    Ok(())
}

/// Constant expressions decode by their value's type: integer, number, text, NULL.
pub async fn collector_expression_columns(f: &dyn CollectorFixture) -> CheckResult {
    let table = f.collector().query(&f.select_expressions()).await?;
    ensure_eq!(
        table.columns,
        ["i", "f", "t", "n"],
        "expression column names"
    );
    ensure_eq!(table.rows.len(), 1, "expression rows");
    let row = &table.rows[0];
    ensure!(
        matches!(row[0], Cell::Int(2) | Cell::UInt(2)),
        "`2 AS i` decoded as {:?}",
        row[0]
    );
    ensure!(
        cells_match(&row[1], &Cell::Float(0.5)),
        "`0.5 AS f` decoded as {:?}",
        row[1]
    );
    ensure_eq!(row[2], Cell::Text("txt".into()), "`'txt' AS t`");
    ensure_eq!(row[3], Cell::Null, "`NULL AS n`");
    Ok(())
}

async fn expect_query_error(f: &dyn CollectorFixture, sql: &str, what: &str) -> CheckResult {
    match f.collector().query(sql).await {
        Ok(t) => Err(CheckFailure::new(format!(
            "{what} succeeded with {} rows",
            t.rows.len()
        ))),
        Err(e) => {
            ensure_eq!(
                e.kind,
                BackendErrorKind::Query,
                "error kind of {what} ({e})"
            );
            ensure!(!e.transient, "{what} was marked transient: {e}");
            ensure!(!e.server.is_empty(), "{what}: the error names no server");
            Ok(())
        }
    }
}

/// A syntax error is a non-transient `Query` error naming the server.
pub async fn collector_syntax_error_is_query_error(f: &dyn CollectorFixture) -> CheckResult {
    expect_query_error(f, &f.select_syntax_error(), "a query with a syntax error").await
}

/// A missing table is a non-transient `Query` error naming the server.
pub async fn collector_missing_table_is_query_error(f: &dyn CollectorFixture) -> CheckResult {
    expect_query_error(f, &f.select_missing_table(), "a query of a missing table").await
}

/// Calls the exported macro `$callback` with `$args` and every collector check as
/// `(test name, check function)`: the one list the suite and the generated tests share.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtk_collector_checks {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)*;
            (typed_columns, collector_typed_columns),
            (null_cells, collector_null_cells),
            (columns_keep_order, collector_columns_keep_order),
            (empty_result, collector_empty_result),
            (expression_columns, collector_expression_columns),
            (syntax_error_is_query_error, collector_syntax_error_is_query_error),
            (missing_table_is_query_error, collector_missing_table_is_query_error),
        }
    };
}

/// Runs every listed check against `$fixture` and records it in `$report`.
#[doc(hidden)]
#[macro_export]
macro_rules! __dtk_run_collector_checks {
    ($report:ident, $fixture:ident; $(($name:ident, $check:ident)),+ $(,)?) => {
        $( $report.record(stringify!($check), $crate::testkit::$check($fixture).await); )+
    };
}

/// Sets up the fixture, runs every collector check and reports which failed (the
/// fixture's `teardown` is left to the caller).
pub async fn run_collector_suite(f: &dyn CollectorFixture) -> SuiteReport {
    let mut report = SuiteReport::new(format!("collector suite on {}", f.collector().describe()));
    if let Err(e) = f.setup().await {
        report.record("fixture_setup", Err(CheckFailure::new(e)));
        return report;
    }
    crate::__dtk_collector_checks!(__dtk_run_collector_checks!(report, f));
    report
}
