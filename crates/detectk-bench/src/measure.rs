//! Wall time, CPU time and peak RSS of one child process.
//!
//! `getrusage(RUSAGE_CHILDREN)` sums the CPU of every waited-for child but keeps the
//! largest RSS any of them ever had, so a process measuring several commands would report
//! the history load's RSS for every later tick. Each command is therefore run under a
//! fresh `fleet-bench measure -- CMD ...` process, whose only child is the command: its
//! `RUSAGE_CHILDREN` is exactly the command's. It prints one JSON line, [`Usage`].

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

use crate::error::BenchError;

/// What one command cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Wall-clock seconds from start to exit.
    pub wall_s: f64,
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set size in KiB.
    pub max_rss_kib: i64,
    /// Exit code (-1 when killed by a signal).
    pub exit_code: i32,
}

impl Usage {
    /// User plus system CPU seconds.
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// Peak RSS in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }
}

/// Seconds of a `getrusage` time.
pub(crate) fn seconds(t: nix::sys::time::TimeVal) -> f64 {
    t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6
}

/// Runs `program args` as this process's only child (stdout discarded, stderr to
/// `stderr_file`), waits, and reports its usage. Used by `fleet-bench measure`.
pub fn measure_child(
    program: &str,
    args: &[String],
    stderr_file: &Path,
) -> Result<Usage, BenchError> {
    let stderr = std::fs::File::create(stderr_file).map_err(|e| BenchError::io(stderr_file, e))?;
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .map_err(|e| BenchError::Command {
            command: program.to_string(),
            message: e.to_string(),
        })?;
    let wall_s = started.elapsed().as_secs_f64();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| BenchError::Command {
        command: "getrusage".into(),
        message: e.to_string(),
    })?;
    Ok(Usage {
        wall_s,
        user_s: seconds(usage.user_time()),
        sys_s: seconds(usage.system_time()),
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: usage.max_rss(),
        exit_code: status.code().unwrap_or(-1),
    })
}

/// Runs `program args` under a fresh `fleet-bench measure` (this executable) and returns
/// its usage; a failing command is an error carrying the tail of its stderr.
pub fn measure(program: &Path, args: &[String], scratch: &Path) -> Result<Usage, BenchError> {
    let me = std::env::current_exe().map_err(|e| BenchError::io(Path::new("current_exe"), e))?;
    // One file per fleet-bench process: several may measure at once.
    let stderr_file = scratch.join(format!("fleet-bench-{}.stderr", std::process::id()));
    let command_line = format!("{} {}", program.display(), args.join(" "));
    let output = Command::new(me)
        .arg("measure")
        .arg("--stderr")
        .arg(&stderr_file)
        .arg("--")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| BenchError::Command {
            command: command_line.clone(),
            message: e.to_string(),
        })?;
    let fail = |message: String| BenchError::Command {
        command: command_line.clone(),
        message,
    };
    if !output.status.success() {
        return Err(fail(format!("fleet-bench measure: {}", output.status)));
    }
    let usage: Usage = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("unreadable usage line: {e}")))?;
    if usage.exit_code != 0 {
        let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(fail(format!(
            "exit code {}; stderr ends:\n{}",
            usage.exit_code,
            tail.join("\n")
        )));
    }
    Ok(usage)
}
