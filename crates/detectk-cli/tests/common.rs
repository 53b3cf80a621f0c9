//! Helpers shared by the CLI tests: run `dtk` in a directory, make a sample project.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The `dtk` binary built for these tests.
pub fn dtk() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dtk"));
    cmd.env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("DETECTK_PROFILES", "detectk_profiles.yaml");
    cmd
}

/// Runs `dtk args...` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    dtk()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("dtk runs")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// End of the sample data used by the tests.
pub const SAMPLE_END: &str = "2024-03-01 00:00:00";

/// Creates the quickstart project (sample SQLite data) in `dir`.
pub fn sample_project(dir: &Path) {
    let out = dtk()
        .args([
            "init-project",
            dir.to_str().unwrap(),
            "--database",
            "sqlite",
            "--sample-end",
            SAMPLE_END,
            "--force",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init-project failed: {}",
        stderr(&out)
    );
}

/// Rows of a SQLite query, each row's columns rendered and joined with `|`, for comparing databases.
pub fn sqlite_rows(db: &Path, sql: &str) -> Vec<String> {
    use sqlx::{Row, ValueRef};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open sqlite");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&pool)
            .await
            .expect("query");
        let out = rows
            .iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| {
                        let raw = row.try_get_raw(i).unwrap();
                        if raw.is_null() {
                            return "NULL".to_string();
                        }
                        row.try_get::<String, _>(i)
                            .or_else(|_| row.try_get::<i64, _>(i).map(|v| v.to_string()))
                            .or_else(|_| row.try_get::<f64, _>(i).map(|v| format!("{v:?}")))
                            .unwrap_or_else(|_| "?".into())
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        pool.close().await;
        out
    })
}

/// Creates (or opens) the SQLite file `db` and runs `statements` on it, in order.
pub fn sqlite_exec(db: &Path, statements: &[&str]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
}

/// Writes `source.db` in `dir` with table `series(ts, v)`: `values[i]` at 2024-03-01
/// 00:00 plus `10 * i` minutes.
pub fn write_series_source(dir: &Path, values: &[f64]) {
    let mut statements =
        vec!["CREATE TABLE series (ts TEXT NOT NULL, v REAL NOT NULL)".to_string()];
    for (i, v) in values.iter().enumerate() {
        statements.push(format!(
            "INSERT INTO series VALUES ('2024-03-01 {:02}:{:02}:00', {v:?})",
            i / 6,
            (i % 6) * 10
        ));
    }
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    sqlite_exec(&dir.join("source.db"), &refs);
}

/// Values for [`write_series_source`] with two incidents over threshold 300: 100 every
/// 10 minutes from 00:00, 500 from 02:00 to 02:30, 100 at 02:40 and 500 again at 02:50.
pub fn two_incidents() -> Vec<f64> {
    (0..=17)
        .map(|i| {
            if (12..=15).contains(&i) || i == 17 {
                500.0
            } else {
                100.0
            }
        })
        .collect()
}

/// Metric `orders` over [`write_series_source`]'s table, threshold 300, every 10
/// minutes, with these extra top-level YAML lines (`storage:`, `alerter:` ...).
pub fn series_metric_yaml(extra: &str) -> String {
    format!(
        "name: orders\n\
         collector:\n  type: sqlite\n  params:\n    connection_string: \"sqlite:///source.db\"\n    \
         query: \"SELECT ts AS period_time, v AS value FROM series WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}' ORDER BY ts\"\n\
         detector: {{type: threshold, params: {{threshold: 300}}}}\n\
         {extra}\n\
         schedule: {{interval: 10 minutes, batch_load_days: 1}}\n"
    )
}
