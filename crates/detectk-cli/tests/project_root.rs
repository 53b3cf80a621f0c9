//! `dtk` from any working directory, as cron, Airflow or systemd start it: configs by
//! absolute path, profiles from the project root, SQLite files next to the file that
//! names them, and nothing written to the working directory.

#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{SAMPLE_END, stderr, stdout};

/// `dtk` started in `cwd` with no profile variables and an empty HOME, as cron would.
fn dtk_from(cwd: &Path, home: &Path) -> Command {
    let mut cmd = common::dtk();
    cmd.current_dir(cwd)
        .env_remove("DETECTK_PROFILES")
        .env_remove("DETECTK_PROJECT_DIR")
        .env("HOME", home);
    cmd
}

fn run(cmd: &mut Command, args: &[&str]) -> Output {
    cmd.args(args).output().expect("dtk runs")
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A minimal quickstart project (one metric) at `root/proj`.
fn project(root: &Path) -> std::path::PathBuf {
    let proj = root.join("proj");
    let out = common::dtk()
        .args([
            "init-project",
            proj.to_str().unwrap(),
            "--database",
            "sqlite",
            "--minimal",
            "--sample-end",
            SAMPLE_END,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proj.join("detectk_project.yaml").is_file(), "the marker");
    proj
}

#[test]
fn backfill_and_run_by_absolute_path_from_another_directory_write_only_in_the_project() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(tmp.path());
    let metrics = proj.join("metrics");
    let metrics = metrics.to_str().unwrap();
    let cwd = tmp.path().join("cron-cwd");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(&home).unwrap();

    let validate = run(&mut dtk_from(Path::new("/"), &home), &["validate", metrics]);
    assert_eq!(validate.status.code(), Some(0), "{}", stderr(&validate));

    let backfill = run(&mut dtk_from(&cwd, &home), &["backfill", metrics]);
    assert_eq!(backfill.status.code(), Some(0), "{}", stderr(&backfill));
    let first = run(
        &mut dtk_from(&cwd, &home),
        &["run", metrics, "--execution-time", SAMPLE_END],
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("site_sessions: collected 6 point(s)"),
        "{}",
        stdout(&first)
    );

    // The storage named in the profiles file (`sqlite:///detectk.db`) is next to it.
    assert!(proj.join("detectk.db").is_file());
    assert_eq!(
        entries(&cwd),
        Vec::<String>::new(),
        "nothing in the working directory"
    );
    assert_eq!(entries(&home), Vec::<String>::new(), "nothing in HOME");

    // DETECTK_PROFILES naming the project's file (absolute): the same files are used,
    // so the rerun finds the points already stored.
    let mut cmd = dtk_from(&cwd, &home);
    cmd.env("DETECTK_PROFILES", proj.join("detectk_profiles.yaml"));
    let again = run(&mut cmd, &["run", metrics, "--execution-time", SAMPLE_END]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        !stdout(&again).contains("alert sent"),
        "the rerun used the same storage: {}",
        stdout(&again)
    );
    assert_eq!(entries(&cwd), Vec::<String>::new());
}

#[test]
fn project_dir_option_and_variable_name_the_root_of_configs_kept_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(tmp.path());
    // A config outside the project tree: no profiles file above it.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(
        proj.join("metrics/site_sessions.yaml"),
        elsewhere.join("site_sessions.yaml"),
    )
    .unwrap();
    let config = elsewhere.join("site_sessions.yaml");
    let config = config.to_str().unwrap();
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let without = run(&mut dtk_from(&cwd, &home), &["validate", config]);
    assert_eq!(without.status.code(), Some(2));
    assert!(
        stderr(&without).contains("unknown profile `quickstart_source`"),
        "{}",
        stderr(&without)
    );
    assert!(
        stderr(&without).contains("--project-dir"),
        "the hint names the option"
    );

    let proj_arg = proj.to_str().unwrap();
    let with_option = run(
        &mut dtk_from(&cwd, &home),
        &["--project-dir", proj_arg, "validate", config],
    );
    assert_eq!(
        with_option.status.code(),
        Some(0),
        "{}",
        stderr(&with_option)
    );

    let mut cmd = dtk_from(&cwd, &home);
    cmd.env("DETECTK_PROJECT_DIR", &proj);
    let with_variable = run(
        &mut cmd,
        &["run", config, "--execution-time", SAMPLE_END, "--dry-run"],
    );
    assert_eq!(
        with_variable.status.code(),
        Some(0),
        "{}",
        stderr(&with_variable)
    );
    assert_eq!(entries(&cwd), Vec::<String>::new());

    let missing = tmp.path().join("no-such-dir");
    let bad = run(
        &mut dtk_from(&cwd, &home),
        &[
            "--project-dir",
            missing.to_str().unwrap(),
            "validate",
            config,
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--project-dir") && stderr(&bad).contains("is not a directory"),
        "{}",
        stderr(&bad)
    );
}
