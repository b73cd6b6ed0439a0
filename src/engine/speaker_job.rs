//! Speaker training as a job of the run loop: the data of the run's config (the synthetic corpus is written into
//! the run folder), the [`SpeakerModel`] built or resumed on every peer, AAM-softmax over a shard of each batch
//! with the margin warm-up, gradient accumulation, the frozen backbone's state cache, and evaluation on the run's
//! trial list.
//!
//! ```text
//! batch [B, N] + labels [B] ──shards──▶ peer i: [B/P, N] → SpeakerModel::train_step_output → loss, accuracy
//!                                        backward → accumulate (× accum) → all-reduce → clip → GroupedOptimizer
//! ```

use super::checkpoint::{contents, load_run_model, save_frozen, save_model, Checkpoint};
use super::data_prep::{prepare, wait_for_data, PreparedData};
use super::evaluate::{evaluate_model, EvalTarget};
use super::job::{build_or_resume, peer_models, Built, update, Evaluation, Job, PeerStep, Plan, Replica, StepFigures, StepOrder};
use super::optim::{GroupedOptimizer, ParamGroup};
use super::peers::peer_timeout;
use super::readback::DeviceSums;
use super::live::{Live, ResumeFrom, Start};
use super::schedule::LrSchedule;
use super::state_cache::StateCache;
use super::train_state::{latest_complete, StepFiles, TrainState};
use super::live::LaunchOptions;
use super::EngineError;
use crate::config::{AggregationKind, ValidConfig};
use crate::data::{Batch, Corpus, LoaderConfig};
use crate::model::{count_params, margin_at, SpeakerModel};
use crate::runs::{LogLevel, RunEvent};
use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_collective::PeerId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The host half of speaker training.
pub(super) struct SpeakerJob<B: AutodiffBackend> {
    config: Arc<ValidConfig>,
    options: LaunchOptions,
    devices: Vec<B::Device>,
    data: Option<PreparedData>,
    /// Memory for the frozen backbone's states per crop (0: no cache).
    cache_mib: usize,
    schedule: Option<LrSchedule>,
    trained_groups: Vec<ParamGroup>,
    /// The margin of the latest micro-batch.
    margin: f64,
}

impl<B: AutodiffBackend> SpeakerJob<B> {
    pub(super) fn new(start: &Start<'_>, devices: Vec<B::Device>) -> Self {
        Self {
            config: Arc::new(start.config.clone()),
            options: start.options.clone(),
            devices,
            data: None,
            cache_mib: 0,
            schedule: None,
            trained_groups: Vec::new(),
            margin: 0.0,
        }
    }
}

impl<B: AutodiffBackend> Job for SpeakerJob<B> {
    type Replica = SpeakerReplica<B>;

    fn prepare(&mut self, run: &mut Live) -> Result<Plan, EngineError> {
        let config = self.config.clone();
        let dir = run.writer.dir().to_path_buf();
        let node = run.writer.node();
        let data = {
            let mut progress = |done: usize, total: usize| {
                let _ = run.emit(RunEvent::Progress {
                    stage: "writing the synthetic corpus".into(),
                    done: done as u64,
                    total: Some(total as u64),
                });
            };
            match node {
                None => prepare(&config, &dir, Some(&mut progress))?,
                Some(_) => wait_for_data(&config, &dir, peer_timeout(&config))?,
            }
        };
        let corpus = Arc::new(Corpus::index(&data.train_root, config.data.layout, None)?);
        // Validation refuses the cache where the states change, and it is off there in any case.
        self.cache_mib = if config.adaptation.backbone_states_frozen() { config.optim.backbone_cache_mib } else { 0 };
        let loader = LoaderConfig {
            batch_size: config.optim.batch_size,
            crop_seconds: config.optim.segment_seconds as f32,
            workers: config.optim.loader_workers,
            prefetch: 2 * config.optim.loader_workers,
            seed: config.seed,
            augment: config.data.augment.clone(),
            fixed_crops: self.cache_mib > 0,
        };
        let batches = corpus.utterances.len() / config.optim.batch_size;
        if batches == 0 {
            return Err(EngineError::Config(format!(
                "optim.batch_size = {} is more than the {} training utterances in {}",
                config.optim.batch_size,
                corpus.utterances.len(),
                data.train_root.display()
            )));
        }
        let accum = config.optim.grad_accum_steps;
        let steps_per_epoch = batches.div_ceil(accum) as u64;
        let mut total_steps = steps_per_epoch * config.optim.epochs as u64;
        if let Some(max) = config.optim.max_steps {
            total_steps = total_steps.min(max as u64);
        }
        self.schedule = Some(LrSchedule::new(&config.optim, total_steps));
        self.data = Some(data);
        Ok(Plan {
            corpus,
            loader,
            batches,
            accum,
            total_steps,
            epochs: config.optim.epochs,
        })
    }

