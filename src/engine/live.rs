//! The run as its thread sees it: the folder it writes ([`RunWriter`]), the channels it talks through, the commands
//! it obeys between steps, and what it was started with. Everything else in the engine's run life uses this;
//! it uses none of them.

use super::train_state::{StepFiles, TrainState};
use super::EngineError;
use crate::config::ValidConfig;
use crate::runs::{EventRecord, LiveState, LogLevel, RunEvent, RunWriter};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::path::Path;

/// What the caller can ask of a live run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Hold before the next step (loader threads keep their prefetched batches).
    Pause,
    Resume,
    /// Finish the current step, save a checkpoint, end as `stopped`.
    Stop,
}

/// Test and diagnosis switches that are not part of an experiment.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Multiply the loss of this step (1-based) by NaN, as a diverging run would (fault injection).
    pub inject_nan_at_step: Option<u64>,
    /// Panic on a peer's thread at this step (1-based), as a bug would.
    pub panic_at_step: Option<u64>,
    /// The peer (index on this node) `panic_at_step` hits (default 0).
    pub fault_peer: usize,
    /// This process's node rank in a run over several nodes (`parallel.nodes`); `None`: from `SLURM_NODEID` /
    /// `SLURM_PROCID` when set, else 0.
    pub node_rank: Option<u32>,
}

/// Where a resumed run continues from: `None` inside means from the start.
pub(super) type ResumeFrom = Option<Option<(TrainState, StepFiles)>>;

/// The run as the run thread sees it: the folder it writes and the channels it talks through.
pub(super) struct Live {
    pub(super) writer: RunWriter,
    pub(super) events: Sender<EventRecord>,
    pub(super) commands: Receiver<Command>,
}

impl Live {
    /// Writes `event` to the run folder and sends it to the caller (who may have gone: that is fine).
    pub(super) fn emit(&mut self, event: RunEvent) -> Result<(), EngineError> {
        let rec = self.writer.emit(event)?;
        let _ = self.events.send(rec);
        Ok(())
    }

    pub(super) fn log(&mut self, level: LogLevel, message: impl Into<String>) -> Result<(), EngineError> {
        self.emit(RunEvent::Log {
            level,
            message: message.into(),
        })
    }

    /// Obeys pending commands; while paused, waits for Resume or Stop. `pausable` is false for a run over several
    /// nodes (the others would wait in the all-reduce): a pause is then declined with a log line.
    pub(super) fn poll_commands(&mut self, step: u64, pausable: bool) -> Result<Flow, EngineError> {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Stop) => return Ok(Flow::Stop),
                Ok(Command::Resume) => {}
                Ok(Command::Pause) if !pausable => {
                    self.log(
                        LogLevel::Warn,
                        "a run over several nodes cannot pause (the other nodes would wait in the all-reduce); stop \
                         it and resume it later instead",
                    )?;
                }
                Ok(Command::Pause) => {
                    self.emit(RunEvent::Status {
                        state: LiveState::Paused,
                        step,
                    })?;
                    loop {
                        match self.commands.recv() {
                            Ok(Command::Resume) => break,
                            Ok(Command::Stop) | Err(_) => return Ok(Flow::Stop),
                            Ok(Command::Pause) => {}
                        }
                    }
                    self.emit(RunEvent::Status {
                        state: LiveState::Running,
                        step,
                    })?;
                }
                Err(TryRecvError::Empty) => return Ok(Flow::Go),
                // The handle is gone (its owner dropped it): keep training; the run folder is the record.
                Err(TryRecvError::Disconnected) => return Ok(Flow::Go),
            }
        }
    }
}

/// Whether the loop goes on after the commands it was sent.
pub(super) enum Flow {
    Go,
    Stop,
}

/// What the run thread starts from.
pub(super) struct Start<'a> {
    pub(super) config: &'a ValidConfig,
    /// The first device as the probe described it.
    pub(super) description: &'a str,
    pub(super) resume: ResumeFrom,
    pub(super) options: &'a LaunchOptions,
}

/// `path` relative to the run folder `dir`, as events name files.
pub(super) fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).to_string_lossy().into_owned()
}
