//! The async runtime `dtk` runs on, sized for the command.
//!
//! Blocking work (each SQLite query of the source and storage lanes, file and name
//! look-ups) runs on Tokio's blocking threads. Tokio starts a new one whenever none is
//! idle at that instant, up to 512, so a fleet run with `--concurrency 4` used to end
//! with 13 of them, and glibc gives each thread its own malloc arena, each keeping
//! freed memory: a real tick of 1,000 metrics peaked at about 60 MiB. A running metric
//! has at most one blocking job at a time, so the command's concurrency bounds what is
//! useful; a job beyond it waits for a thread (no blocking job waits on another, so
//! none waits forever). The bound is at least 2, so one long job never holds up all
//! the others.

use tokio::runtime::{Builder, Runtime};

use crate::cli::Command;

/// Concurrency of the commands that have no `--concurrency`.
const DEFAULT_CONCURRENCY: usize = 4;

/// Blocking threads for a command running `concurrency` jobs at once.
pub fn blocking_threads(concurrency: Option<usize>) -> usize {
    concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(2)
}

/// The multi-threaded runtime for `command`, with [`blocking_threads`] of it.
pub fn for_command(command: &Command) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads(command.concurrency()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_blocking_thread_per_concurrent_job_and_at_least_two() {
        assert_eq!(blocking_threads(Some(4)), 4);
        assert_eq!(blocking_threads(Some(16)), 16);
        assert_eq!(blocking_threads(Some(1)), 2);
        assert_eq!(blocking_threads(Some(0)), 2);
        assert_eq!(blocking_threads(None), DEFAULT_CONCURRENCY);
    }

    #[test]
    fn the_blocking_pool_is_bounded() {
        use clap::Parser;
        let cli = crate::cli::Cli::parse_from(["dtk", "run", "metrics", "--concurrency", "3"]);
        assert_eq!(cli.command.concurrency(), Some(3));
        let runtime = for_command(&cli.command).expect("runtime");
        // Eight jobs that each wait for all of them to have started: only the three
        // threads of the bound run at once, so at most three ever start together.
        let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        runtime.block_on(async {
            let jobs: Vec<_> = (0..8)
                .map(|_| {
                    let (running, most) = (running.clone(), most.clone());
                    tokio::task::spawn_blocking(move || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            for job in jobs {
                job.await.expect("job");
            }
        });
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=3).contains(&most), "{most} blocking jobs ran at once");
    }
}
