//! What a kind of training is to the run loop: a [`Job`] (the host half, on the run thread: data, the plan, how a
//! loader batch is shared out, what a step's figures mean) and its [`Replica`] (the model half, one per peer, on
//! the peer's thread: forward and backward of a shard, the optimiser step, saving, evaluating). Speaker training
//! (`speaker_job`) and pre-training (`pretrain_job`) are the two jobs; the loop (`run_loop`) and the peers
//! (`peers`) are the same for both.
//!
//! ```text
//! run thread: loader batch [B, N] ──Job::shards──▶ P shards [B/P, N] ──▶ peer i: Replica::micro (× accum)
//!                                                                         Replica::step: all-reduce, update
//!            Step event ◀──Job::report── PeerStep (sums, gradient norm; the same on every peer) ◀──┘
//! ```

use super::live::{relative, Live, ResumeFrom};
use crate::config::ValidConfig;
use super::train_state::{StepFiles, TrainState};
use super::EngineError;
use crate::data::{Batch, Corpus, LoaderConfig};
use crate::runs::RunEvent;
use burn::module::{AutodiffModule, ModuleMapper, Param};
use burn::tensor::Tensor;
use burn::optim::GradientsParams;
use super::all_reduce::reduce_and_read;
use super::optim::{clip_scale, GroupedOptimizer};
use super::readback::DeviceSums;
use burn::tensor::backend::AutodiffBackend;
use burn_collective::PeerId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The numbers of a run, known once its data is indexed.
pub(super) struct Plan {
    pub corpus: Arc<Corpus>,
    pub loader: LoaderConfig,
    /// Full batches per epoch.
    pub batches: usize,
    /// Micro-batches per optimiser step.
    pub accum: usize,
    pub total_steps: u64,
    pub epochs: usize,
}

/// What the loop asks of a step's end, the same for every peer.
#[derive(Debug, Clone)]
pub(super) struct StepOrder {
    /// The step this update makes (1-based).
    pub step: u64,
    /// Learning rate per [`super::optim::ParamGroup`].
    pub lrs: [f64; 4],
    /// `optim.grad_clip` (0: off).
    pub clip: f64,
    /// Read the layer weights (before this update) with the step's readback.
    pub layer_weights: bool,
    /// This node wants the run to stop after this step (carried in the all-reduce, so every node learns it).
    pub stop_vote: bool,
}

/// One optimiser step's figures as a peer read them back: after the all-reduce, the same on every peer.
#[derive(Debug, Clone, Default)]
pub(super) struct PeerStep {
    /// The job's per-step sums (over micro-batches; averaged over peers).
    pub sums: Vec<f64>,
    /// Global L2 norm of the averaged gradients (non-finite if any gradient is).
    pub grad_norm: f64,
    /// The layer weights when asked for.
    pub extra: Vec<f64>,
    /// Some node asked to stop after this step.
    pub stop_vote: bool,
    /// Seconds this peer waited in the all-reduce.
    pub wait_seconds: f64,
    /// Seconds this peer computed for the step (its micro-batches and update, the wait excluded).
    pub compute_seconds: f64,
}

/// An evaluation as the evaluating peer returns it.
pub(super) struct Evaluation {
    /// Progress events to emit first.
    pub progress: Vec<RunEvent>,
    /// EER on the run's own list (it picks the best checkpoint kept).
    pub eer: f64,
    /// The `eval` events: the run's own list, then each of `eval.lists`.
    pub events: Vec<RunEvent>,
}

/// A step's figures for its `step` event.
pub(super) struct StepFigures {
    pub loss: f64,
    pub accuracy: f64,
    /// The learning rate shown first.
    pub lr: f64,
    pub lrs: BTreeMap<String, f64>,
    pub margin: Option<f64>,
}

