//! The training engine: [`Engine::launch`] turns a config into a run folder and a named background thread that
//! trains on the configured device; the returned [`RunHandle`] receives every event as it is written to
//! `metrics.jsonl` and sends commands (pause, resume, stop). [`Engine::resume`] continues a stopped or crashed
//! run from its newest complete checkpoint.
//!
//! ```text
//! Engine::launch(config) ──▶ RunWriter::create ──▶ thread "adaptsv-train-<run>"
//!      │                                              │ data (loader threads) → model → GroupedOptimizer
//!      ▼                                              │ per step: forward/backward, clip, step, `step` event
//!  RunHandle ◀── events (crossbeam) ──────────────────┤ per epoch: `epoch`, eval, checkpoint, prune
//!      └── commands: Pause / Resume / Stop ──────────▶┘ end: `ended` + summary.json
//! ```
//!
//! The loop is generic over the Burn autodiff backend: `cpu` is Flex, `wgpu:N` is Burn's wgpu backend (default
//! feature `wgpu`), `cuda:N` is CUDA when built with `--features cuda` (`crate::device::run_autodiff` picks it).
//! A device that cannot be had is an error at launch, before any folder is made. A panic on the training thread,
//! a non-finite loss or gradient, and any I/O error end the run as `failed` with the reason, never silently and
//! never taking the caller down. On a GPU a step reads the device once (`super::readback`).

use super::checkpoint::{contents, load_run_model, save_frozen, save_model, Checkpoint};
use super::data_prep::{prepare, PreparedData};
use super::evaluate::{evaluate_model, EvalTarget};
use super::optim::{clip_scale, GroupedOptimizer, ParamGroup};
use super::readback::{read_step, DeviceSums};
use super::schedule::LrSchedule;
use super::state_cache::StateCache;
use super::train_state::{latest_complete, latest_readable, prune, StepFiles, TrainState};
use super::EngineError;
use crate::config::{AggregationKind, ExperimentConfig};
use crate::data::{Corpus, Loader, LoaderConfig};
use crate::device::{probe, DeviceChoice};
use crate::model::{count_params, margin_at, SpeakerModel};
use crate::runs::{local_host, EndStatus, EventRecord, LiveState, LogLevel, RunEvent, RunWriter, Summary};
use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

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
    /// Panic on the training thread at this step (1-based), as a bug would.
    pub panic_at_step: Option<u64>,
}

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

    /// Whether the training thread has ended.
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
    /// Validates `config`, checks its device, creates the run folder and starts training on a background thread.
    pub fn launch(config: ExperimentConfig) -> Result<RunHandle, EngineError> {
        Self::launch_with(config, LaunchOptions::default())
    }

    /// As [`Engine::launch`], with diagnosis switches.
    pub fn launch_with(config: ExperimentConfig, options: LaunchOptions) -> Result<RunHandle, EngineError> {
        let problems = config.launch_problems();
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Err(EngineError::Config(text.join("; ")));
        }
        let device = check_device(&config.device)?;
        let writer = RunWriter::create(&config.output_dir, &config)?;
        Ok(spawn(writer, config, device, None, Vec::new(), options))
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
        let device = check_device(&config.device)?;
        let writer = RunWriter::reopen(dir)?;
        if run.events.is_empty() {
            // Prepared for a scheduler and never started: this is its launch.
            return Ok(spawn(writer, config, device, None, Vec::new(), options));
        }
        let (from, passed_over) = latest_readable(&writer.checkpoints_dir());
        Ok(spawn(writer, config, device, Some(from), passed_over, options))
    }
}

fn check_device(text: &str) -> Result<(DeviceChoice, String), EngineError> {
    let choice =
        DeviceChoice::parse(text).map_err(|reason| EngineError::Config(format!("device = {text:?}: {reason}")))?;
    let description = probe(choice)?;
    Ok((choice, description))
}

/// Where a resumed run continues from: `None` inside means from the start.
pub(super) type ResumeFrom = Option<Option<(TrainState, StepFiles)>>;

