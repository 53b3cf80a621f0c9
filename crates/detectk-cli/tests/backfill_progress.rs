//! `dtk backfill` of many metrics shows overall progress (metrics done, points per
//! second, ETA) only when stderr is a terminal: under a real pseudo-terminal (made by
//! util-linux `script`) the bars are drawn; with stderr piped they are not.

mod common;

use std::process::Command;

use common::{SAMPLE_END, dtk, sample_project, stderr, stdout};

#[test]
fn progress_is_drawn_on_a_terminal_and_not_into_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sample_project(dir);
    let piped = dtk()
        .current_dir(dir)
        .args(["backfill", "metrics", "--execution-time", SAMPLE_END])
        .output()
        .unwrap();
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert!(!stderr(&piped).contains("points/s"), "{}", stderr(&piped));
    assert!(stdout(&piped).contains("site_sessions: loaded"));

    let line = format!(
        "{} backfill metrics --force --execution-time '{SAMPLE_END}'",
        env!("CARGO_BIN_EXE_dtk")
    );
    let tty = Command::new("script")
        .current_dir(dir)
        .env("DETECTK_PROFILES", "detectk_profiles.yaml")
        .env_remove("RUST_LOG")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .expect("util-linux script runs");
    let screen = stdout(&tty);
    assert!(tty.status.success(), "{screen}");
    assert!(screen.contains("3/3 metrics"), "{screen}");
    assert!(
        screen.contains("points/s") && screen.contains("ETA"),
        "{screen}"
    );
    assert!(screen.contains("site_sessions: batch"), "{screen}");
    assert!(
        screen.contains("site_sessions: loaded"),
        "the reports still print"
    );
}