/// The model half of a job: one per peer, moved to the peer's thread.
pub(super) trait Replica: Send + 'static {
    /// The autodiff backend the replica trains on.
    type Backend: AutodiffBackend;
    /// One micro-batch's share for one peer (host data).
    type Shard: Send + 'static;
    /// The peer's device.
    fn device(&self) -> burn::tensor::Device<Self::Backend>;
    /// Forward and backward of one shard; gradients accumulated and figures summed on the device.
    fn micro(&mut self, shard: Self::Shard) -> Result<(), EngineError>;
    /// Ends the step: gradients and sums averaged over the peers when `peer` is set (Burn's collective
    /// all-reduce), one readback, then the update when everything is finite.
    fn step(&mut self, order: &StepOrder, peer: Option<PeerId>) -> Result<PeerStep, EngineError>;
    /// The aggregation's layer weights now (empty where the model has none).
    fn layer_weights(&mut self) -> Vec<f64> {
        Vec::new()
    }
    /// Writes the model and optimiser files of `files`; returns their bytes.
    fn save(&mut self, files: &StepFiles, step: u64) -> Result<(u64, u64), EngineError>;
    /// Evaluates the model as it is on the run's trial list (`None`: this job does not evaluate).
    fn evaluate(&mut self, _step: u64, _epoch: f64) -> Result<Option<Evaluation>, EngineError> {
        Ok(None)
    }
    /// A line for the log at the end of an epoch (e.g. the backbone cache's counts).
    fn epoch_note(&mut self, _epoch: usize) -> Option<String> {
        None
    }
    /// What the job leaves when the run finishes (pre-training: the backbone as an HF folder); log lines.
    fn finish(&mut self, _run_id: &str, _step: u64) -> Result<Vec<String>, EngineError> {
        Ok(Vec::new())
    }
}

/// The host half of a job, on the run thread.
pub(super) trait Job {
    type Replica: Replica;
    /// Writes or finds the data and fixes the plan (after the `started` event).
    fn prepare(&mut self, run: &mut Live) -> Result<Plan, EngineError>;
    /// One replica per peer of this node, fresh (drawn under the run's seed) or from the checkpoint, with the
    /// counters; emits `resumed`, `model` and the run's first log lines.
    fn build(
        &mut self,
        run: &mut Live,
        plan: &Plan,
        resume: ResumeFrom,
    ) -> Result<(Vec<Self::Replica>, TrainState), EngineError>;
    /// One loader batch as `peers` equal shards in peer order (all nodes' peers: the loop keeps this node's).
    fn shards(
        &mut self,
        batch: Batch,
        state: &TrainState,
        plan: &Plan,
        peers: usize,
    ) -> Result<Vec<<Self::Replica as Replica>::Shard>, EngineError>;
    /// The learning rates of the step after `step` steps.
    fn lrs(&self, step: u64) -> [f64; 4];
    /// The step's figures from what the peers read back over `micro` micro-batches.
    fn report(&self, read: &PeerStep, micro: usize, lrs: [f64; 4]) -> StepFigures;
    /// Why the run must stop at this step (a non-finite loss or gradient), as the run's message.
    fn non_finite(&self, read: &PeerStep, figures: &StepFigures, state: &TrainState, checkpoints: &Path)
        -> Option<String>;
    /// Whether the layer weights are due after `step` (read with the next step's readback).
    fn layer_weights_due(&self, step: u64) -> bool;
    /// Whether the model has layer weights to report at an epoch's end.
    fn has_layer_weights(&self) -> bool;
    /// Whether the run evaluates (every `eval.every_epochs` and at the end).
    fn evaluates(&self) -> bool;
    /// What the checkpoints hold, as the `checkpoint` event says it.
    fn checkpoint_contents(&self) -> &'static str;
}

/// A copy of `model` for another peer on `device`: the same values, parameter ids and trainable flags on fresh
/// autodiff leaves (a plain clone shares the leaves, and two peers' backward passes would then meet in one autodiff
/// graph).
pub(super) fn peer_copy<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M, device: &B::Device) -> M {
    model.clone().map(&mut FreshLeaves).fork(device)
}

struct FreshLeaves;

impl<B: AutodiffBackend> ModuleMapper<B> for FreshLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let trains = tensor.is_require_grad();
        Param::from_mapped_value(id, Tensor::from_inner(tensor.inner()).set_require_grad(trains), mapper)
    }
}