fn spawn(
    writer: RunWriter,
    config: ExperimentConfig,
    (choice, description): (DeviceChoice, String),
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
        run_to_end(&mut run, &config, choice, &description, resume, &options)
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

/// The run as the training thread sees it: the folder it writes and the channels it talks through.
pub(super) struct Live {
    pub(super) writer: RunWriter,
    events: Sender<EventRecord>,
    commands: Receiver<Command>,
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
}

/// How the loop ended on its own terms.
pub(super) struct LoopEnd {
    pub(super) status: EndStatus,
    pub(super) message: String,
    pub(super) step: u64,
}

fn run_to_end(
    run: &mut Live,
    config: &ExperimentConfig,
    choice: DeviceChoice,
    description: &str,
    resume: ResumeFrom,
    options: &LaunchOptions,
) -> Outcome {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(run, config, choice, description, resume, options)
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

fn dispatch(
    run: &mut Live,
    config: &ExperimentConfig,
    choice: DeviceChoice,
    description: &str,
    resume: ResumeFrom,
    options: &LaunchOptions,
) -> Result<LoopEnd, EngineError> {
    let job = TrainJob {
        run,
        config,
        description,
        resume,
        options,
    };
    crate::device::run_autodiff(choice, job)?
}

/// The training loop's arguments, run on the backend the config's device names.
struct TrainJob<'a> {
    run: &'a mut Live,
    config: &'a ExperimentConfig,
    description: &'a str,
    resume: ResumeFrom,
    options: &'a LaunchOptions,
}

impl crate::device::OnAutodiff for TrainJob<'_> {
    type Output = Result<LoopEnd, EngineError>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        train::<B>(self.run, self.config, device, self.description, self.resume, self.options)
    }
}

