//! CPU-heavy work (detection) off the async worker threads.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Points scored (times detectors) from which detection leaves the async worker thread.
/// Below it, the work takes microseconds and handing it over would cost more.
pub(crate) const OFF_THREAD_FROM: usize = 4096;

/// Runs `work`, whose size is about `cost` points, without blocking the runtime's other
/// tasks: on a multi-threaded runtime a big job runs under
/// [`tokio::task::block_in_place`] (this worker's other tasks move to another thread);
/// small jobs, and any job on a current-thread runtime, run inline.
pub(crate) fn off_async<R>(cost: usize, work: impl FnOnce() -> R) -> R {
    let multi_thread =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_thread && cost >= OFF_THREAD_FROM {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn big_work_leaves_the_only_worker_free_for_other_tasks() {
        // With one worker thread, a task spawned from inside the work can run while the
        // work waits for it only if the work left the worker (else this would hang
        // until the generous bound below and fail).
        let handle = Handle::current();
        let got = off_async(OFF_THREAD_FROM, || {
            let (tx, rx) = std::sync::mpsc::channel();
            handle.spawn(async move { tx.send(()).unwrap() });
            rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok()
        });
        assert!(
            got,
            "the spawned task never ran: the work blocked the only worker"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn current_thread_runtimes_run_inline() {
        assert_eq!(off_async(usize::MAX, || 7), 7);
    }
}