/// A job's first peer's model and optimiser at the start of a run, and where they came from.
pub(super) struct Built<B: AutodiffBackend, M> {
    pub model: M,
    pub optim: GroupedOptimizer<B>,
    pub state: TrainState,
    /// The optimiser file a resumed run was read from (the peers' copies read it too); `None` when fresh.
    pub optim_file: Option<PathBuf>,
}

/// Builds a job's model fresh (`fresh`: the model and its first state; every parameter drawn again) or, when
/// `resume` names a checkpoint, loads it (`load`) with its optimiser state, and says so with a `resumed` event.
/// Both happen under the init lock after seeding `device` with `config.seed`, so that no other run's draws
/// interleave (`seeded`).
pub(super) fn build_or_resume<B: AutodiffBackend, M: AutodiffModule<B>>(
    run: &mut Live,
    resume: ResumeFrom,
    config: &ValidConfig,
    plan: &Plan,
    device: &B::Device,
    load: impl FnOnce(&TrainState, &StepFiles) -> Result<M, EngineError>,
    fresh: impl FnOnce() -> Result<(M, TrainState), EngineError>,
) -> Result<Built<B, M>, EngineError> {
    let _init_guard = super::seeded::init_lock();
    B::seed(device, config.seed);
    match resume {
        Some(Some((state, files))) => {
            let model = load(&state, &files)?;
            let mut optim = GroupedOptimizer::<B>::new(&config.optim);
            optim.load(&model, &files.optimizer, device)?;
            run.emit(RunEvent::Resumed {
                step: state.step,
                epoch: state.epoch as f64 + state.next_batch as f64 / plan.batches as f64,
                checkpoint: relative(run.writer.dir(), &files.model),
            })?;
            Ok(Built { model, optim, state, optim_file: Some(files.optimizer) })
        }
        other => {
            if other.is_some() {
                run.emit(RunEvent::Resumed { step: 0, epoch: 0.0, checkpoint: String::new() })?;
            }
            let (model, state) = fresh()?;
            super::seeded::init_every_param(&model);
            Ok(Built { model, optim: GroupedOptimizer::<B>::new(&config.optim), state, optim_file: None })
        }
    }
}

/// The copies of `model` (and of its optimiser: fresh, or read from `optim_file` of a resumed run) for the peers on
/// `devices` after the first, which keeps the originals.
pub(super) fn peer_models<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    optim_file: Option<&Path>,
    devices: &[B::Device],
    config: &crate::config::OptimConfig,
) -> Result<Vec<(M, GroupedOptimizer<B>)>, EngineError> {
    devices
        .iter()
        .skip(1)
        .map(|device| {
            let copy = peer_copy(model, device);
            let mut optim = GroupedOptimizer::<B>::new(config);
            if let Some(file) = optim_file {
                optim.load(&copy, file, device)?;
            }
            Ok((copy, optim))
        })
        .collect()
}

/// A replica's end of step: gradients and figures averaged over the peers (when `peer` is set), the one readback,
/// then the update when everything read is finite. Returns the model (updated or not) and the step's figures.
pub(super) fn update<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: M,
    optim: &mut GroupedOptimizer<B>,
    grads: GradientsParams,
    sums: &mut DeviceSums<B::InnerBackend>,
    extra: Option<Tensor<B::InnerBackend, 1>>,
    order: &StepOrder,
    peer: Option<PeerId>,
) -> (M, Result<PeerStep, EngineError>) {
    let (grads, read, stop_vote, wait_seconds) = match reduce_and_read::<B, M>(&model, grads, sums, extra, peer, order.stop_vote) {
        Ok(r) => r,
        Err(e) => return (model, Err(e)),
    };
    let finite = read.grad_norm.is_finite() && read.sums.iter().all(|v| v.is_finite());
    let model = if finite { optim.step(model, grads, order.lrs, clip_scale(read.grad_norm, order.clip)) } else { model };
    let step = PeerStep {
        sums: read.sums,
        grad_norm: read.grad_norm,
        extra: read.extra,
        stop_vote,
        wait_seconds,
        compute_seconds: 0.0,
    };
    (model, Ok(step))
}
