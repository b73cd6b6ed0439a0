//! The engine: what turns an experiment config and a run folder into results, shared by the CLI and the GUI.
//!
//! | module       | job                                                                           |
//! |--------------|-------------------------------------------------------------------------------|
//! | `data_prep`  | where a run's training and evaluation audio lie (the synthetic corpus is written into the run folder) |
//! | `checkpoint` | save the trainable parameters of a model (small for adapters), load them back  |
//! | `embedder`   | a [`crate::model::SpeakerModel`] as an [`crate::eval::Embedder`]               |
//! | `evaluate`   | evaluate a run folder's latest checkpoint on a trial list, record the result   |
//!
//! The training loop (a background thread sending `RunEvent`s) joins these next.

pub mod checkpoint;
pub mod data_prep;
pub mod embedder;
pub mod evaluate;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Run(#[from] crate::runs::RunError),
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("run {dir} has no checkpoint in checkpoints/: only runs that trained (or were given a checkpoint) can be evaluated")]
    NoCheckpoint { dir: PathBuf },
    #[error("run {dir} cannot be used: {reason}")]
    BadRun { dir: PathBuf, reason: String },
}