    fn build(
        &mut self,
        run: &mut Live,
        plan: &Plan,
        resume: ResumeFrom,
    ) -> Result<(Vec<SpeakerReplica<B>>, TrainState), EngineError> {
        let config = self.config.clone();
        let dir = run.writer.dir().to_path_buf();
        let checkpoints = run.writer.checkpoints_dir();
        let speakers = plan.corpus.speakers.len();
        let device = self.devices[0].clone();
        let fresh = !matches!(resume, Some(Some(_)));
        let Built { model, optim, state, optim_file } = build_or_resume(
            run,
            resume,
            &config,
            plan,
            &device,
            |state, files| load_run_model::<B>(&config, &checkpoints, &Checkpoint::read(&files.model)?, state.speakers, &device),
            || Ok((SpeakerModel::<B>::from_config(&config, speakers, &device)?, TrainState::new(speakers))),
        )?;
        // Written after the lock is released: the weights are drawn, and other runs need not wait for the disk.
        if fresh && run.writer.node().is_none() {
            if let Some(bytes) = save_frozen(&model, &config, &checkpoints)? {
                run.log(
                    LogLevel::Info,
                    format!(
                        "the preset's random frozen backbone is saved once in checkpoints/frozen.safetensors ({:.1} MB)",
                        bytes as f64 / 1e6
                    ),
                )?;
            }
        }
        self.announce(run, &model, plan, speakers)?;
        let copies = peer_models(&model, optim_file.as_deref(), &self.devices, &config.optim)?;
        let mut replicas = vec![self.replica(0, model, optim, device, &dir, plan)];
        for (index, (copy, peer_optim)) in copies.into_iter().enumerate() {
            let peer_device = self.devices[index + 1].clone();
            replicas.push(self.replica(index + 1, copy, peer_optim, peer_device, &dir, plan));
        }
        Ok((replicas, state))
    }

    fn shards(
        &mut self,
        batch: Batch,
        state: &TrainState,
        plan: &Plan,
        peers: usize,
    ) -> Result<Vec<SpeakerShard>, EngineError> {
        let epoch_f = state.epoch as f64 + state.next_batch as f64 / plan.batches as f64;
        let loss = &self.config.loss;
        self.margin = margin_at(epoch_f, loss.margin_warmup_epochs, loss.margin);
        let rows = batch.batch_size / peers.max(1);
        let crop = batch.crop_samples;
        Ok((0..peers)
            .map(|p| SpeakerShard {
                samples: batch.samples[p * rows * crop..(p + 1) * rows * crop].to_vec(),
                labels: batch.labels[p * rows..(p + 1) * rows].iter().map(|&l| l as i64).collect(),
                rows,
                crop,
                margin: self.margin,
                step: state.step + 1,
            })
            .collect())
    }

    fn lrs(&self, step: u64) -> [f64; 4] {
        let factor = self.schedule.as_ref().map_or(1.0, |s| s.factor(step));
        ParamGroup::ALL.map(|g| g.base_lr(&self.config.optim) * factor)
    }

    fn report(&self, read: &PeerStep, micro: usize, lrs: [f64; 4]) -> StepFigures {
        let at = |i: usize| read.sums.get(i).copied().unwrap_or(f64::NAN) / micro.max(1) as f64;
        let lr = self
            .trained_groups
            .iter()
            .find(|g| matches!(g, ParamGroup::Adapters))
            .or(self.trained_groups.first())
            .map_or(0.0, |g| lrs[*g as usize]);
        StepFigures {
            loss: at(0),
            accuracy: at(1),
            lr,
            lrs: self.trained_groups.iter().map(|g| (g.name().to_string(), lrs[*g as usize])).collect(),
            margin: Some(self.margin),
        }
    }

    fn non_finite(&self, read: &PeerStep, figures: &StepFigures, state: &TrainState, checkpoints: &Path) -> Option<String> {
        if figures.loss.is_finite() && read.grad_norm.is_finite() {
            return None;
        }
        let what = if !figures.loss.is_finite() { "loss" } else { "gradient norm" };
        let good = latest_complete(checkpoints)
            .map(|(s, f)| format!("the last good checkpoint is step {s} ({})", f.model.display()))
            .unwrap_or_else(|| "no checkpoint was written before it".into());
        Some(format!(
            "non-finite {what} at step {} (epoch {}, batch {}); {good}. Lower the learning rates (optim.lr_*), \
             lengthen optim.warmup_steps or enable optim.grad_clip, then resume or relaunch",
            state.step + 1,
            state.epoch + 1,
            state.next_batch
        ))
    }