/// The training loop on backend `B`.
fn train<B: AutodiffBackend>(
    run: &mut Live,
    config: &ExperimentConfig,
    device: B::Device,
    description: &str,
    resume: ResumeFrom,
    options: &LaunchOptions,
) -> Result<LoopEnd, EngineError> {
    if let Some(pre) = &config.pretrain {
        return super::pretrain::pretrain::<B>(run, config, pre, device, description, resume);
    }
    let dir = run.writer.dir().to_path_buf();
    let checkpoints = run.writer.checkpoints_dir();
    if resume.is_none() {
        run.emit(RunEvent::Started {
            run_id: run.writer.id().to_string(),
            device: format!("{} — {description}", config.device),
            host: local_host(),
            pid: std::process::id(),
            total_params: None,
            trainable_params: None,
        })?;
    }

    // Data.
    let data = {
        let mut progress = |done: usize, total: usize| {
            let _ = run.emit(RunEvent::Progress {
                stage: "writing the synthetic corpus".into(),
                done: done as u64,
                total: Some(total as u64),
            });
        };
        prepare(config, &dir, Some(&mut progress))?
    };
    let corpus = Arc::new(Corpus::index(&data.train_root, config.data.layout, None)?);
    // Memory for the frozen backbone's states per crop (0: no cache); validation refuses it where the states
    // change, and it is off there in any case.
    let cache_mib = if config.adaptation.backbone_states_frozen() { config.optim.backbone_cache_mib } else { 0 };
    let loader_config = LoaderConfig {
        batch_size: config.optim.batch_size,
        crop_seconds: config.optim.segment_seconds as f32,
        workers: config.optim.loader_workers.max(1),
        prefetch: 2 * config.optim.loader_workers.max(1),
        seed: config.seed,
        augment: config.data.augment.clone(),
        fixed_crops: cache_mib > 0,
    };

    let batches = batches_per_epoch(&corpus, config);
    if batches == 0 {
        return Err(EngineError::Config(format!(
            "optim.batch_size = {} is more than the {} training utterances in {}",
            config.optim.batch_size,
            corpus.utterances.len(),
            data.train_root.display()
        )));
    }

    let accum = config.optim.grad_accum_steps.max(1);
    let steps_per_epoch = batches.div_ceil(accum) as u64;
    let mut total_steps = steps_per_epoch * config.optim.epochs as u64;
    if let Some(max) = config.optim.max_steps {
        total_steps = total_steps.min(max as u64);
    }

    // Model, optimiser, position: built under the init lock, so that no other run's draws interleave (`seeded`).
    let fresh = !matches!(resume, Some(Some(_)));
    let init_guard = super::seeded::init_lock();
    B::seed(&device, config.seed);
    let (mut model, mut optim, mut state) = match resume {
        Some(Some((state, files))) => {
            let model = load_run_model::<B>(
                config,
                &checkpoints,
                &Checkpoint::read(&files.model)?,
                state.speakers,
                &device,
            )?;
            let mut optim = GroupedOptimizer::<B>::new(&config.optim);
            optim.load(&model, &files.optimizer, &device)?;
            run.emit(RunEvent::Resumed {
                step: state.step,
                epoch: state.epoch as f64 + state.next_batch as f64 / batches as f64,
                checkpoint: relative(&dir, &files.model),
            })?;
            (model, optim, state)
        }
        other => {
            if other.is_some() {
                run.emit(RunEvent::Resumed {
                    step: 0,
                    epoch: 0.0,
                    checkpoint: String::new(),
                })?;
            }
            let model = SpeakerModel::<B>::from_config(config, corpus.speakers.len(), &device)?;
            super::seeded::init_every_param(&model);
            (
                model,
                GroupedOptimizer::<B>::new(&config.optim),
                TrainState::new(corpus.speakers.len()),
            )
        }
    };
    drop(init_guard);
    // Written after the lock is released: the weights are drawn, and other runs need not wait for the disk.
    if fresh {
        if let Some(bytes) = save_frozen(&model, config, &checkpoints)? {
            run.log(
                LogLevel::Info,
                format!(
                    "the preset's random frozen backbone is saved once in checkpoints/frozen.safetensors ({:.1} MB)",
                    bytes as f64 / 1e6
                ),
            )?;
        }
    }
    let counts = count_params(&model);
    let groups = group_counts(&model);
    let classifier = crate::model::count_params_by_group(&model, 1)
        .iter()
        .find(|(f, _)| f == "classifier")
        .map_or(0, |(_, c)| c.total as u64);
    let model_event = RunEvent::Model {
        total_params: counts.total as u64,
        trainable_params: counts.trainable as u64,
        groups: groups.iter().map(|(g, n)| (g.name().to_string(), *n)).collect(),
        speakers: corpus.speakers.len() as u64,
        total_steps,
        classifier_params: classifier,
    };
    let share = crate::runs::trainable_share(counts.trainable as u64, counts.total as u64, classifier).unwrap_or(0.0);
    run.emit(model_event)?;
    run.log(
        LogLevel::Info,
        format!(
            "{} training utterances of {} speakers; {} of {} parameters train ({:.2} % without the {}-parameter classifier)",
            corpus.utterances.len(),
            corpus.speakers.len(),
            counts.trainable,
            counts.total,
            share,
            classifier
        ),
    )?;

    let schedule = LrSchedule::new(&config.optim, total_steps);
    let trained_groups: Vec<ParamGroup> = groups.iter().filter(|(_, n)| *n > 0).map(|(g, _)| *g).collect();
    let ctx = StepContext {
        config,
        dir: &dir,
        checkpoints: &checkpoints,
        data: &data,
        device: &device,
    };

    // Hidden states of the frozen backbone per crop (optim.backbone_cache_mib; validation allows it only when
    // nothing inside the backbone trains).
    let mut cache = (cache_mib > 0 && !model.plan.transformer).then(|| StateCache::new(cache_mib));
    let mut timer = Throughput::new(total_steps);
    let mut last_eval_step = None;
    let mut last_checkpoint_step = None;
    let mut epoch_start = Instant::now();
    // The step whose layer weights are due, read with the next step's readback (`readback`).
    let mut weights_due: Option<u64> = None;
    while state.step < total_steps && state.epoch < config.optim.epochs {
        let mut loader = Loader::resume(corpus.clone(), &loader_config, state.epoch, state.next_batch)?;
        let mut accumulator = GradientsAccumulator::<SpeakerModel<B>>::new();
        // Loss and accuracy summed over the step's micro-batches, on the device (`readback`).
        let (mut micro, mut sums) = (0usize, DeviceSums::<B::InnerBackend>::default());
        while state.next_batch < batches {
            // Commands are obeyed between optimiser steps.
            if micro == 0 {
                match poll_commands(run, state.step)? {
                    Flow::Go => {}
                    Flow::Stop => {
                        if let Some(step) = weights_due.take() {
                            emit_layer_weights(run, &model, config, step)?;
                        }
                        checkpoint(run, &ctx, &model, &optim, &mut state, epoch_start)?;
                        return Ok(LoopEnd {
                            status: EndStatus::Stopped,
                            message: format!("stopped on request after step {}", state.step),
                            step: state.step,
                        });
                    }
                }
            }
            let Some(batch) = loader.next() else { break };
            let batch = batch?;
            report_skips(run, &loader, &mut state)?;
            let epoch_f = state.epoch as f64 + state.next_batch as f64 / batches as f64;
            model
                .classifier
                .set_margin(margin_at(epoch_f, config.loss.margin_warmup_epochs, config.loss.margin));
            let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
            let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [batch.batch_size]), &device);
            let out = match cache.as_mut() {
                Some(cache) => {
                    let states = cache.states(&model.backbone.valid(), &batch.samples, batch.batch_size, &device);
                    model.train_step_output_from_states(states.into_iter().map(Tensor::from_inner).collect(), y)
                }
                None => {
                    let x = Tensor::<B, 2>::from_data(
                        TensorData::new(batch.samples, [batch.batch_size, batch.crop_samples]),
                        &device,
                    );
                    model.train_step_output(x, y)
                }
            };
            let mut loss = out.loss;
            if options.panic_at_step == Some(state.step + 1) {
                panic!("fault injected at step {}", state.step + 1);
            }
            if options.inject_nan_at_step == Some(state.step + 1) {
                loss = loss.mul_scalar(f64::NAN);
            }
            sums.add(vec![loss.clone().detach().inner(), out.accuracy.inner()]);
            let scaled = if accum > 1 { loss.div_scalar(accum as f64) } else { loss };
            let grads = GradientsParams::from_grads(scaled.backward(), &model);
            accumulator.accumulate(&model, grads);
            micro += 1;
            state.next_batch += 1;
            let last_of_epoch = state.next_batch >= batches;
            if micro < accum && !last_of_epoch {
                continue;
            }

            // One optimiser step.
            let grads = accumulator.grads();
            // The step's one readback: sums, gradient norm, and the layer weights of the previous step when due
            // (the model before this update is the model after that one).
            let due = weights_due.take();
            let weights = due.and_then(|_| model.layer_weights_tensor()).map(|w| w.inner());
            let read = read_step::<B, _>(&model, &grads, &mut sums, weights);
            if let Some(step) = due {
                run.emit(RunEvent::LayerWeights { step, weights: read.extra.clone() })?;
            }
            let norm = read.grad_norm;
            let loss_mean = read.sums[0] / micro as f64;
            let acc_mean = read.sums[1] / micro as f64;
            let step_number = state.step + 1;
            if !loss_mean.is_finite() || !norm.is_finite() {
                let what = if !loss_mean.is_finite() {
                    "loss"
                } else {
                    "gradient norm"
                };
                let good = latest_complete(&checkpoints)
                    .map(|(s, f)| format!("the last good checkpoint is step {s} ({})", f.model.display()))
                    .unwrap_or_else(|| "no checkpoint was written before it".into());
                return Ok(LoopEnd {
                    status: EndStatus::Failed,
                    message: format!(
                        "non-finite {what} at step {step_number} (epoch {}, batch {}); {good}. Lower the learning \
                         rates (optim.lr_*), lengthen optim.warmup_steps or enable optim.grad_clip, then resume \
                         or relaunch",
                        state.epoch + 1,
                        state.next_batch
                    ),
                    step: step_number,
                });
            }
            let clip = config.optim.grad_clip;
            let scale = clip_scale(norm, clip);
            let factor = schedule.factor(state.step);
            let lrs = ParamGroup::ALL.map(|g| g.base_lr(&config.optim) * factor);
            model = optim.step(model, grads, lrs, scale);
            state.step = step_number;
            state.epoch_loss_sum += loss_mean;
            state.epoch_acc_sum += acc_mean;
            state.epoch_steps += 1;
            let samples = (micro * config.optim.batch_size) as f64;
            let (rate, eta) = timer.tick(state.step, samples);
            let lr_shown = trained_groups
                .iter()
                .find(|g| matches!(g, ParamGroup::Adapters))
                .or(trained_groups.first())
                .map_or(0.0, |g| lrs[*g as usize]);
            run.emit(RunEvent::Step {
                step: state.step,
                epoch: state.epoch as f64 + state.next_batch as f64 / batches as f64,
                loss: loss_mean,
                lr: lr_shown,
                accuracy: Some(acc_mean),
                margin: Some(model.classifier.margin),
                samples_per_sec: Some(rate),
                lrs: trained_groups
                    .iter()
                    .map(|g| (g.name().to_string(), lrs[*g as usize]))
                    .collect(),
                grad_norm: Some(norm),
                eta_seconds: eta,
            })?;
            let every = config.eval.layer_weights_every_steps as u64;
            if every > 0 && state.step % every == 0 && config.aggregation.kind == AggregationKind::WeightedSum {
                weights_due = Some(state.step);
            }
            micro = 0;
            if state.step >= total_steps {
                break;
            }
        }
        drop(loader);
        // Weights due at the last step of this pass are read here, off the per-step path.
        let weights_flushed = match weights_due.take() {
            Some(step) => {
                emit_layer_weights(run, &model, config, step)?;
                true
            }
            None => false,
        };

        // The epoch is over (or the step budget is spent).
        let finished_epoch = state.next_batch >= batches;
        let last = state.step >= total_steps || (finished_epoch && state.epoch + 1 >= config.optim.epochs);
        if finished_epoch {
            let seconds = state.epoch_seconds + epoch_start.elapsed().as_secs_f64();
            let n = state.epoch_steps.max(1) as f64;
            run.emit(RunEvent::Epoch {
                epoch: state.epoch as u64 + 1,
                step: state.step,
                loss: state.epoch_loss_sum / n,
                accuracy: Some(state.epoch_acc_sum / n),
                seconds,
                samples_per_sec: (state.epoch_steps as f64 * (accum * config.optim.batch_size) as f64)
                    / seconds.max(1e-9),
            })?;
            let every = config.eval.layer_weights_every_steps as u64;
            if !weights_flushed && (every == 0 || state.step % every != 0) {
                emit_layer_weights(run, &model, config, state.step)?;
            }
            if let Some(cache) = cache.as_mut() {
                let (hits, misses) = cache.take_counts();
                run.log(
                    LogLevel::Info,
                    format!(
                        "backbone cache: epoch {} took {hits} crops from memory and ran the backbone on {misses}; \
                         {} crops held ({:.1} of {} MiB)",
                        state.epoch + 1,
                        cache.len(),
                        cache.bytes() as f64 / (1 << 20) as f64,
                        config.optim.backbone_cache_mib
                    ),
                )?;
            }
            state.epoch += 1;
            state.next_batch = 0;
            state.epoch_loss_sum = 0.0;
            state.epoch_acc_sum = 0.0;
            state.epoch_steps = 0;
            state.epoch_seconds = 0.0;
            epoch_start = Instant::now();
        }
        let every = config.eval.every_epochs;
        let due = finished_epoch && every > 0 && state.epoch % every == 0;
        if due || last {
            evaluate(run, &ctx, &model, &mut state)?;
            last_eval_step = Some(state.step);
        }
        if finished_epoch || last {
            checkpoint(run, &ctx, &model, &optim, &mut state, epoch_start)?;
            last_checkpoint_step = Some(state.step);
        }
        if last {
            break;
        }
    }
    if last_eval_step != Some(state.step) && state.step > 0 {
        evaluate(run, &ctx, &model, &mut state)?;
    }
    if last_checkpoint_step != Some(state.step) {
        checkpoint(run, &ctx, &model, &optim, &mut state, epoch_start)?;
    }
    Ok(LoopEnd {
        status: EndStatus::Finished,
        message: format!("finished after {} steps", state.step),
        step: state.step,
    })
}

