//! The loop every job runs: epochs of loader batches shared out to the peers, one optimiser step per
//! `optim.grad_accum_steps` micro-batches, commands obeyed between steps, and the run's record kept — `step`,
//! `epoch`, `layer_weights` and `eval` events, checkpoints (model and optimiser from peer 0, counters and loader
//! position from here) with pruning and retention, throughput and the time left.
//!
//! ```text
//! for each epoch:  Loader::resume(epoch, next_batch)
//!   for each step: commands → accum × (batch → Job::shards → peers: micro) → peers: step → `step` event
//!   end of pass:   layer weights due → `epoch` → epoch notes → eval (when due) → checkpoint → prune
//! end:             eval and checkpoint of the last step if not yet made; Replica::finish (exports)
//! ```
//!
//! Only the run thread writes the run folder; on a run over several nodes only node 0 does (the others keep the
//! same loop, drawing the same batches, and take their shards).

use super::job::{Job, PeerStep, Plan, Replica, StepOrder};
use super::peers::{Peers, Topology};
use super::live::{relative, Flow, Live, Start};
use super::train_state::{prune, StepFiles, TrainState};
use super::EngineError;
use crate::config::ValidConfig;
use crate::data::Loader;
use crate::runs::{local_host, EndStatus, LogLevel, PeerLoad, RunEvent};
use std::path::PathBuf;
use std::time::Instant;

/// How the loop ended on its own terms.
pub(super) struct LoopEnd {
    pub(super) status: EndStatus,
    pub(super) message: String,
    pub(super) step: u64,
}

/// Runs `job` to its end: the `started` event, data, replicas on the peers, the epochs, the end.
pub(super) fn drive<J: Job>(run: &mut Live, mut job: J, start: Start<'_>) -> Result<LoopEnd, EngineError> {
    let config = start.config;
    let topology = Topology::of(config, start.options)?;
    if start.resume.is_none() {
        run.emit(RunEvent::Started {
            run_id: run.writer.id().to_string(),
            device: format!("{} — {}", topology.describe(), start.description),
            host: local_host(),
            pid: std::process::id(),
            total_params: None,
            trainable_params: None,
        })?;
    }
    let plan = job.prepare(run)?;
    let (replicas, state) = job.build(run, &plan, start.resume)?;
    if topology.peers() > 1 {
        run.log(LogLevel::Info, topology.summary(config))?;
    }
    let peers = Peers::start(replicas, &topology, run.writer.id())?;
    let mut lp = Loop {
        run,
        job,
        plan,
        peers,
        state,
        config,
        topology,
        checkpoints: PathBuf::new(),
        timer: Throughput::new(0),
        epoch_start: Instant::now(),
        weights_due: None,
        stop_voted: false,
        loads: Loads::default(),
    };
    lp.checkpoints = lp.run.writer.checkpoints_dir();
    lp.timer = Throughput::new(lp.plan.total_steps);
    let end = lp.epochs();
    match end {
        Ok(end) => {
            let end = match end.status {
                EndStatus::Finished => lp.finish(end)?,
                _ => end,
            };
            lp.peers.close();
            Ok(end)
        }
        Err(e) => {
            lp.peers.abort();
            Err(e)
        }
    }
}

/// The loop's state between steps.
struct Loop<'a, J: Job> {
    run: &'a mut Live,
    job: J,
    plan: Plan,
    peers: Peers<<J::Replica as Replica>::Shard>,
    state: TrainState,
    config: &'a ValidConfig,
    topology: Topology,
    checkpoints: PathBuf,
    timer: Throughput,
    epoch_start: Instant,
    /// The step whose layer weights are due, read with the next step's readback (`readback`).
    weights_due: Option<u64>,
    /// A stop was asked on this node of a run over several nodes: voted with the next step.
    stop_voted: bool,
    /// The peers' times since the last `peers` event.
    loads: Loads,
}

/// Steps between `peers` events (and one at each epoch's end).
const PEERS_EVERY: u64 = 10;

