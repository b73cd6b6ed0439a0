//! A run's life: [`Engine::launch`] turns a config into a run folder and a named background thread; the returned
//! [`RunHandle`] receives every event as it is written to `metrics.jsonl` and sends commands (pause, resume, stop).
//! [`Engine::resume`] continues a stopped or crashed run from its newest readable checkpoint.
//!
//! ```text
//! Engine::launch(config) ──▶ RunWriter::create ──▶ thread "adaptsv-train-<run>" (the run thread)
//!      │                                              │ the job (speaker training or pre-training) is chosen,
//!      ▼                                              │ its peers started (`peers`), the loop driven (`run_loop`)
//!  RunHandle ◀── events (crossbeam) ──────────────────┤ events and checkpoints: this thread only
//!      └── commands: Pause / Resume / Stop ──────────▶┘ end: `ended` + summary.json
//! ```
//!
//! The devices are resolved here (`cpu`, `wgpu:N`, `cuda:N`; several with `[parallel]`), so a device that cannot be
//! had is an error at launch, before any folder is made. A panic on the run thread or a peer, a non-finite loss or
//! gradient, a peer that dies or does not answer, and any I/O error end the run as `failed` with the reason, never
//! silently and never taking the caller down.

use super::live::{Command, LaunchOptions, Live, ResumeFrom, Start};
use super::run_loop::{drive, LoopEnd};
use super::train_state::latest_readable;
use super::EngineError;
use crate::config::{ExperimentConfig, ValidConfig};
use crate::device::{probe, DeviceChoice};
use crate::runs::{EndStatus, EventRecord, LogLevel, RunEvent, RunWriter, Summary};
use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// How a run ended, as its thread returns it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: EndStatus,
    pub message: String,
    pub step: u64,
    /// The summary written at the end (absent when even that failed).
    pub summary: Option<Summary>,
}

/// A live run: its folder, its events and its commands.
pub struct RunHandle {
    pub id: String,
    pub dir: PathBuf,
    /// Line number in `metrics.jsonl` of the first event on [`RunHandle::events`] (non-zero for a resumed run).
    pub first_line: usize,
    /// The device as configured (`cpu`, `cuda:0`): the queue it belongs to.
    pub device: String,
    events: Receiver<EventRecord>,
    commands: Sender<Command>,
    thread: Option<JoinHandle<Outcome>>,
}

impl RunHandle {
    /// Every event of the run, in order, as written to `metrics.jsonl`.
    pub fn events(&self) -> &Receiver<EventRecord> {
        &self.events
    }

    pub fn pause(&self) {
        let _ = self.commands.send(Command::Pause);
    }

    pub fn resume(&self) {
        let _ = self.commands.send(Command::Resume);
    }

    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }

    /// A function that asks the run to stop, for other threads (e.g. a Ctrl-C handler).
    pub fn stopper(&self) -> impl Fn() + Send + 'static {
        let commands = self.commands.clone();
        move || {
            let _ = commands.send(Command::Stop);
        }
    }

    /// Whether the run thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the run to end.
    pub fn join(mut self) -> Outcome {
        let thread = self.thread.take().expect("joined once");
        thread.join().unwrap_or_else(|_| Outcome {
            status: EndStatus::Failed,
            message: "the training thread died while reporting its end".into(),
            step: 0,
            summary: None,
        })
    }
}

/// Starts runs.
pub struct Engine;

impl Engine {
    /// Validates `config`, checks its devices, creates the run folder and starts training on a background thread.
    pub fn launch(config: ExperimentConfig) -> Result<RunHandle, EngineError> {
        Self::launch_with(config, LaunchOptions::default())
    }

    /// As [`Engine::launch`], with diagnosis switches.
    pub fn launch_with(config: ExperimentConfig, options: LaunchOptions) -> Result<RunHandle, EngineError> {
        let config = config.into_valid().map_err(|problems| {
            EngineError::Config(problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))
        })?;
        if config.parallel.as_ref().is_some_and(|p| p.nodes > 1) {
            return Err(EngineError::Config(
                "parallel.nodes > 1: a run over several nodes starts from a prepared run folder on every node \
                 (`adaptsv train --resume DIR --node-rank R`, which the Slurm launcher does with srun)"
                    .into(),
            ));
        }
        let devices = check_devices(&config)?;
        let writer = RunWriter::create(&config.output_dir, &config)?;
        Ok(spawn(writer, config, devices, None, Vec::new(), options))
    }

    /// Continues the stopped, failed or crashed run in `dir` from its newest readable checkpoint (or from the
    /// start if it has none; checkpoints passed over are named in the run's log), to the end its config sets. A
    /// folder prepared for a scheduler and never started (`queued`) starts here as a launched run does.
    pub fn resume(dir: &Path) -> Result<RunHandle, EngineError> {
        Self::resume_with(dir, LaunchOptions::default())
    }

    pub fn resume_with(dir: &Path, options: LaunchOptions) -> Result<RunHandle, EngineError> {
        let run = crate::runs::load_dir(dir);
        let config = super::run_config(dir, &run)?;
        if run.status == crate::runs::RunStatus::Finished {
            return Err(EngineError::BadRun {
                dir: dir.to_path_buf(),
                reason: "it has finished; launch a new run to train more".into(),
            });
        }
        let devices = check_devices(&config)?;
        let rank = super::peers::node_rank(&config, options.node_rank)?;
        let writer = if rank == 0 { RunWriter::reopen(dir)? } else { RunWriter::observe(dir, rank)? };
        if run.events.is_empty() {
            // Prepared for a scheduler and never started: this is its launch.
            return Ok(spawn(writer, config, devices, None, Vec::new(), options));
        }
        let (from, passed_over) = latest_readable(&writer.checkpoints_dir());
        Ok(spawn(writer, config, devices, Some(from), passed_over, options))
    }
}