    fn layer_weights_due(&self, step: u64) -> bool {
        let every = self.config.eval.layer_weights_every_steps as u64;
        every > 0 && step % every == 0 && self.has_layer_weights()
    }

    fn has_layer_weights(&self) -> bool {
        self.config.aggregation.kind == AggregationKind::WeightedSum
    }

    fn evaluates(&self) -> bool {
        true
    }

    fn checkpoint_contents(&self) -> &'static str {
        contents(&self.config)
    }
}

impl<B: AutodiffBackend> SpeakerJob<B> {
    /// The `model` event and the run's line about its data and parameters.
    fn announce(
        &mut self,
        run: &mut Live,
        model: &SpeakerModel<B>,
        plan: &Plan,
        speakers: usize,
    ) -> Result<(), EngineError> {
        let counts = count_params(model);
        let groups = group_counts(model);
        let classifier = crate::model::count_params_by_group(model, 1)
            .iter()
            .find(|(f, _)| f == "classifier")
            .map_or(0, |(_, c)| c.total as u64);
        run.emit(RunEvent::Model {
            total_params: counts.total as u64,
            trainable_params: counts.trainable as u64,
            groups: groups.iter().map(|(g, n)| (g.name().to_string(), *n)).collect(),
            speakers: speakers as u64,
            total_steps: plan.total_steps,
            classifier_params: classifier,
        })?;
        let share =
            crate::runs::trainable_share(counts.trainable as u64, counts.total as u64, classifier).unwrap_or(0.0);
        run.log(
            LogLevel::Info,
            format!(
                "{} training utterances of {} speakers; {} of {} parameters train ({:.2} % without the {}-parameter \
                 classifier)",
                plan.corpus.utterances.len(),
                speakers,
                counts.trainable,
                counts.total,
                share,
                classifier
            ),
        )?;
        self.trained_groups = groups.iter().filter(|(_, n)| *n > 0).map(|(g, _)| *g).collect();
        Ok(())
    }

    fn replica(
        &self,
        index: usize,
        model: SpeakerModel<B>,
        optim: GroupedOptimizer<B>,
        device: B::Device,
        dir: &Path,
        plan: &Plan,
    ) -> SpeakerReplica<B> {
        let cache = (self.cache_mib > 0 && !model.plan.transformer).then(|| StateCache::new(self.cache_mib));
        SpeakerReplica {
            index,
            model: Some(model),
            optim,
            device,
            config: self.config.clone(),
            data: self.data.clone().unwrap_or_else(|| PreparedData {
                train_root: PathBuf::new(),
                eval_root: PathBuf::new(),
                trials: PathBuf::new(),
            }),
            dir: dir.to_path_buf(),
            cache,
            accumulator: GradientsAccumulator::new(),
            sums: DeviceSums::default(),
            accum: plan.accum,
            options: self.options.clone(),
        }
    }
}

/// Trainable parameters per learning-rate group.
fn group_counts<B: AutodiffBackend>(model: &SpeakerModel<B>) -> Vec<(ParamGroup, u64)> {
    let mut counts: BTreeMap<ParamGroup, u64> = ParamGroup::ALL.iter().map(|g| (*g, 0)).collect();
    for (name, count) in crate::model::count_params_by_group(model, 1) {
        *counts.entry(ParamGroup::of(&name)).or_default() += count.trainable as u64;
    }
    counts.into_iter().collect()
}

/// One peer's rows of one micro-batch.
pub(super) struct SpeakerShard {
    /// Crops, row-major `[rows, crop]`.
    samples: Vec<f32>,
    /// Speaker labels, `[rows]`.
    labels: Vec<i64>,
    rows: usize,
    crop: usize,
    /// The AAM margin at this point of the warm-up.
    margin: f64,
    /// The step this micro-batch belongs to (1-based).
    step: u64,
}

/// A peer's speaker model, optimiser and state cache.
pub(super) struct SpeakerReplica<B: AutodiffBackend> {
    index: usize,
    /// Always present between calls (taken only while the optimiser steps it).
    model: Option<SpeakerModel<B>>,
    optim: GroupedOptimizer<B>,
    device: B::Device,
    config: Arc<ValidConfig>,
    data: PreparedData,
    dir: PathBuf,
    cache: Option<StateCache>,
    accumulator: GradientsAccumulator<SpeakerModel<B>>,
    /// Loss and accuracy summed over the step's micro-batches, on the device (`readback`).
    sums: DeviceSums<B::InnerBackend>,
    accum: usize,
    options: LaunchOptions,
}

impl<B: AutodiffBackend> SpeakerReplica<B> {
    fn model(&self) -> &SpeakerModel<B> {
        self.model.as_ref().expect("the model is back after every step")
    }
}

impl<B: AutodiffBackend> Replica for SpeakerReplica<B> {
    type Backend = B;
    type Shard = SpeakerShard;

