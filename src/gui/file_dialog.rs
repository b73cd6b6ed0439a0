//! Native file dialogs off the UI thread: the dialog runs on its own thread and its answer arrives over a
//! channel, so the window keeps drawing while the user browses.

use crossbeam_channel::{bounded, Receiver};
use std::path::PathBuf;

/// What a dialog was opened for, carried back with its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPurpose {
    OpenConfig,
    SaveConfig,
}

/// A dialog in flight.
pub struct PendingDialog {
    pub purpose: DialogPurpose,
    answer: Receiver<Option<PathBuf>>,
}

impl PendingDialog {
    pub fn open(purpose: DialogPurpose, start_dir: PathBuf) -> Self {
        let (tx, answer) = bounded(1);
        std::thread::spawn(move || {
            let dialog = rfd::FileDialog::new()
                .add_filter("experiment config", &["toml"])
                .set_directory(start_dir);
            let picked = match purpose {
                DialogPurpose::OpenConfig => dialog.pick_file(),
                DialogPurpose::SaveConfig => dialog.set_file_name("experiment.toml").save_file(),
            };
            let _ = tx.send(picked);
        });
        Self { purpose, answer }
    }

    /// `Some(answer)` once the user has chosen (or cancelled: `Some(None)`).
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        self.answer.try_recv().ok()
    }
}