/// The devices of this node's peers, each probed: (choices, description of the first).
fn check_devices(config: &ValidConfig) -> Result<(Vec<DeviceChoice>, String), EngineError> {
    let mut choices = Vec::new();
    let mut description = String::new();
    for text in config.peer_devices() {
        let choice = DeviceChoice::parse(&text)
            .map_err(|reason| EngineError::Config(format!("device = {text:?}: {reason}")))?;
        if !choices.contains(&choice) {
            let d = probe(choice)?;
            if description.is_empty() {
                description = d;
            }
        }
        choices.push(choice);
    }
    Ok((choices, description))
}

fn spawn(
    writer: RunWriter,
    config: ValidConfig,
    (choices, description): (Vec<DeviceChoice>, String),
    resume: ResumeFrom,
    notes: Vec<String>,
    options: LaunchOptions,
) -> RunHandle {
    let (event_tx, event_rx) = unbounded();
    let (command_tx, command_rx) = unbounded();
    let id = writer.id().to_string();
    let dir = writer.dir().to_path_buf();
    let first_line = writer.first_line();
    let device = config.device.clone();
    let name = format!("adaptsv-train-{id}");
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        let mut run = Live {
            writer,
            events: event_tx,
            commands: command_rx,
        };
        for note in notes {
            let _ = run.log(LogLevel::Warn, note);
        }
        let start = Start {
            config: &config,
            description: &description,
            resume,
            options: &options,
        };
        run_to_end(&mut run, &choices, start)
    });
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            // No thread: report through a thread-less outcome. The folder stays, as a crashed run.
            let (tx, rx) = unbounded();
            let _ = tx.send(EventRecord {
                t: 0.0,
                utc: crate::runs::Utc::now().rfc3339(),
                event: RunEvent::Log {
                    level: LogLevel::Error,
                    message: format!("cannot start the training thread: {e}"),
                },
            });
            return RunHandle {
                id,
                dir,
                first_line,
                device,
                events: rx,
                commands: command_tx,
                thread: None,
            };
        }
    };
    RunHandle {
        id,
        dir,
        first_line,
        device,
        events: event_rx,
        commands: command_tx,
        thread,
    }
}

/// The panic guard around the run: whatever happens, the run ends with an `ended` event and a summary.
fn run_to_end(run: &mut Live, choices: &[DeviceChoice], start: Start<'_>) -> Outcome {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::device::run_autodiff_peers(choices, ChooseJob { run: &mut *run, start })?
    }));
    let end = match result {
        Ok(Ok(end)) => end,
        Ok(Err(e)) => LoopEnd {
            status: EndStatus::Failed,
            message: e.to_string(),
            step: run.writer.summary(crate::runs::RunStatus::Running).steps,
        },
        Err(payload) => {
            let what = crate::device::panic_message(payload.as_ref()).unwrap_or_else(|| "no message".into());
            LoopEnd {
                status: EndStatus::Failed,
                message: format!("the training thread panicked: {what}"),
                step: run.writer.summary(crate::runs::RunStatus::Running).steps,
            }
        }
    };
    if end.status == EndStatus::Failed {
        let _ = run.log(LogLevel::Error, end.message.clone());
    }
    let summary = finish(run, end.status, &end.message, end.step);
    Outcome {
        status: end.status,
        message: end.message,
        step: end.step,
        summary,
    }
}

/// Writes the `ended` event and `summary.json`, and sends the event.
fn finish(run: &mut Live, status: EndStatus, message: &str, step: u64) -> Option<Summary> {
    match run.writer.finish(status, message, Some(step)) {
        Ok((rec, summary)) => {
            let _ = run.events.send(rec);
            Some(summary)
        }
        Err(e) => {
            let _ = run.events.send(EventRecord {
                t: 0.0,
                utc: crate::runs::Utc::now().rfc3339(),
                event: RunEvent::Ended {
                    status: EndStatus::Failed,
                    message: format!("{message}; and the end could not be recorded: {e}"),
                    step: Some(step),
                },
            });
            None
        }
    }
}

/// Picks the job the config asks for (pre-training with `[pretrain]`, else speaker training) on the backend of
/// the peers' devices, and drives it.
struct ChooseJob<'a> {
    run: &'a mut Live,
    start: Start<'a>,
}

impl crate::device::OnAutodiffPeers for ChooseJob<'_> {
    type Output = Result<LoopEnd, EngineError>;
    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>) -> Self::Output {
        let ChooseJob { run, start } = self;
        if let Some(pre) = &start.config.pretrain {
            let job = super::pretrain_job::PretrainJob::<B>::new(pre, &start, devices);
            drive(run, job, start)
        } else {
            let job = super::speaker_job::SpeakerJob::<B>::new(&start, devices);
            drive(run, job, start)
        }
    }
}