    fn device(&self) -> B::Device {
        self.device.clone()
    }

    fn micro(&mut self, shard: SpeakerShard) -> Result<(), EngineError> {
        let device = self.device.clone();
        let model = self.model.as_mut().expect("the model is back after every step");
        model.classifier.set_margin(shard.margin);
        let y = Tensor::<B, 1, Int>::from_data(TensorData::new(shard.labels, [shard.rows]), &device);
        let out = match self.cache.as_mut() {
            Some(cache) => {
                let states = cache.states(&model.backbone.valid(), &shard.samples, shard.rows, &device);
                model.train_step_output_from_states(states.into_iter().map(Tensor::from_inner).collect(), y)
            }
            None => {
                let x = Tensor::<B, 2>::from_data(TensorData::new(shard.samples, [shard.rows, shard.crop]), &device);
                model.train_step_output(x, y)
            }
        };
        let mut loss = out.loss;
        if self.options.panic_at_step == Some(shard.step) && self.options.fault_peer == self.index {
            panic!("fault injected at step {}", shard.step);
        }
        if self.options.inject_nan_at_step == Some(shard.step) {
            loss = loss.mul_scalar(f64::NAN);
        }
        self.sums.add(vec![loss.clone().detach().inner(), out.accuracy.inner()]);
        let scaled = if self.accum > 1 { loss.div_scalar(self.accum as f64) } else { loss };
        let grads = GradientsParams::from_grads(scaled.backward(), &*model);
        self.accumulator.accumulate(&*model, grads);
        Ok(())
    }

    fn step(&mut self, order: &StepOrder, peer: Option<PeerId>) -> Result<PeerStep, EngineError> {
        let grads = self.accumulator.grads();
        let model = self.model.take().expect("the model is back after every step");
        // The layer weights of the previous step when due: the model before this update is the model after it.
        let weights = if order.layer_weights { model.layer_weights_tensor().map(|w| w.inner()) } else { None };
        let (model, step) = update(model, &mut self.optim, grads, &mut self.sums, weights, order, peer);
        self.model = Some(model);
        step
    }

    fn layer_weights(&mut self) -> Vec<f64> {
        self.model().layer_weights().into_iter().map(f64::from).collect()
    }

    fn save(&mut self, files: &StepFiles, step: u64) -> Result<(u64, u64), EngineError> {
        let model = self.model();
        let bytes = save_model(model, &self.config, &files.model, step)?;
        let optim_bytes = self.optim.save(model, &files.optimizer)?;
        Ok((bytes, optim_bytes))
    }

    fn evaluate(&mut self, step: u64, epoch: f64) -> Result<Option<Evaluation>, EngineError> {
        let mut last_sent = Instant::now();
        let mut progress: Vec<RunEvent> = Vec::new();
        let mut report = |stage: &str, done: usize, total: usize, _eta: Option<f64>| {
            if done == total || last_sent.elapsed().as_secs_f64() > 1.0 {
                last_sent = Instant::now();
                progress.push(RunEvent::Progress {
                    stage: stage.to_string(),
                    done: done as u64,
                    total: Some(total as u64),
                });
            }
        };
        // The run's own list first (its EER picks the best checkpoint), then each configured other list.
        let lists = std::iter::once((None, self.data.trials.clone(), None))
            .chain(self.config.eval.lists.iter().map(|l| (Some(l.label.trim()), l.trials.clone(), l.corpus.clone())));
        let mut events = Vec::new();
        let mut own_eer = f64::NAN;
        for (label, trials, corpus) in lists {
            let eval_root = corpus.unwrap_or_else(|| self.data.eval_root.clone());
            let target = EvalTarget {
                dir: &self.dir,
                data: &self.data,
                trials: &trials,
                eval_root: &eval_root,
                list: label,
                cache: false,
            };
            let (result, rel) =
                evaluate_model(self.model().valid(), &self.device, &self.config, &target, step, &mut report)?;
            if label.is_none() {
                own_eer = result.metrics.eer.rate;
            }
            let name = trials.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            events.push(result.to_event(step, epoch, &name, label.map(str::to_string), Some(rel)));
        }
        Ok(Some(Evaluation {
            progress,
            eer: own_eer,
            events,
        }))
    }

    fn epoch_note(&mut self, epoch: usize) -> Option<String> {
        let budget = self.config.optim.backbone_cache_mib;
        let cache = self.cache.as_mut()?;
        let (hits, misses) = cache.take_counts();
        Some(format!(
            "backbone cache: epoch {} took {hits} crops from memory and ran the backbone on {misses}; {} crops held \
             ({:.1} of {} MiB)",
            epoch + 1,
            cache.len(),
            cache.bytes() as f64 / (1 << 20) as f64,
            budget
        ))
    }
}
