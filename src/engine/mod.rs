//! The engine: what turns an experiment config and a run folder into results, shared by the CLI and the GUI.
//!
//! | module       | job                                                                           |
//! |--------------|-------------------------------------------------------------------------------|
//! | `data_prep`  | where a run's training and evaluation audio lie (the synthetic corpus is written into the run folder) |
//! | `checkpoint` | save the trainable parameters of a model (small for adapters), load them back  |
//! | `calibrate`  | a run's scores calibrated on a held-out list (`calibration.json`, calibrated score file) |
//! | `embedder`   | a [`crate::model::SpeakerModel`] as an [`crate::eval::Embedder`]               |
//! | `evaluate`   | a model (in memory, any backend) or a run folder's latest checkpoint on a trial list |
//! | `host_adamw` | Burn's AdamW arithmetic in one parallel pass per parameter on the CPU backend   |
//! | `optim`      | one Burn optimiser per parameter group, state keyed by parameter path, global-norm clipping |
//! | `readback`   | the one readback of an optimiser step: summed loss/accuracy, gradient norm, layer weights when due |
//! | `seeded`     | a process-wide lock under which a run seeds the backend and builds its model  |
//! | `schedule`   | warm-up then cosine / exponential learning-rate decay, a pure function of the step |
//! | `train_state`| counters and loader position beside each checkpoint; retention of checkpoints  |
//! | `tensor_file`| named f32 tensors in a safetensors file with a `format` (checkpoints, optimiser states) |
//!
//! A run's life, from the outside in (each uses only modules listed after it; no cycle):
//!
//! | module        | job                                                                           |
//! |---------------|-------------------------------------------------------------------------------|
//! | `run`         | `Engine::launch` / `Engine::resume`, `RunHandle`, the run thread and its panic guard, commands |
//! | `run_loop`    | epochs and steps for any job: commands, `step`/`epoch` events, evaluation, checkpoints, pruning |
//! | `peers`       | one thread per device (data-parallel peers), channels to the run thread, failures and timeouts |
//! | `all_reduce`  | a step's gradients and figures averaged over the peers in one collective all-reduce |
//! | `live`        | the run as its thread sees it: writer, event and command channels, `Start`, pause/stop |
//! | `job`         | what a job is: the host half (`Job`) and the model half on each peer (`Replica`) |
//! | `speaker_job` | speaker training: data, `SpeakerModel`, AAM-softmax, accumulation, state cache, evaluation |
//! | `pretrain_job`| HuBERT-style pre-training: k-means targets, span masks, the HF export at the end |

pub mod all_reduce;
pub mod calibrate;
pub mod checkpoint;
pub mod data_prep;
pub mod embed_audio;
pub mod embedder;
pub mod evaluate;
pub mod host_adamw;
mod job;
mod live;
pub mod kmeans;
pub mod optim;
pub mod peers;
mod pretrain_job;
pub mod readback;
mod run;
mod run_loop;
pub mod schedule;
pub mod seeded;
mod speaker_job;
pub mod state_cache;
pub mod tensor_file;
pub mod train_state;

pub use pretrain_job::span_mask;
pub use live::{Command, LaunchOptions};
pub use run::{Engine, Outcome, RunHandle};

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
    /// A peer of a data-parallel run failed or did not answer (the message names it), or one peer's own failure.
    #[error("{0}")]
    Peer(String),
}

/// The config of the run folder `dir` as loaded, or an error saying why it is unreadable.
pub(crate) fn run_config(
    dir: &std::path::Path,
    run: &crate::runs::LoadedRun,
) -> Result<crate::config::ValidConfig, EngineError> {
    let config = run.config.clone().ok_or_else(|| EngineError::BadRun {
        dir: dir.to_path_buf(),
        reason: format!(
            "its config.toml is unreadable ({})",
            run.damage.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")
        ),
    })?;
    config.into_valid().map_err(|problems| EngineError::BadRun {
        dir: dir.to_path_buf(),
        reason: format!(
            "its config.toml has {} problem(s): {}",
            problems.len(),
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
        ),
    })
}
