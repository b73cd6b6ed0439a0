//! Where a run stands between two steps, saved beside each step checkpoint so a stopped or crashed run continues
//! exactly: `checkpoints/step-<8 digits>.state.json` (counters, the loader's position, running epoch sums, the best
//! evaluation) and `step-<8 digits>.optim.safetensors` (optimiser moments by parameter path).
//!
//! The loader needs no saved RNG: its batches are a pure function of (seed, epoch, batch index), so
//! `(epoch, next_batch)` is its whole state. The model has no dropout; the margin and the learning rates are
//! functions of the step and epoch. A resumed run therefore computes bit for bit what an uninterrupted one does.
//!
//! Retention ([`prune`]): the newest `keep` step checkpoints and the best one by EER stay; older ones go, with
//! their state and optimiser files.

use super::checkpoint::{checkpoint_steps, file_name};
use super::EngineError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FORMAT: &str = "adaptsv-train-state-1";

/// The counters of a run after a given step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub format: String,
    /// Optimiser steps taken.
    pub step: u64,
    /// The epoch in progress (0-based) and the index of its next batch.
    pub epoch: usize,
    pub next_batch: usize,
    /// Classifier classes (training speakers) the model was built for.
    pub speakers: usize,
    /// Sums over the epoch in progress, so its `epoch` event covers all its steps.
    pub epoch_loss_sum: f64,
    pub epoch_acc_sum: f64,
    pub epoch_steps: u64,
    pub epoch_seconds: f64,
    /// The best evaluation so far: (EER, step).
    pub best: Option<(f64, u64)>,
    /// Files of the training corpus reported as unusable so far.
    pub skipped_reported: Vec<String>,
}

impl TrainState {
    pub fn new(speakers: usize) -> Self {
        Self {
            format: FORMAT.into(),
            step: 0,
            epoch: 0,
            next_batch: 0,
            speakers,
            epoch_loss_sum: 0.0,
            epoch_acc_sum: 0.0,
            epoch_steps: 0,
            epoch_seconds: 0.0,
            best: None,
            skipped_reported: Vec::new(),
        }
    }

    /// Reads a state file; anything but a well-formed state of this format is an error naming the file.
    pub fn read(path: &Path) -> Result<Self, EngineError> {
        let err = |message: String| EngineError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let state: Self = serde_json::from_slice(&bytes).map_err(|e| err(format!("not a training state: {e}")))?;
        if state.format != FORMAT {
            return Err(err(format!("format {:?}, expected {FORMAT:?}", state.format)));
        }
        Ok(state)
    }

    pub fn write(&self, path: &Path) -> Result<(), EngineError> {
        let bytes = serde_json::to_vec_pretty(self).expect("plain data serialises");
        crate::runs::write_atomic(path, &bytes).map_err(|e| EngineError::Checkpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// The three files of the checkpoint of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFiles {
    pub model: PathBuf,
    pub optimizer: PathBuf,
    pub state: PathBuf,
}

impl StepFiles {
    pub fn new(checkpoints_dir: &Path, step: u64) -> Self {
        let model = checkpoints_dir.join(file_name(step));
        let stem = format!("step-{step:08}");
        Self {
            model,
            optimizer: checkpoints_dir.join(format!("{stem}.optim.safetensors")),
            state: checkpoints_dir.join(format!("{stem}.state.json")),
        }
    }

    /// Whether all three files are there (a crash between writing them leaves an incomplete set).
    pub fn complete(&self) -> bool {
        self.model.is_file() && self.optimizer.is_file() && self.state.is_file()
    }
}

/// The newest complete checkpoint (model, optimiser and state) in `dir`.
pub fn latest_complete(dir: &Path) -> Option<(u64, StepFiles)> {
    checkpoint_steps(dir)
        .into_iter()
        .rev()
        .map(|s| (s, StepFiles::new(dir, s)))
        .find(|(_, f)| f.complete())
}

/// The newest complete checkpoint whose three files read (state, model and optimiser, each parsed whole), for a
/// resume; with one line per newer checkpoint passed over and why (a file cut short or damaged on a shared
/// filesystem, a disk that filled), for the run's log. `None`: no readable checkpoint (start from the beginning).
pub fn latest_readable(dir: &Path) -> (Option<(TrainState, StepFiles)>, Vec<String>) {
    let mut passed_over = Vec::new();
    for step in checkpoint_steps(dir).into_iter().rev() {
        let files = StepFiles::new(dir, step);
        if !files.complete() {
            continue;
        }
        let read = TrainState::read(&files.state).and_then(|state| {
            super::checkpoint::Checkpoint::read(&files.model)?;
            super::optim::check_readable(&files.optimizer)?;
            Ok(state)
        });
        match read {
            Ok(state) => return (Some((state, files)), passed_over),
            Err(e) => passed_over.push(format!("the checkpoint of step {step} is unreadable ({e}); passed over")),
        }
    }
    (None, passed_over)
}

/// Deletes step checkpoints other than the newest `keep` and `best`. Returns the steps deleted.
pub fn prune(dir: &Path, keep: usize, best: Option<u64>) -> Result<Vec<u64>, EngineError> {
    let steps = checkpoint_steps(dir);
    let keep_from = steps.len().saturating_sub(keep.max(1));
    let mut deleted = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if i >= keep_from || Some(*step) == best {
            continue;
        }
        let f = StepFiles::new(dir, *step);
        for path in [&f.model, &f.optimizer, &f.state] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(EngineError::Checkpoint {
                        path: path.clone(),
                        message: format!("cannot delete an old checkpoint: {e}"),
                    })
                }
            }
        }
        deleted.push(*step);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest_and_the_best() {
        let tmp = tempfile::tempdir().unwrap();
        for step in [10, 20, 30, 40] {
            let f = StepFiles::new(tmp.path(), step);
            for p in [&f.model, &f.optimizer, &f.state] {
                std::fs::write(p, b"x").unwrap();
            }
        }
        assert_eq!(prune(tmp.path(), 2, Some(10)).unwrap(), vec![20]);
        assert_eq!(checkpoint_steps(tmp.path()), vec![10, 30, 40]);
        assert!(!StepFiles::new(tmp.path(), 20).state.exists());
        assert_eq!(latest_complete(tmp.path()).unwrap().0, 40);
        std::fs::remove_file(StepFiles::new(tmp.path(), 40).optimizer).unwrap();
        assert_eq!(
            latest_complete(tmp.path()).unwrap().0,
            30,
            "an incomplete set is passed over"
        );
    }

    #[test]
    fn an_unreadable_newest_checkpoint_is_passed_over_with_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        for step in [10, 20] {
            let f = StepFiles::new(tmp.path(), step);
            for p in [&f.model, &f.optimizer, &f.state] {
                std::fs::write(p, b"x").unwrap();
            }
        }
        let (found, passed) = latest_readable(tmp.path());
        assert!(found.is_none(), "no set of files here is a checkpoint");
        assert_eq!(passed.len(), 2);
        assert!(passed[0].contains("step 20") && passed[0].contains("step-00000020.state.json"), "{}", passed[0]);
    }
}
