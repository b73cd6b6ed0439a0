//! Native file dialogs off the UI thread: the dialog runs on its own thread and its answer arrives over a
//! channel, so the window keeps drawing while the user browses.

use crossbeam_channel::{bounded, Receiver};
use std::path::PathBuf;

/// What a dialog was opened for, carried back with its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPurpose {
    OpenConfig,
    SaveConfig,
    /// Save the Compare table as CSV.
    ExportCsv,
    /// Save a plot as PNG.
    ExportPng,
    /// An HF model folder for `model.checkpoint`.
    PickCheckpoint,
    /// A corpus folder for `data.corpus`.
    PickCorpus,
    /// A trial list for `data.trials`.
    PickTrials,
    /// A corpus folder for `data.eval_corpus`.
    PickEvalCorpus,
    /// A run folder, or a folder of runs, to watch.
    OpenRuns,
}

/// A dialog in flight.
pub struct PendingDialog {
    pub purpose: DialogPurpose,
    answer: Receiver<Option<PathBuf>>,
    opened: std::time::Instant,
}

/// What to tell the user when a dialog closes with no choice before a person could have answered it: on Linux
/// rfd talks to xdg-desktop-portal, and without one no dialog appears at all.
pub const NO_DIALOG_HINT: &str =
    "no file dialog appeared: on Linux file dialogs need xdg-desktop-portal running (the CLI takes paths directly)";

impl PendingDialog {
    pub fn open(purpose: DialogPurpose, start_dir: PathBuf) -> Self {
        let (tx, answer) = bounded(1);
        std::thread::spawn(move || {
            let dialog = rfd::FileDialog::new().set_directory(start_dir);
            let picked = match purpose {
                DialogPurpose::OpenConfig => dialog.add_filter("experiment config", &["toml"]).pick_file(),
                DialogPurpose::SaveConfig => dialog
                    .add_filter("experiment config", &["toml"])
                    .set_file_name("experiment.toml")
                    .save_file(),
                DialogPurpose::ExportCsv => dialog
                    .add_filter("CSV table", &["csv"])
                    .set_file_name("adaptsv-runs.csv")
                    .save_file(),
                DialogPurpose::ExportPng => dialog
                    .add_filter("PNG image", &["png"])
                    .set_file_name("adaptsv-plot.png")
                    .save_file(),
                DialogPurpose::PickTrials => dialog.add_filter("trial list", &["txt", "lst", "trials"]).pick_file(),
                DialogPurpose::PickCheckpoint
                | DialogPurpose::PickCorpus
                | DialogPurpose::PickEvalCorpus
                | DialogPurpose::OpenRuns => dialog.pick_folder(),
            };
            let _ = tx.send(picked);
        });
        Self {
            purpose,
            answer,
            opened: std::time::Instant::now(),
        }
    }

    /// Whether a "cancelled" answer came too fast to be a person's (the dialog most likely never showed).
    pub fn closed_unseen(&self) -> bool {
        self.opened.elapsed() < std::time::Duration::from_millis(700)
    }

    /// `Some(answer)` once the user has chosen (or cancelled: `Some(None)`).
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        self.answer.try_recv().ok()
    }
}
