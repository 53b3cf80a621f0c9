//! Every command shown in README.md, docs/ and the example READMEs works as written.
//!
//! The shell lines of their ```bash / ```sh blocks are extracted. `dtk` lines run with the
//! binary under test: the README's against its own metric (saved as
//! `metrics/sessions.yaml`, reading a PostgreSQL table and alerting to a local webhook),
//! the quickstart README's in a quickstart project. Every other line must be one of the
//! kinds listed in [`RUN_ELSEWHERE`], so a new kind of command in the docs fails here
//! until a test covers it.

#![cfg(all(feature = "sqlite", feature = "postgres", feature = "mattermost"))]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{sample_project, stderr, stdout};

/// Lines that other parts of the suite run (service scripts, the quickstart script, cargo
/// builds and benchmarks) or that only read what a covered command wrote.
const RUN_ELSEWHERE: &[(&str, &str)] = &[
    (
        "bash examples/quickstart/run.sh",
        "its steps are tests/quickstart.rs",
    ),
    ("bash scripts/test.sh", "the whole suite"),
    ("bash scripts/services/", "started by scripts/test.sh"),
    ("scripts/services/", "started by scripts/test.sh"),
    ("cargo install --path crates/detectk-cli", "a release build"),
    ("cargo run --release", "benchmarks, minutes each"),
    (
        "scripts/nab-backtest.sh",
        "needs a NAB corpus (its path is the argument); the backtest it runs is tests/backtest.rs",
    ),
    ("cargo build --release", "a release build"),
    (
        "B=target/",
        "the fleet benchmark (docs/benchmarks-fleet.md): detectk-bench's tests/tiny_fleet.rs runs it on a tiny fleet",
    ),
    (
        "$B ",
        "the fleet benchmark: detectk-bench's tests/tiny_fleet.rs",
    ),
    (
        "T=$($B advance",
        "the fleet benchmark: detectk-bench's tests/tiny_fleet.rs",
    ),
    (
        "--storage postgres --pg-url",
        "the continued line of a fleet-bench generate command",
    ),
    (
        "target/release/dtk ",
        "a release dtk on a generated fleet (minutes); tests/tiny_fleet.rs runs the same commands",
    ),
    ("mysql --protocol=TCP", "benchmark setup"),
    (
        "clickhouse-client --multiquery < examples/clickhouse/seed.sql",
        "example seed data",
    ),
    (
        "cd examples/clickhouse",
        "the ClickHouse example (tests of detectk-collectors-clickhouse)",
    ),
    (
        "sqlite3 detectk.db",
        "reads what the covered backfill wrote",
    ),
    (
        "cd myproject",
        "docs/cli.md init-project blocks: tests/init_project_databases.rs",
    ),
    (
        "psql \"${DATABASE_URL",
        "docs/cli.md init-project blocks: tests/init_project_databases.rs",
    ),
    (
        "mysql -h \"${MYSQL_HOST",
        "docs/cli.md init-project blocks: tests/init_project_databases.rs",
    ),
    (
        "clickhouse-client --host",
        "docs/cli.md init-project blocks: tests/init_project_databases.rs",
    ),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative)).unwrap()
}

/// The shell lines of the fenced bash/sh blocks of `markdown`, without comments.
fn shell_lines(markdown: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in markdown.lines() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            inside = !inside && matches!(fence.trim_start_matches('`').trim(), "bash" | "sh");
            continue;
        }
        if inside {
            let code = match line.find(" #") {
                Some(i) => &line[..i],
                None => line,
            };
            let code = code.trim();
            if !code.is_empty() && !code.starts_with('#') {
                lines.push(code.to_string());
            }
        }
    }
    lines
}

/// The documents whose commands are checked.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_string()];
    for dir in ["docs", "examples/quickstart", "examples/clickhouse"] {
        let mut found: Vec<String> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .map(|n| format!("{dir}/{n}"))
            .collect();
        found.sort();
        docs.extend(found);
    }
    docs
}

fn is_dtk(line: &str) -> bool {
    line.starts_with("dtk ") || line.starts_with("../debug/dtk ")
}