/// Per peer: seconds computing and waiting, and crops computed, summed over recent steps.
#[derive(Default)]
struct Loads {
    steps: u64,
    per_peer: Vec<(f64, f64, usize)>,
}

impl Loads {
    fn add(&mut self, reads: &[PeerStep], crops: usize) {
        self.per_peer.resize(reads.len(), (0.0, 0.0, 0));
        for (sum, read) in self.per_peer.iter_mut().zip(reads) {
            sum.0 += read.compute_seconds;
            sum.1 += read.wait_seconds;
            sum.2 += crops;
        }
        self.steps += 1;
    }

    /// The means per step, labelled, and a fresh start.
    fn take(&mut self, labels: &[String]) -> Vec<PeerLoad> {
        let steps = self.steps.max(1) as f64;
        let loads = if self.steps == 0 {
            Vec::new()
        } else {
            self.per_peer
                .iter()
                .zip(labels)
                .map(|(&(compute, wait, crops), device)| PeerLoad {
                    device: device.clone(),
                    compute_seconds: compute / steps,
                    wait_seconds: wait / steps,
                    crops_per_sec: crops as f64 / compute.max(1e-9),
                })
                .collect()
        };
        *self = Self::default();
        loads
    }
}

/// What one optimiser step came to.
enum StepEnd {
    /// The pass's batches are spent (nothing was stepped).
    PassOver,
    Stepped,
    /// The run ends here.
    End(LoopEnd),
}

