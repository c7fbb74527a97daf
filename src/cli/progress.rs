//! Progress bars for long runs and a clean stop on Ctrl-C.
//!
//! The first Ctrl-C asks the run to stop at the next step boundary (what was recorded is kept and
//! reported); a second one ends the process at once.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressStyle};

static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler (once per process).
pub fn install_interrupt_handler() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let result = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\nsomnet: interrupted; stopping at the next step (Ctrl-C again to quit now)"
            );
        });
        if let Err(e) = result {
            eprintln!("somnet: warning: cannot catch Ctrl-C: {e}");
        }
    });
}

/// The flag Ctrl-C raises, for library calls that take a stop flag.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// A step counter shown as a bar when stderr is a terminal, that also answers Ctrl-C.
pub struct StepProgress {
    bar: Option<ProgressBar>,
}

impl StepProgress {
    /// A bar for `total` steps labelled `label`.
    pub fn new(label: &str, total: u64) -> Self {
        install_interrupt_handler();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} steps ({eta})")
                    .expect("constant template is valid")
                    .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            bar
        });
        StepProgress { bar }
    }

    /// Called after each step: updates the bar now and then, and stops on Ctrl-C.
    pub fn tick(&self, done: u64) -> ControlFlow<()> {
        if let Some(bar) = &self.bar {
            if done.is_multiple_of(64) {
                bar.set_position(done);
            }
        }
        if interrupted() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