/// `dtk` arguments of a line (the docs' dtk lines use no shell quoting).
fn dtk_args(line: &str) -> Vec<String> {
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_shell_line_of_the_docs_is_run_here_or_elsewhere() {
    let mut unknown = Vec::new();
    let mut dtk_lines = 0;
    for doc in documents() {
        for line in shell_lines(&read(&doc)) {
            if is_dtk(&line) || line == "cd target/quickstart" {
                dtk_lines += usize::from(is_dtk(&line));
                continue;
            }
            let known = RUN_ELSEWHERE
                .iter()
                .any(|(prefix, _)| line.starts_with(prefix));
            // The ClickHouse example's dtk lines run in its directory after seeding.
            let clickhouse_example = doc == "examples/clickhouse/README.md";
            if !known && !clickhouse_example {
                unknown.push(format!("{doc}: {line}"));
            }
        }
    }
    assert!(dtk_lines >= 4, "only {dtk_lines} dtk lines found");
    assert!(
        unknown.is_empty(),
        "shell lines no test runs (run them here or list them in RUN_ELSEWHERE):\n{}",
        unknown.join("\n")
    );
}

/// A local webhook that answers `ok` and counts the requests.
fn webhook() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/readme", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (url, count)
}

fn psql(database: &str, sql: &str) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ])
        .output()
        .expect("psql (PostgreSQL client, installed by scripts/services/postgres.sh)");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README's metric config, with its backfill start moved to yesterday so the
/// backfill covers two days (the only substitution).
fn readme_metric(readme: &str) -> String {
    let start = readme
        .find("```yaml\nname: sessions_10min")
        .expect("the README's metric");
    let body = &readme[start + "```yaml\n".len()..];
    let body = &body[..body.find("```").unwrap()];
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1)).format("%Y-%m-%d");
    assert!(
        body.contains("start_time: \"2024-01-01\""),
        "the README metric has a backfill start"
    );
    body.replace(
        "start_time: \"2024-01-01\"",
        &format!("start_time: \"{yesterday}\""),
    )
}

#[test]
fn the_readme_metric_and_commands_work_as_written() {
    let readme = read("README.md");
    let db = format!(
        "dtk_readme_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    psql("postgres", &format!("CREATE DATABASE {db}"));
    psql(
        &db,
        "CREATE TABLE sessions (ts timestamp NOT NULL); \
         INSERT INTO sessions SELECT generate_series(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '2 days', now() AT TIME ZONE 'UTC', interval '1 minute')",
    );
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("metrics")).unwrap();
    std::fs::write(
        project.path().join("metrics/sessions.yaml"),
        readme_metric(&readme),
    )
    .unwrap();
    let (url, _requests) = webhook();

    let lines: Vec<String> = shell_lines(&readme)
        .into_iter()
        .filter(|l| is_dtk(l))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        let out = common::dtk()
            .current_dir(project.path())
            .env_remove("DETECTK_PROFILES")
            .env("HOME", project.path())
            .env(
                "DATABASE_URL",
                format!("postgresql://postgres@127.0.0.1:5432/{db}"),
            )
            .env("MATTERMOST_WEBHOOK", &url)
            .args(dtk_args(line))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{line}\nstdout:\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        );
    }
    psql("postgres", &format!("DROP DATABASE {db} WITH (FORCE)"));
}

#[test]
fn the_quickstart_readme_commands_work_in_the_quickstart_project() {
    let tmp = tempfile::tempdir().unwrap();
    let quickstart = tmp.path().join("target/quickstart");
    sample_project(&quickstart);
    // `../debug/dtk` from target/quickstart is the binary the quickstart built.
    std::fs::create_dir_all(tmp.path().join("target/debug")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_dtk"),
        tmp.path().join("target/debug/dtk"),
    )
    .unwrap();
    let mut cwd = tmp.path().to_path_buf();
    let mut ran = 0;
    for line in shell_lines(&read("examples/quickstart/README.md")) {
        if let Some(dir) = line.strip_prefix("cd ") {
            cwd = cwd.join(dir);
        } else if is_dtk(&line) {
            let program = line.split_whitespace().next().unwrap();
            let out = Command::new(cwd.join(program))
                .current_dir(&cwd)
                .env_remove("DETECTK_PROFILES")
                .env("HOME", tmp.path())
                .args(dtk_args(&line))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{line}: {}", stderr(&out));
            ran += 1;
        } else if line.starts_with("sqlite3 ") {
            let out = Command::new("bash")
                .arg("-c")
                .arg(&line)
                .current_dir(&cwd)
                .output()
                .unwrap();
            assert!(out.status.success(), "{line}: {}", stderr(&out));
            assert!(
                stdout(&out).contains("site_sessions|mad|"),
                "{}",
                stdout(&out)
            );
        }
    }
    assert_eq!(ran, 1, "the quickstart README's dtk line ran");
}
