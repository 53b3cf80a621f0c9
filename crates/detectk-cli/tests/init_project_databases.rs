//! `dtk init-project --database X` for every database: the steps of docs/cli.md
//! (section init-project) run literally with bash, `dtk` on the PATH, against the
//! servers of scripts/services. Each run uses its own database (through the variables
//! the generated profiles read), an empty HOME and no profile variables.

#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "clickhouse"
))]

mod common;

use std::path::Path;
use std::process::Command;

use common::{stderr, stdout};

/// The ```bash block of docs/cli.md that starts with `dtk init-project myproject --database {db}`.
fn steps(db: &str) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md"))
            .unwrap();
    let start = format!("```bash\ndtk init-project myproject --database {db}\n");
    let at = doc
        .find(&start)
        .unwrap_or_else(|| panic!("docs/cli.md has no block for --database {db}"));
    let body = &doc[at + "```bash\n".len()..];
    body[..body.find("```").unwrap()].to_string()
}

fn unique(db: &str) -> String {
    format!(
        "dtk_init_{db}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    )
}

fn sh(cmd: &str) {
    let out = Command::new("bash").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the documented steps in a fresh directory with `dtk` on the PATH.
fn follow(db: &str, env: &[(&str, String)]) {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dtk"), bin.join("dtk")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{}", steps(db));
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("HOME", tmp.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("DETECTK_PROFILES")
        .env_remove("DETECTK_PROJECT_DIR");
    for var in [
        "DATABASE_URL",
        "MYSQL_HOST",
        "MYSQL_USER",
        "MYSQL_PASSWORD",
        "MYSQL_DATABASE",
        "CLICKHOUSE_HOST",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "CLICKHOUSE_DATABASE",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "--database {db}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("config(s) valid"), "validate ran: {text}");
    assert!(
        text.contains("detection(s)"),
        "run reported the metric: {text}"
    );
}

#[test]
fn sqlite_project_steps_work() {
    follow("sqlite", &[]);
}

#[test]
fn postgres_project_steps_work() {
    let db = unique("pg");
    sh(&format!(
        "psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE {db}'"
    ));
    follow(
        "postgres",
        &[(
            "DATABASE_URL",
            format!("postgresql://postgres@127.0.0.1:5432/{db}"),
        )],
    );
    sh(&format!(
        "psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE {db} WITH (FORCE)'"
    ));
}

/// The generated profile says `password: "${MYSQL_PASSWORD:-}"`: with the variable
/// unset (and set but empty) root without a password logs in.
#[test]
fn mysql_project_steps_work_with_an_unset_and_an_empty_password() {
    let db = unique("my");
    sh(&format!(
        "mysql --protocol=TCP -h 127.0.0.1 -u root -e 'CREATE DATABASE {db}'"
    ));
    follow("mysql", &[("MYSQL_DATABASE", db.clone())]);
    follow(
        "mysql",
        &[
            ("MYSQL_DATABASE", db.clone()),
            ("MYSQL_PASSWORD", String::new()),
        ],
    );
    sh(&format!(
        "mysql --protocol=TCP -h 127.0.0.1 -u root -e 'DROP DATABASE {db}'"
    ));
}

#[test]
fn clickhouse_project_steps_work() {
    let db = unique("ch");
    sh(&format!(
        "curl -fsS http://127.0.0.1:8123/ --data-binary 'CREATE DATABASE {db}'"
    ));
    follow("clickhouse", &[("CLICKHOUSE_DATABASE", db.clone())]);
    sh(&format!(
        "curl -fsS http://127.0.0.1:8123/ --data-binary 'DROP DATABASE {db}'"
    ));
}
