//! A background thread that re-reads the run folders and sends the list to the GUI, so the window never
//! waits on the disk. It polls every couple of seconds (runs on a shared filesystem change under us too) and
//! on request; it ends by itself when the GUI drops its receiver.

use crate::runs::{LoadedRun, RunStore};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

const POLL: Duration = Duration::from_secs(2);

/// The GUI's end of the watcher.
pub struct RunWatcher {
    pub lists: Receiver<Result<Vec<LoadedRun>, String>>,
    refresh: Sender<()>,
}

impl RunWatcher {
    pub fn spawn(store: RunStore, repaint: impl Fn() + Send + 'static) -> Self {
        let (list_tx, lists) = bounded(1);
        let (refresh, refresh_rx) = bounded::<()>(1);
        std::thread::Builder::new()
            .name("run-watcher".into())
            .spawn(move || loop {
                let list = store.list().map_err(|e| e.to_string());
                if list_tx.send(list).is_err() {
                    return;
                }
                repaint();
                match refresh_rx.recv_timeout(POLL) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .expect("spawning a thread succeeds");
        Self { lists, refresh }
    }

    /// Asks for a re-read now (ignored if one is already pending).
    pub fn refresh(&self) {
        let _ = self.refresh.try_send(());
    }
}
