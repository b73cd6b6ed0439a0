//! The run folder: one per launched run, the only thing GUI and CLI share about a run.
//!
//! ```text
//! experiments/runs/<UTC timestamp>-<name>/
//!   config.toml      the exact ExperimentConfig used (reloads and reproduces the run)
//!   metrics.jsonl    one EventRecord per line, appended and flushed as it happens
//!   summary.json     final figures (written atomically at the end)
//!   log.txt          human-readable log
//!   run.lock         held by the live process; free lock + no end event = crashed
//!   checkpoints/     model/adapters checkpoints (written atomically)
//!   scores/          score files `enroll test score label`
//!   job.sbatch       (submitted to Slurm) the batch script, and `slurm.json` its job id: `crate::slurm`
//!   notes.jsonl      tags and a free-text note, an append-only log of edits (`notes`)
//! ```
//! A run trained on a server and copied back opens exactly like a local one. `group` groups runs that differ only
//! in chosen config keys (seeds) with n, mean ± std of their figures, for Compare and `adaptsv compare`.

mod clock;
mod events;
mod filter;
mod fsutil;
pub mod group;
pub mod notes;
mod store;
mod summary;
mod tail;
mod writer;

pub use clock::{parse_rfc3339, Utc};
pub use events::{EndStatus, EventRecord, LiveState, LogLevel, PeerLoad, RunEvent};
pub use filter::RunFilter;
pub use fsutil::write_atomic;
pub use notes::{NoteEdit, Notes, NOTES_FILE};
pub use store::{decide_status, load_config, load_dir, read_events, read_summary_file, Damage, LoadedRun, RunStore, StatusFacts};
pub use summary::{trainable_share, ListEval, RunStatus, Summary};
pub use tail::{MetricsTail, TailChunk};
pub use writer::{append_event, RunWriter};

use std::path::PathBuf;

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";
/// Events and logs of the nodes other than 0 of a run over several nodes (`node-<rank>.jsonl`, `.log`).
pub const NODES_DIR: &str = "nodes";
pub const LOG_FILE: &str = "log.txt";
pub const LOCK_FILE: &str = "run.lock";
pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const SCORES_DIR: &str = "scores";
/// The Slurm job a run was submitted as (`crate::slurm::JobRecord`); with no event yet, the run is `queued`.
pub const JOB_FILE: &str = "slurm.json";
/// Embedding caches of a run (`<run>/embeddings/`; see `engine::embedder::ModelEmbedder::cache_file`).
pub const EMBEDDINGS_DIR: &str = "embeddings";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no run folder named {id:?} under {root}")]
    NoSuchRun { id: String, root: PathBuf },
    #[error("run {0} is still running: stop it before deleting it")]
    StillRunning(String),
}

/// Whether `dir` is a run folder (rather than a folder of runs).
pub fn is_run_dir(dir: &std::path::Path) -> bool {
    dir.join(CONFIG_FILE).is_file() || dir.join(METRICS_FILE).is_file()
}

/// This machine's host name, recorded in `started` events to tell local runs from runs on a server.
pub fn local_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
