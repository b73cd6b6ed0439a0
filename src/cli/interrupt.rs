//! Ctrl-C for long commands: the first press asks the run being followed to stop cleanly (finish the step,
//! checkpoint, end as `stopped`) and marks the command interrupted (a sweep then launches nothing more); a
//! second press kills the process as usual. One handler per process, installed on first use.

use crate::engine::RunHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

type Stopper = Box<dyn Fn() + Send>;

static CURRENT: Mutex<Option<Stopper>> = Mutex::new(None);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Routes Ctrl-C to `handle` from now on.
pub fn follow(handle: &RunHandle) {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\nstopping after the current step (Ctrl-C again to kill)…");
            if let Ok(current) = CURRENT.lock() {
                if let Some(stop) = current.as_ref() {
                    stop();
                }
            }
        });
    });
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some(Box::new(handle.stopper()));
    }
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