/// What the epoch loop needs besides the model.
struct StepContext<'a, B: AutodiffBackend> {
    config: &'a ExperimentConfig,
    dir: &'a Path,
    checkpoints: &'a Path,
    data: &'a PreparedData,
    device: &'a B::Device,
}

pub(super) enum Flow {
    Go,
    Stop,
}

/// Obeys pending commands; while paused, waits for Resume or Stop.
pub(super) fn poll_commands(run: &mut Live, step: u64) -> Result<Flow, EngineError> {
    loop {
        match run.commands.try_recv() {
            Ok(Command::Stop) => return Ok(Flow::Stop),
            Ok(Command::Resume) => {}
            Ok(Command::Pause) => {
                run.emit(RunEvent::Status {
                    state: LiveState::Paused,
                    step,
                })?;
                loop {
                    match run.commands.recv() {
                        Ok(Command::Resume) => break,
                        Ok(Command::Stop) | Err(_) => return Ok(Flow::Stop),
                        Ok(Command::Pause) => {}
                    }
                }
                run.emit(RunEvent::Status {
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

/// `path` relative to the run folder `dir`, as events name files.
pub(super) fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).to_string_lossy().into_owned()
}

/// Full batches per epoch.
fn batches_per_epoch(corpus: &Corpus, config: &ExperimentConfig) -> usize {
    corpus.utterances.len() / config.optim.batch_size.max(1)
}

/// Trainable parameters per learning-rate group.
fn group_counts<B: AutodiffBackend>(model: &SpeakerModel<B>) -> Vec<(ParamGroup, u64)> {
    let mut counts: BTreeMap<ParamGroup, u64> = ParamGroup::ALL.iter().map(|g| (*g, 0)).collect();
    for (name, count) in crate::model::count_params_by_group(model, 1) {
        *counts.entry(ParamGroup::of(&name)).or_default() += count.trainable as u64;
    }
    counts.into_iter().collect()
}

/// Reports files the loader skipped since the last report, each once, with its reason.
fn report_skips(run: &mut Live, loader: &Loader, state: &mut TrainState) -> Result<(), EngineError> {
    let new: Vec<(String, String)> = loader
        .report()
        .skipped
        .iter()
        .map(|(p, s)| (p.display().to_string(), s.message.clone()))
        .filter(|(p, _)| !state.skipped_reported.contains(p))
        .collect();
    for (path, reason) in new {
        run.log(LogLevel::Warn, format!("skipped training file {path}: {reason}"))?;
        run.emit(RunEvent::SkippedFile {
            path: path.clone(),
            reason,
        })?;
        state.skipped_reported.push(path);
    }
    Ok(())
}

fn emit_layer_weights<B: AutodiffBackend>(
    run: &mut Live,
    model: &SpeakerModel<B>,
    config: &ExperimentConfig,
    step: u64,
) -> Result<(), EngineError> {
    if config.aggregation.kind != AggregationKind::WeightedSum {
        return Ok(());
    }
    let weights = model.layer_weights().into_iter().map(f64::from).collect();
    run.emit(RunEvent::LayerWeights { step, weights })
}

/// Evaluates the model in memory on the run's trial list, on the training device.
fn evaluate<B: AutodiffBackend>(
    run: &mut Live,
    ctx: &StepContext<'_, B>,
    model: &SpeakerModel<B>,
    state: &mut TrainState,
) -> Result<(), EngineError> {
    let target = EvalTarget {
        dir: ctx.dir,
        data: ctx.data,
        trials: &ctx.data.trials,
        eval_root: &ctx.data.eval_root,
        cache: false,
    };
    let mut last_sent = Instant::now();
    let mut pending: Vec<RunEvent> = Vec::new();
    let (result, rel) = evaluate_model(
        model.valid(),
        ctx.device,
        ctx.config,
        &target,
        state.step,
        &mut |stage, done, total, _| {
            if done == total || last_sent.elapsed().as_secs_f64() > 1.0 {
                last_sent = Instant::now();
                pending.push(RunEvent::Progress {
                    stage: stage.to_string(),
                    done: done as u64,
                    total: Some(total as u64),
                });
            }
        },
    )?;
    for event in pending {
        run.emit(event)?;
    }
    let eer = result.metrics.eer.rate;
    if state.best.is_none_or(|(best, _)| eer < best) {
        state.best = Some((eer, state.step));
    }
    let trials_name = ctx
        .data
        .trials
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let epoch = state.epoch as f64;
    run.emit(result.to_event(state.step, epoch, &trials_name, Some(rel)))
}

/// Writes the model, optimiser and state files of the current step, reports them, and prunes old ones.
fn checkpoint<B: AutodiffBackend>(
    run: &mut Live,
    ctx: &StepContext<'_, B>,
    model: &SpeakerModel<B>,
    optim: &GroupedOptimizer<B>,
    state: &mut TrainState,
    epoch_start: Instant,
) -> Result<(), EngineError> {
    let files = StepFiles::new(ctx.checkpoints, state.step);
    let bytes = save_model(model, ctx.config, &files.model, state.step)?;
    let optim_bytes = optim.save(model, &files.optimizer)?;
    let mut saved = state.clone();
    saved.epoch_seconds += if state.next_batch > 0 {
        epoch_start.elapsed().as_secs_f64()
    } else {
        0.0
    };
    saved.write(&files.state)?;
    run.emit(RunEvent::Checkpoint {
        step: state.step,
        path: relative(ctx.dir, &files.model),
        bytes,
        contents: contents(ctx.config).into(),
    })?;
    run.log(
        LogLevel::Info,
        format!(
            "checkpoint at step {}: model {:.2} MB, optimiser state {:.2} MB",
            state.step,
            bytes as f64 / 1e6,
            optim_bytes as f64 / 1e6
        ),
    )?;
    let deleted = prune(
        ctx.checkpoints,
        ctx.config.optim.keep_checkpoints,
        state.best.map(|(_, s)| s),
    )?;
    if !deleted.is_empty() {
        run.log(
            LogLevel::Info,
            format!("removed older checkpoints of steps {deleted:?}"),
        )?;
    }
    Ok(())
}

/// Utterances per second over recent steps, and the time left.
pub(super) struct Throughput {
    last: Instant,
    rate: Option<f64>,
    total_steps: u64,
}

impl Throughput {
    pub(super) fn new(total_steps: u64) -> Self {
        Self {
            last: Instant::now(),
            rate: None,
            total_steps,
        }
    }

    /// After a step of `samples` crops: (crops per second, seconds left), smoothed over recent steps.
    pub(super) fn tick(&mut self, step: u64, samples: f64) -> (f64, Option<f64>) {
        let dt = self.last.elapsed().as_secs_f64().max(1e-9);
        self.last = Instant::now();
        let now = samples / dt;
        let rate = match self.rate {
            Some(r) => 0.8 * r + 0.2 * now,
            None => now,
        };
        self.rate = Some(rate);
        let seconds_per_step = samples / rate;
        let eta = (self.total_steps.saturating_sub(step)) as f64 * seconds_per_step;
        (rate, Some(eta))
    }
}
