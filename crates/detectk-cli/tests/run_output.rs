//! The text and JSON output of `dtk backfill` and `dtk run` on the sample project,
//! pinned with snapshots (`cargo insta review` after an intended change). The temp
//! directory is replaced by `[DIR]`; every time shown derives from `--execution-time`
//! and the sample data, so nothing else varies between runs.

#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;
use std::process::Output;

use common::{SAMPLE_END, run_in, sample_project, stderr, stdout};

/// The command's stdout with the temp directory replaced, after checking its exit code.
fn output(root: &Path, args: &[&str], code: i32) -> String {
    let out: Output = run_in(root, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    scrub(root, &stdout(&out))
}

fn scrub(root: &Path, text: &str) -> String {
    let root = root.display().to_string();
    text.replace(&root, "[DIR]")
}

#[test]
fn backfill_and_run_output_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample_project(root);
    let at = ["--execution-time", SAMPLE_END];

    insta::assert_snapshot!(
        "backfill_text",
        output(root, &["backfill", "metrics", at[0], at[1]], 0)
    );
    insta::assert_snapshot!(
        "backfill_again_json",
        output(
            root,
            &["backfill", "metrics", at[0], at[1], "--format", "json"],
            0
        )
    );
    insta::assert_snapshot!(
        "run_dry_text",
        output(root, &["run", "metrics", at[0], at[1], "--dry-run"], 0)
    );
    insta::assert_snapshot!(
        "run_json",
        output(
            root,
            &["run", "metrics", at[0], at[1], "--format", "json"],
            0
        )
    );
    insta::assert_snapshot!(
        "run_again_text",
        output(root, &["run", "metrics", at[0], at[1]], 0)
    );
}

#[test]
fn a_failing_metric_is_pinned_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample_project(root);
    output(
        root,
        &["backfill", "metrics", "--execution-time", SAMPLE_END],
        0,
    );
    // Then the errors metric's query names a table that does not exist.
    let path = root.join("metrics/site_errors.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        config.replace("FROM site_metrics", "FROM no_such_table"),
    )
    .unwrap();
    let at = ["--execution-time", SAMPLE_END];

    let out = run_in(root, &["run", "metrics", at[0], at[1], "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!("failing_run_text_stdout", scrub(root, &stdout(&out)));
    insta::assert_snapshot!("failing_run_text_stderr", scrub(root, &stderr(&out)));
    insta::assert_snapshot!(
        "failing_run_json",
        output(
            root,
            &[
                "run",
                "metrics",
                at[0],
                at[1],
                "--dry-run",
                "--format",
                "json"
            ],
            1
        )
    );
}