impl<J: Job> Loop<'_, J> {
    fn epochs(&mut self) -> Result<LoopEnd, EngineError> {
        let mut last_eval_step = None;
        let mut last_checkpoint_step = None;
        let (total_steps, epochs, batches) = (self.plan.total_steps, self.plan.epochs, self.plan.batches);
        while self.state.step < total_steps && self.state.epoch < epochs {
            let mut loader = Loader::resume(
                self.plan.corpus.clone(),
                &self.plan.loader,
                self.state.epoch,
                self.state.next_batch,
            )?;
            while self.state.next_batch < batches {
                match self.step(&mut loader)? {
                    StepEnd::PassOver => break,
                    StepEnd::Stepped => {}
                    StepEnd::End(end) => return Ok(end),
                }
                if self.state.step >= total_steps {
                    break;
                }
            }
            drop(loader);
            // Weights due at the last step of this pass are read here, off the per-step path.
            let weights_flushed = self.flush_layer_weights()?;
            let finished_epoch = self.state.next_batch >= batches;
            let last =
                self.state.step >= total_steps || (finished_epoch && self.state.epoch + 1 >= epochs);
            if finished_epoch {
                self.end_epoch(weights_flushed)?;
            }
            let every = self.config.eval.every_epochs;
            let due = finished_epoch && every > 0 && self.state.epoch % every == 0;
            if self.job.evaluates() && (due || last) {
                self.evaluate()?;
                last_eval_step = Some(self.state.step);
            }
            if finished_epoch || last {
                self.checkpoint()?;
                last_checkpoint_step = Some(self.state.step);
            }
            if last {
                break;
            }
        }
        if self.job.evaluates() && last_eval_step != Some(self.state.step) && self.state.step > 0 {
            self.evaluate()?;
        }
        if last_checkpoint_step != Some(self.state.step) {
            self.checkpoint()?;
        }
        Ok(LoopEnd {
            status: EndStatus::Finished,
            message: format!("finished after {} steps", self.state.step),
            step: self.state.step,
        })
    }

    /// Commands, then one optimiser step over up to `accum` micro-batches.
    fn step(&mut self, loader: &mut Loader) -> Result<StepEnd, EngineError> {
        let several_nodes = self.topology.nodes > 1;
        if let Flow::Stop = self.run.poll_commands(self.state.step, !several_nodes)? {
            if several_nodes {
                // The other nodes are in this step's all-reduce: stop together, after it.
                self.stop_voted = true;
            } else {
                return self.stop().map(StepEnd::End);
            }
        }
        let batches = self.plan.batches;
        let mut micro = 0;
        while self.state.next_batch < batches {
            let Some(batch) = loader.next() else { break };
            let batch = batch?;
            report_skips(self.run, loader, &mut self.state)?;
            let shards = self.job.shards(batch, &self.state, &self.plan, self.topology.peers())?;
            self.peers.micro(self.topology.local_shards(shards))?;
            micro += 1;
            self.state.next_batch += 1;
            if micro >= self.plan.accum {
                break;
            }
        }
        if micro == 0 {
            return Ok(StepEnd::PassOver);
        }
        let lrs = self.job.lrs(self.state.step);
        let order = StepOrder {
            step: self.state.step + 1,
            lrs,
            clip: self.config.optim.grad_clip,
            layer_weights: self.weights_due.is_some(),
            stop_vote: self.stop_voted,
        };
        let reads = self.peers.step(&order)?;
        self.loads.add(&reads, micro * self.config.per_peer_batch());
        let read = reads.into_iter().next().unwrap_or_default();
        if let Some(step) = self.weights_due.take() {
            self.run.emit(RunEvent::LayerWeights {
                step,
                weights: read.extra.clone(),
            })?;
        }
        let figures = self.job.report(&read, micro, lrs);
        if let Some(message) = self.job.non_finite(&read, &figures, &self.state, &self.checkpoints) {
            return Ok(StepEnd::End(LoopEnd {
                status: EndStatus::Failed,
                message,
                step: order.step,
            }));
        }
        self.record_step(&read, micro, figures)?;
        if read.stop_vote {
            return self.stop().map(StepEnd::End);
        }
        Ok(StepEnd::Stepped)
    }

    /// Counts the step made and emits its `step` event.
    fn record_step(&mut self, read: &PeerStep, micro: usize, figures: super::job::StepFigures) -> Result<(), EngineError> {
        let state = &mut self.state;
        state.step += 1;
        state.epoch_loss_sum += figures.loss;
        state.epoch_acc_sum += figures.accuracy;
        state.epoch_steps += 1;
        let samples = (micro * self.config.optim.batch_size) as f64;
        let (rate, eta) = self.timer.tick(state.step, samples);
        let step = state.step;
        let epoch = state.epoch as f64 + state.next_batch as f64 / self.plan.batches as f64;
        self.run.emit(RunEvent::Step {
            step,
            epoch,
            loss: figures.loss,
            lr: figures.lr,
            accuracy: Some(figures.accuracy),
            margin: figures.margin,
            samples_per_sec: Some(rate),
            lrs: figures.lrs,
            grad_norm: Some(read.grad_norm),
            eta_seconds: eta,
        })?;
        if self.job.layer_weights_due(step) {
            self.weights_due = Some(step);
        }
        if self.topology.peers() > 1 && step % PEERS_EVERY == 0 {
            self.report_peers()?;
        }
        Ok(())
    }

    /// The `peers` event: how this node's peers spent the steps since the last one.
    fn report_peers(&mut self) -> Result<(), EngineError> {
        let peers = self.loads.take(self.peers.labels());
        if peers.is_empty() {
            return Ok(());
        }
        self.run.emit(RunEvent::Peers {
            step: self.state.step,
            peers,
        })
    }

    /// Stops on request: the layer weights due, a checkpoint of this step, `stopped`.
    fn stop(&mut self) -> Result<LoopEnd, EngineError> {
        self.flush_layer_weights()?;
        self.checkpoint()?;
        Ok(LoopEnd {
            status: EndStatus::Stopped,
            message: format!("stopped on request after step {}", self.state.step),
            step: self.state.step,
        })
    }

    /// Emits the layer weights due, read from peer 0 now; whether there were any.
    fn flush_layer_weights(&mut self) -> Result<bool, EngineError> {
        match self.weights_due.take() {
            Some(step) => {
                self.emit_layer_weights(step)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn emit_layer_weights(&mut self, step: u64) -> Result<(), EngineError> {
        if !self.job.has_layer_weights() {
            return Ok(());
        }
        let weights = self.peers.layer_weights()?;
        self.run.emit(RunEvent::LayerWeights { step, weights })
    }

    /// The `epoch` event, the epoch's layer weights and notes, and the counters of the next epoch.
    fn end_epoch(&mut self, weights_flushed: bool) -> Result<(), EngineError> {
        let state = &self.state;
        let seconds = state.epoch_seconds + self.epoch_start.elapsed().as_secs_f64();
        let n = state.epoch_steps.max(1) as f64;
        self.run.emit(RunEvent::Epoch {
            epoch: state.epoch as u64 + 1,
            step: state.step,
            loss: state.epoch_loss_sum / n,
            accuracy: Some(state.epoch_acc_sum / n),
            seconds,
            samples_per_sec: (state.epoch_steps as f64 * (self.plan.accum * self.config.optim.batch_size) as f64)
                / seconds.max(1e-9),
        })?;
        let every = self.config.eval.layer_weights_every_steps as u64;
        let step = self.state.step;
        if !weights_flushed && (every == 0 || step % every != 0) {
            self.emit_layer_weights(step)?;
        }
        if self.topology.peers() > 1 {
            self.report_peers()?;
        }
        if let Some(note) = self.peers.epoch_note(self.state.epoch)? {
            self.run.log(LogLevel::Info, note)?;
        }
        let state = &mut self.state;
        state.epoch += 1;
        state.next_batch = 0;
        state.epoch_loss_sum = 0.0;
        state.epoch_acc_sum = 0.0;
        state.epoch_steps = 0;
        state.epoch_seconds = 0.0;
        self.epoch_start = Instant::now();
        Ok(())
    }

    /// Evaluates the model of peer 0 (node 0) on the run's trial list (and `eval.lists`).
    fn evaluate(&mut self) -> Result<(), EngineError> {
        if !self.topology.writes() {
            return Ok(());
        }
        let Some(eval) = self.peers.evaluate(self.state.step, self.state.epoch as f64)? else {
            return Ok(());
        };
        for event in eval.progress {
            self.run.emit(event)?;
        }
        if self.state.best.is_none_or(|(best, _)| eval.eer < best) {
            self.state.best = Some((eval.eer, self.state.step));
        }
        for event in eval.events {
            self.run.emit(event)?;
        }
        Ok(())
    }

    /// Writes the model and optimiser (peer 0) and the counters of the current step, reports them, prunes.
    fn checkpoint(&mut self) -> Result<(), EngineError> {
        if !self.topology.writes() {
            return Ok(());
        }
        let files = StepFiles::new(&self.checkpoints, self.state.step);
        let (bytes, optim_bytes) = self.peers.save(&files, self.state.step)?;
        let mut saved = self.state.clone();
        if self.state.next_batch > 0 {
            saved.epoch_seconds += self.epoch_start.elapsed().as_secs_f64();
        }
        saved.write(&files.state)?;
        let dir = self.run.writer.dir().to_path_buf();
        self.run.emit(RunEvent::Checkpoint {
            step: self.state.step,
            path: relative(&dir, &files.model),
            bytes,
            contents: self.job.checkpoint_contents().into(),
        })?;
        self.run.log(
            LogLevel::Info,
            format!(
                "checkpoint at step {}: model {:.2} MB, optimiser state {:.2} MB",
                self.state.step,
                bytes as f64 / 1e6,
                optim_bytes as f64 / 1e6
            ),
        )?;
        let best = self.state.best.map(|(_, s)| s);
        let deleted = prune(&self.checkpoints, self.config.optim.keep_checkpoints, best)?;
        if !deleted.is_empty() {
            self.run
                .log(LogLevel::Info, format!("removed older checkpoints of steps {deleted:?}"))?;
        }
        Ok(())
    }

    /// What the job leaves at the end (node 0 only).
    fn finish(&mut self, end: LoopEnd) -> Result<LoopEnd, EngineError> {
        if self.topology.writes() {
            let id = self.run.writer.id().to_string();
            for line in self.peers.finish(&id, self.state.step)? {
                self.run.log(LogLevel::Info, line)?;
            }
        }
        Ok(end)
    }
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
