//! Long calls: the work runs without the GIL on a worker thread (on a rayon pool of the requested
//! size) while the calling thread wakes every 100 ms to run Python's signal handlers and the
//! progress callback. Ctrl-C asks the work to stop at its next chunk ([`Watch::tick`] answers
//! `Break`), and the call then raises `somnet.Interrupted` (a `KeyboardInterrupt`) carrying what
//! finished, as the CLI keeps it.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;

/// How often the calling thread looks at signals and progress: Ctrl-C is seen within this time
/// and takes effect when the running chunks finish.
const POLL: Duration = Duration::from_millis(100);

/// Shared between the work and the calling thread.
#[derive(Debug, Default)]
pub struct Watch {
    stop: AtomicBool,
    done: AtomicU64,
}

impl Watch {
    /// Records `n` more finished units (images, steps, grid points) and says whether to go on.
    pub fn tick(&self, n: u64) -> ControlFlow<()> {
        self.done.fetch_add(n, Ordering::Relaxed);
        self.check()
    }

    /// Records that `done` units have finished in all (for work that reports a running total).
    pub fn set_done(&self, done: u64) -> ControlFlow<()> {
        self.done.store(done, Ordering::Relaxed);
        self.check()
    }

    /// `Break` once the caller asked to stop.
    pub fn check(&self) -> ControlFlow<()> {
        if self.stop.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// The outcome of [`run`]: the work's result, and the exception that stopped it early (Ctrl-C
/// or a failing progress callback), if any.
pub struct Outcome<T> {
    /// What the work returned (partial when `stopped_by` is set).
    pub value: T,
    /// Why it stopped early.
    pub stopped_by: Option<PyErr>,
}

/// Runs `work` without the GIL on `threads` threads (0: one per core), calling
/// `progress(done, total)` as units finish and stopping it on Ctrl-C.
pub fn run<T, F>(
    py: Python<'_>,
    threads: usize,
    total: u64,
    progress: Option<Py<PyAny>>,
    work: F,
) -> PyResult<Outcome<T>>
where
    T: Send,
    F: FnOnce(&Watch) -> T + Send,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| crate::errors::value(format!("threads = {threads}: {e}")))?;
    let watch = Watch::default();
    let (value, stopped_by) = py.detach(|| {
        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::channel();
            let watch = &watch;
            let pool = &pool;
            let worker = scope.spawn(move || {
                let value = pool.install(|| work(watch));
                // The receiver outlives the worker (it waits for this message or the hang-up).
                let _ = sender.send(());
                value
            });
            let mut stopped_by: Option<PyErr> = None;
            let mut shown = u64::MAX;
            loop {
                let finished = !matches!(
                    receiver.recv_timeout(POLL),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                Python::attach(|py| {
                    if stopped_by.is_none() {
                        if let Err(e) = py.check_signals() {
                            watch.stop.store(true, Ordering::Relaxed);
                            stopped_by = Some(e);
                        }
                    }
                    let done = watch.done.load(Ordering::Relaxed);
                    if let (Some(p), true) = (&progress, done != shown) {
                        shown = done;
                        if let Err(e) = p.call1(py, (done, total)) {
                            watch.stop.store(true, Ordering::Relaxed);
                            stopped_by.get_or_insert(e);
                        }
                    }
                });
                if finished {
                    break;
                }
            }
            (worker.join(), stopped_by)
        })
    });
    match value {
        Ok(value) => Ok(Outcome { value, stopped_by }),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(crate::errors::raise(
                "SomnetError",
                format!("internal error in somnet (please report it): {what}"),
            ))
        }
    }
}
