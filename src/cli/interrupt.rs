//! Stop requests for long commands: Ctrl-C (SIGINT), SIGTERM (what Slurm sends at a time limit or on
//! preemption, `KillWait` seconds before SIGKILL; also `kill` and `scancel`) and SIGHUP (a closed terminal) ask
//! the run being followed to stop cleanly (finish the step, write a checkpoint, end as `stopped`) and mark the
//! command interrupted (a sweep then launches nothing more; the command exits with [`EXIT_STOPPED`]).
//!
//! A second request more than [`REPEAT_GRACE`] after the first kills the process as Ctrl-C usually does; one
//! within it is the same request arriving twice (a scheduler may signal a job's processes and its batch shell,
//! and a wrapper may forward). One handler per process, installed on first use.

use crate::engine::RunHandle;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

type Stopper = Box<dyn Fn() + Send>;

static CURRENT: Mutex<Option<Stopper>> = Mutex::new(None);
/// When the first stop request came (none yet: `None`).
static FIRST: Mutex<Option<Instant>> = Mutex::new(None);
static INSTALL: Once = Once::new();

/// Requests closer together than this are one request.
pub const REPEAT_GRACE: Duration = Duration::from_secs(3);

/// The exit status of a command whose run was stopped (by a signal or Ctrl-C) and can be resumed:
/// `EX_TEMPFAIL` of sysexits.h, "try again later". A Slurm batch script requeues the job on it.
pub const EXIT_STOPPED: i32 = 75;

/// Starts catching stop requests (idempotent). Call it first thing in a long command, so that a signal that
/// arrives while the run is still being set up (a scheduler's early warning can come at once) is not lost: it
/// is passed on when the run is followed.
pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(on_request);
    });
}

/// Routes stop requests to `handle` from now on; one already made stops it at once.
pub fn follow(handle: &RunHandle) {
    install();
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some(Box::new(handle.stopper()));
    }
    if interrupted() {
        handle.stop();
    }
}

fn on_request() {
    let now = Instant::now();
    let repeated = match FIRST.lock() {
        Ok(mut first) => match *first {
            Some(at) => Some(now.duration_since(at) > REPEAT_GRACE),
            None => {
                *first = Some(now);
                None
            }
        },
        Err(_) => Some(true),
    };
    match repeated {
        Some(true) => std::process::exit(130),
        Some(false) => return,
        None => {}
    }
    eprintln!("\nstopping after the current step and writing a checkpoint (Ctrl-C again, 3 s or more later, to kill)…");
    if let Ok(current) = CURRENT.lock() {
        if let Some(stop) = current.as_ref() {
            stop();
        }
    }
}

/// Whether a stop was requested.
pub fn interrupted() -> bool {
    FIRST.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_some()
}
