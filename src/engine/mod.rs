//! The engine: what turns an experiment config and a run folder into results, shared by the CLI and the GUI.
//!
//! | module       | job                                                                           |
//! |--------------|-------------------------------------------------------------------------------|
//! | `data_prep`  | where a run's training and evaluation audio lie (the synthetic corpus is written into the run folder) |
//! | `checkpoint` | save the trainable parameters of a model (small for adapters), load them back  |
//! | `embedder`   | a [`crate::model::SpeakerModel`] as an [`crate::eval::Embedder`]               |
//! | `evaluate`   | a model (in memory, any backend) or a run folder's latest checkpoint on a trial list |
//! | `optim`      | one Burn optimiser per parameter group, state keyed by parameter path, global-norm clipping |
//! | `readback`   | the one readback of an optimiser step: summed loss/accuracy, gradient norm, layer weights when due |
//! | `seeded`     | a process-wide lock under which a run seeds the backend and builds its model  |
//! | `schedule`   | warm-up then cosine / exponential learning-rate decay, a pure function of the step |
//! | `train_state`| counters and loader position beside each checkpoint; retention of checkpoints  |
//! | `tensor_file`| named f32 tensors in a safetensors file with a `format` (checkpoints, optimiser states) |
//! | `train`      | `Engine::launch` / `Engine::resume`: the training loop on a background thread, `RunHandle` |

pub mod checkpoint;
pub mod data_prep;
pub mod embed_audio;
pub mod embedder;
pub mod evaluate;
pub mod kmeans;
pub mod optim;
mod pretrain;
pub mod readback;
pub mod schedule;
pub mod seeded;
pub mod state_cache;
pub mod tensor_file;
pub mod train;
pub mod train_state;

pub use train::{Command, Engine, LaunchOptions, Outcome, RunHandle};

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
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    #[error("config: {0}")]
    Config(String),
    #[error("run {dir} cannot be used: {reason}")]
    BadRun { dir: PathBuf, reason: String },
}

/// The config of the run folder `dir` as loaded, or an error saying why it is unreadable.
pub(crate) fn run_config(
    dir: &std::path::Path,
    run: &crate::runs::LoadedRun,
) -> Result<crate::config::ExperimentConfig, EngineError> {
    run.config.clone().ok_or_else(|| EngineError::BadRun {
        dir: dir.to_path_buf(),
        reason: format!(
            "its config.toml is unreadable ({})",
            run.damage.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")
        ),
    })
}
