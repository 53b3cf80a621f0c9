//! Progress of `dtk backfill` over many metrics, on a terminal: an overall bar (metrics
//! done, points per second, time left) and the current metric's batches. Drawn on
//! stderr, and only when stderr is a terminal, so logs and pipes stay clean.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use detectk_core::pipeline::BatchProgress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Steps of the overall bar per metric (a metric's batches fill its share).
const STEPS: u64 = 1000;

/// `12/40 metrics · 5.2k points/s`.
pub fn overall_message(done: usize, total: usize, points: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        points as f64 / secs
    } else {
        0.0
    };
    let rate = if rate >= 10_000.0 {
        format!("{:.0}k", rate / 1000.0)
    } else if rate >= 1000.0 {
        format!("{:.1}k", rate / 1000.0)
    } else {
        format!("{rate:.0}")
    };
    format!("{done}/{total} metrics · {rate} points/s")
}

/// The bars of one `dtk backfill`.
#[derive(Debug)]
pub struct FleetProgress {
    multi: MultiProgress,
    overall: ProgressBar,
    current: ProgressBar,
    total: usize,
    done: usize,
    points: u64,
    last_batch_points: u64,
    started: Instant,
}

impl FleetProgress {
    /// Bars for `total` metrics on stderr, or `None` when stderr is not a terminal.
    pub fn on_terminal(total: usize) -> Option<Self> {
        std::io::stderr()
            .is_terminal()
            .then(|| Self::new(total, ProgressDrawTarget::stderr()))
    }

    fn new(total: usize, target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total as u64 * STEPS));
        overall.set_style(
            ProgressStyle::with_template("[{bar:30}] {msg} · {elapsed} elapsed, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let current = multi.add(ProgressBar::new(0));
        current.set_style(
            ProgressStyle::with_template("  {prefix}: batch {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let progress = Self {
            multi,
            overall,
            current,
            total,
            done: 0,
            points: 0,
            last_batch_points: 0,
            started: Instant::now(),
        };
        progress.refresh();
        progress
    }

    fn refresh(&self) {
        self.overall.set_message(overall_message(
            self.done,
            self.total,
            self.points,
            self.started.elapsed(),
        ));
    }

    /// A metric starts.
    pub fn start_metric(&self, name: &str) {
        self.current.set_prefix(name.to_string());
        self.current.set_position(0);
        self.current.set_length(0);
        self.current.set_message("");
    }

    /// A batch of the current metric is about to load (`interval` spaces its points).
    pub fn batch(&mut self, p: BatchProgress, interval: TimeDelta) {
        // The previous batch is done: count its points.
        if p.index > 1 {
            self.points += self.last_batch_points;
        }
        self.last_batch_points = slots(p, interval);
        self.current.set_length(p.total as u64);
        self.current.set_position(p.index as u64);
        self.current
            .set_message(format!("up to {}", p.to.format("%Y-%m-%d %H:%M")));
        let within = if p.total == 0 {
            0
        } else {
            (p.index.saturating_sub(1) as u64 * STEPS) / p.total as u64
        };
        self.overall.set_position(self.done as u64 * STEPS + within);
        self.refresh();
    }

    /// The current metric is done (loaded or failed).
    pub fn finish_metric(&mut self) {
        self.points += std::mem::take(&mut self.last_batch_points);
        self.done += 1;
        self.overall.set_position(self.done as u64 * STEPS);
        self.refresh();
    }

    /// Runs `f` (which prints) with the bars hidden, so lines and bars do not mix.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    /// Removes the bars.
    pub fn finish(self) {
        self.current.finish_and_clear();
        self.overall.finish_and_clear();
    }
}

fn slots(p: BatchProgress, interval: TimeDelta) -> u64 {
    let step = interval.num_seconds().max(1);
    ((p.to - p.from).num_seconds().max(0) / step) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_message_counts_metrics_and_points_per_second() {
        assert_eq!(
            overall_message(3, 40, 52_000, Duration::from_secs(4)),
            "3/40 metrics · 13k points/s"
        );
        assert_eq!(
            overall_message(0, 2, 1_500, Duration::from_secs(1)),
            "0/2 metrics · 1.5k points/s"
        );
        assert_eq!(
            overall_message(0, 2, 0, Duration::ZERO),
            "0/2 metrics · 0 points/s"
        );
    }
}
