//! Self-supervised pre-training of a backbone as a job of the run loop, as HuBERT's first iteration does it: each
//! 20 ms CNN frame gets a target, the k-means cluster of its MFCC frame ([`crate::data::mfcc`], [`super::kmeans`]);
//! spans of frames are masked (each frame starts a span of `mask_length` with probability `mask_prob`; HuBERT:
//! 0.08 and 10) by replacing the projected CNN features with a learned mask embedding; the Transformer's last layer
//! predicts the masked frames' clusters (cross-entropy over the masked frames; plus, weighted by
//! `unmasked_weight`, HuBERT's α, over the unmasked ones).
//!
//! It is a run like any other (same folder, events, commands, checkpoints, exact resume; `step` carries the
//! masked-prediction loss and accuracy). Targets and masks are made on the run thread for the whole batch, then
//! shared out, so every peer's loss is normalised by the whole batch's masked-frame count and the peers' mean
//! gradient is the one-device gradient. At the end the backbone is written as a HuggingFace folder
//! (`<run>/backbone/`, and `pretrain.export` if set) that adaptsv and `transformers` load.
//!
//! ```text
//! wave [B, N] → PretrainModel (crate::model) → logits [B, T, K]
//! MFCC [B, T, 26] → nearest centroid → targets [B, T]        loss = CE(logits, targets) over masked frames
//! ```

use super::checkpoint::{self, Checkpoint, Selection};
use super::data_prep::{prepare, wait_for_data};
use super::job::{build_or_resume, peer_models, update, Built, Job, PeerStep, Plan, Replica, StepFigures, StepOrder};
use super::kmeans::Centroids;
use super::optim::{GroupedOptimizer, ParamGroup};
use super::readback::DeviceSums;
use super::live::{Live, ResumeFrom, Start};
use super::schedule::LrSchedule;
use super::train_state::{StepFiles, TrainState};
use super::EngineError;
use crate::config::{DataSource, PretrainConfig, TargetFeatures, ValidConfig};
use crate::data::mfcc::{self, Mfcc};
use crate::data::{Batch, Corpus, Loader, LoaderConfig};
use crate::model::backbone::{save_hf_folder, ExportDtype};
use crate::model::build::build_backbone;
use crate::model::{count_params, PretrainModel};
use crate::runs::{LogLevel, RunEvent};
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_collective::PeerId;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Masked spans of one crop of `frames` frames: each frame starts a span of `length` with probability `p`
/// (at least one span per crop). Returns 0/1 per frame.
pub fn span_mask(frames: usize, p: f64, length: usize, rng: &mut impl rand::Rng) -> Vec<f32> {
    let mut mask = vec![0f32; frames];
    let mut any = false;
    for start in 0..frames {
        if rng.random::<f64>() < p {
            for m in mask.iter_mut().skip(start).take(length) {
                *m = 1.0;
            }
            any = true;
        }
    }
    if !any && frames > 0 {
        let start = rng.random_range(0..frames);
        for m in mask.iter_mut().skip(start).take(length) {
            *m = 1.0;
        }
    }
    mask
}

/// The target features of one crop, `[frames][targets.dim()]` row-major.
fn target_features(mfcc: &mut Mfcc, targets: TargetFeatures, crop: &[f32]) -> Vec<f32> {
    match targets {
        TargetFeatures::Mfcc => mfcc.compute(crop),
        TargetFeatures::LogMel => mfcc.compute_log_mel(crop),
    }
}

const KMEANS_FILE: &str = "kmeans.safetensors";
const KMEANS_FORMAT: &str = "adaptsv-kmeans-1";

/// Fits the targets' k-means on MFCC frames of crops drawn like training batches (another seed).
fn fit_kmeans(
    run: &mut Live,
    corpus: &Arc<Corpus>,
    loader_config: &LoaderConfig,
    pre: &PretrainConfig,
    seed: u64,
) -> Result<Centroids, EngineError> {
    let mut mfcc = Mfcc::default();
    let dim = pre.targets.dim();
    let mut rows: Vec<f32> = Vec::with_capacity(pre.kmeans_frames * dim);
    let sampling = LoaderConfig {
        seed: seed ^ 0x6b6d_6561_6e73,
        augment: Default::default(),
        ..loader_config.clone()
    };
    let mut epoch = 0;
    while rows.len() < pre.kmeans_frames * dim {
        let before = rows.len();
        for batch in Loader::start(corpus.clone(), &sampling, epoch)? {
            let batch = batch?;
            for crop in batch.samples.chunks(batch.crop_samples) {
                rows.extend(target_features(&mut mfcc, pre.targets, crop));
            }
            run.emit(RunEvent::Progress {
                stage: format!("{} frames for the k-means targets", pre.targets.name()),
                done: (rows.len() / dim).min(pre.kmeans_frames) as u64,
                total: Some(pre.kmeans_frames as u64),
            })?;
            if rows.len() >= pre.kmeans_frames * dim {
                break;
            }
        }
        if rows.len() == before {
            return Err(EngineError::Config("the training audio gives no frame for k-means".into()));
        }
        epoch += 1;
    }
    rows.truncate(pre.kmeans_frames * dim);
    // Cepstra and deltas have very different ranges: standardise each dimension before clustering (the
    // statistics are kept in the centroids' space by standardising at labelling time too).
    let started = Instant::now();
    let km = Centroids::fit(&rows, dim, pre.clusters, pre.kmeans_iterations, seed);
    run.log(
        LogLevel::Info,
        format!(
            "k-means: {} clusters of {} {} frames ({} dims) in {:.1} s",
            pre.clusters,
            rows.len() / dim,
            pre.targets.name(),
            dim,
            started.elapsed().as_secs_f64()
        ),
    )?;
    Ok(km)
}

fn save_kmeans(km: &Centroids, path: &Path) -> Result<(), EngineError> {
    let meta = HashMap::from([("format".to_string(), KMEANS_FORMAT.to_string())]);
    super::tensor_file::write_f32(path, &[("centroids".into(), vec![km.k, km.dim], km.values.clone())], meta)?;
    Ok(())
}

fn load_kmeans(path: &Path, dim: usize) -> Result<Centroids, EngineError> {
    let file = super::tensor_file::read_f32(path, KMEANS_FORMAT, "k-means centroids")?;
    let (shape, values) = file.tensors.get("centroids").cloned().ok_or_else(|| EngineError::Checkpoint {
        path: path.to_path_buf(),
        message: "no centroids tensor".into(),
    })?;
    match shape.as_slice() {
        [k, d] if *d == dim => Ok(Centroids { k: *k, dim, values }),
        other => Err(EngineError::Checkpoint {
            path: path.to_path_buf(),
            message: format!("centroids of shape {other:?}, expected [k, {dim}] (pretrain.targets)"),
        }),
    }
}

/// The host half of pre-training.
pub(super) struct PretrainJob<B: AutodiffBackend> {
    config: Arc<ValidConfig>,
    pre: PretrainConfig,
    devices: Vec<B::Device>,
    kmeans: Option<Arc<Centroids>>,
    schedule: Option<LrSchedule>,
    mfcc: Mfcc,
    /// Masked frames of the latest batch, all peers' (the accuracy's denominator).
    masked: f64,
    /// Peers over all nodes.
    peers: usize,
}

impl<B: AutodiffBackend> PretrainJob<B> {
    pub(super) fn new(pre: &PretrainConfig, start: &Start<'_>, devices: Vec<B::Device>) -> Self {
        Self {
            config: Arc::new(start.config.clone()),
            pre: pre.clone(),
            devices,
            kmeans: None,
            schedule: None,
            mfcc: Mfcc::default(),
            masked: 1.0,
            peers: start.config.peer_count(),
        }
    }

    /// A fresh model on `device`: the configured backbone with a new mask embedding and head.
    fn fresh(&self, device: &B::Device) -> Result<PretrainModel<B>, EngineError> {
        let backbone = build_backbone::<B>(&self.config.model, device).map_err(|e| EngineError::Config(e.to_string()))?;
        Ok(PretrainModel::new(backbone, self.pre.clusters, device))
    }
}

impl<B: AutodiffBackend> Job for PretrainJob<B> {
    type Replica = PretrainReplica<B>;

    fn prepare(&mut self, run: &mut Live) -> Result<Plan, EngineError> {
        let config = self.config.clone();
        let dir = run.writer.dir().to_path_buf();
        let node = run.writer.node();
        // Any audio: a corpus folder is read as it is (no trial list needed); the synthetic corpus is written.
        let train_root = match (config.data.source, &config.data.corpus) {
            (DataSource::Corpus, Some(root)) => root.clone(),
            _ => {
                let mut progress = |done: usize, total: usize| {
                    let _ = run.emit(RunEvent::Progress {
                        stage: "writing the synthetic corpus".into(),
                        done: done as u64,
                        total: Some(total as u64),
                    });
                };
                match node {
                    None => prepare(&config, &dir, Some(&mut progress))?.train_root,
                    Some(_) => wait_for_data(&config, &dir, super::peers::peer_timeout(&config))?.train_root,
                }
            }
        };
        let corpus = Arc::new(Corpus::index(&train_root, config.data.layout, None)?);
        let loader = LoaderConfig {
            batch_size: config.optim.batch_size,
            crop_seconds: config.optim.segment_seconds as f32,
            workers: config.optim.loader_workers,
            prefetch: 2 * config.optim.loader_workers,
            seed: config.seed,
            augment: config.data.augment.clone(),
            fixed_crops: false,
        };
        let batches = corpus.utterances.len() / config.optim.batch_size;
        if batches == 0 {
            return Err(EngineError::Config(format!(
                "optim.batch_size = {} is more than the {} utterances in {}",
                config.optim.batch_size,
                corpus.utterances.len(),
                train_root.display()
            )));
        }
        let mut total_steps = (batches * config.optim.epochs) as u64;
        if let Some(max) = config.optim.max_steps {
            total_steps = total_steps.min(max as u64);
        }
        let kmeans_path = run.writer.checkpoints_dir().join(KMEANS_FILE);
        let km = if kmeans_path.is_file() {
            load_kmeans(&kmeans_path, self.pre.targets.dim())?
        } else {
            let km = fit_kmeans(run, &corpus, &loader, &self.pre, config.seed)?;
            if run.writer.node().is_none() {
                save_kmeans(&km, &kmeans_path)?;
            }
            km
        };
        self.kmeans = Some(Arc::new(km));
        self.schedule = Some(LrSchedule::new(&config.optim, total_steps));
        Ok(Plan {
            corpus,
            loader,
            batches,
            accum: 1,
            total_steps,
            epochs: config.optim.epochs,
        })
    }

    fn build(
        &mut self,
        run: &mut Live,
        plan: &Plan,
        resume: ResumeFrom,
    ) -> Result<(Vec<PretrainReplica<B>>, TrainState), EngineError> {
        let dir = run.writer.dir().to_path_buf();
        let device = self.devices[0].clone();
        let Built { model, optim, state, optim_file } = build_or_resume(
            run,
            resume,
            &self.config,
            plan,
            &device,
            |_, files| Checkpoint::read(&files.model)?.load_into(self.fresh(&device)?),
            || Ok((self.fresh(&device)?, TrainState::new(0))),
        )?;
        let counts = count_params(&model);
        run.emit(RunEvent::Model {
            total_params: counts.total as u64,
            trainable_params: counts.trainable as u64,
            groups: Default::default(),
            speakers: 0,
            total_steps: plan.total_steps,
            classifier_params: 0,
        })?;
        let pre = &self.pre;
        run.log(
            LogLevel::Info,
            format!(
                "pre-training {} parameters on {} utterances: masked prediction of {} clusters, spans of {} frames \
                 started with p = {}",
                counts.total,
                plan.corpus.utterances.len(),
                pre.clusters,
                pre.mask_length,
                pre.mask_prob
            ),
        )?;
        let copies = peer_models(&model, optim_file.as_deref(), &self.devices, &self.config.optim)?;
        let mut replicas = vec![PretrainReplica::new(model, optim, device, pre.clone(), &dir)];
        for ((copy, peer_optim), peer_device) in copies.into_iter().zip(self.devices.iter().skip(1)) {
            replicas.push(PretrainReplica::new(copy, peer_optim, peer_device.clone(), pre.clone(), &dir));
        }
        Ok((replicas, state))
    }

    fn shards(
        &mut self,
        batch: Batch,
        state: &TrainState,
        _plan: &Plan,
        peers: usize,
    ) -> Result<Vec<PretrainShard>, EngineError> {
        let pre = &self.pre;
        let km = self.kmeans.clone().ok_or_else(|| EngineError::Config("k-means targets missing".into()))?;
        let (b, n) = (batch.batch_size, batch.crop_samples);
        let t = mfcc::frames(n);
        let mut targets = Vec::with_capacity(b * t);
        for crop in batch.samples.chunks(n) {
            let feats = target_features(&mut self.mfcc, pre.targets, crop);
            targets.extend(feats.chunks(pre.targets.dim()).map(|f| km.nearest(f) as i64));
        }
        // The masks depend only on the seed and the step, so a resumed run draws the same ones.
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ (state.step + 1).wrapping_mul(0x9e37_79b9));
        let mask: Vec<f32> = (0..b).flat_map(|_| span_mask(t, pre.mask_prob, pre.mask_length, &mut rng)).collect();
        let masked = mask.iter().sum::<f32>().max(1.0) as f64;
        let unmasked = ((b * t) as f64 - masked).max(1.0);
        self.masked = masked;
        let rows = b / peers.max(1);
        let share = peers.max(1) as f64;
        Ok((0..peers)
            .map(|p| PretrainShard {
                wave: batch.samples[p * rows * n..(p + 1) * rows * n].to_vec(),
                mask: mask[p * rows * t..(p + 1) * rows * t].to_vec(),
                targets: targets[p * rows * t..(p + 1) * rows * t].to_vec(),
                rows,
                samples: n,
                frames: t,
                masked: masked / share,
                unmasked: unmasked / share,
            })
            .collect())
    }

    fn lrs(&self, step: u64) -> [f64; 4] {
        let factor = self.schedule.as_ref().map_or(1.0, |s| s.factor(step));
        // The backbone at `lr_backbone`, the mask embedding and the cluster head at `lr_head`.
        ParamGroup::ALL.map(|g| match g {
            ParamGroup::Head => self.config.optim.lr_head * factor,
            _ => self.config.optim.lr_backbone * factor,
        })
    }

    fn report(&self, read: &PeerStep, _micro: usize, lrs: [f64; 4]) -> StepFigures {
        let at = |i: usize| read.sums.get(i).copied().unwrap_or(f64::NAN);
        // Events report the masked-prediction loss (what HuBERT's curves show); the optimised loss adds the
        // unmasked term when `unmasked_weight` > 0. Correct frames are averaged over the peers: × peers.
        StepFigures {
            loss: at(0),
            accuracy: at(1) * self.peers as f64 / self.masked,
            lr: lrs[ParamGroup::Backbone as usize],
            lrs: [("backbone", ParamGroup::Backbone), ("head", ParamGroup::Head)]
                .into_iter()
                .map(|(name, g)| (name.to_string(), lrs[g as usize]))
                .collect(),
            margin: None,
        }
    }

    fn non_finite(&self, read: &PeerStep, _figures: &StepFigures, state: &TrainState, _checkpoints: &Path) -> Option<String> {
        let loss = read.sums.get(2).copied().unwrap_or(f64::NAN);
        (!loss.is_finite() || !read.grad_norm.is_finite()).then(|| {
            format!(
                "non-finite loss or gradient at step {}; lower optim.lr_backbone or lengthen optim.warmup_steps, \
                 then resume or relaunch",
                state.step + 1
            )
        })
    }

    fn layer_weights_due(&self, _step: u64) -> bool {
        false
    }

    fn has_layer_weights(&self) -> bool {
        false
    }

    fn evaluates(&self) -> bool {
        false
    }

    fn checkpoint_contents(&self) -> &'static str {
        "full"
    }
}

/// One peer's rows of one batch, with the whole batch's normalisers divided by the peers.
pub(super) struct PretrainShard {
    /// Crops `[rows, samples]`.
    wave: Vec<f32>,
    /// 1 for masked frames, `[rows, frames]`.
    mask: Vec<f32>,
    /// Cluster per frame, `[rows, frames]`.
    targets: Vec<i64>,
    rows: usize,
    samples: usize,
    frames: usize,
    /// The batch's masked frames / peers.
    masked: f64,
    /// The batch's unmasked frames / peers.
    unmasked: f64,
}

/// A peer's pre-training model and optimiser.
pub(super) struct PretrainReplica<B: AutodiffBackend> {
    /// Always present between calls (taken only while the optimiser steps it).
    model: Option<PretrainModel<B>>,
    optim: GroupedOptimizer<B>,
    device: B::Device,
    pre: PretrainConfig,
    dir: PathBuf,
    grads: Option<GradientsParams>,
    /// The masked loss, correct masked frames and whole loss of the step, on the device (`readback`).
    sums: DeviceSums<B::InnerBackend>,
}

impl<B: AutodiffBackend> PretrainReplica<B> {
    fn new(model: PretrainModel<B>, optim: GroupedOptimizer<B>, device: B::Device, pre: PretrainConfig, dir: &Path) -> Self {
        Self {
            model: Some(model),
            optim,
            device,
            pre,
            dir: dir.to_path_buf(),
            grads: None,
            sums: DeviceSums::default(),
        }
    }

    fn model(&self) -> &PretrainModel<B> {
        self.model.as_ref().expect("the model is back after every step")
    }
}

impl<B: AutodiffBackend> Replica for PretrainReplica<B> {
    type Backend = B;
    type Shard = PretrainShard;

    fn device(&self) -> B::Device {
        self.device.clone()
    }

    fn micro(&mut self, shard: PretrainShard) -> Result<(), EngineError> {
        let device = &self.device;
        let (b, n, t) = (shard.rows, shard.samples, shard.frames);
        let wave = Tensor::<B, 2>::from_data(TensorData::new(shard.wave, [b, n]), device);
        let mask_t = Tensor::<B, 3>::from_data(TensorData::new(shard.mask, [b, t, 1]), device);
        let y = Tensor::<B, 3, Int>::from_data(TensorData::new(shard.targets, [b, t, 1]), device);
        let model = self.model.as_ref().expect("the model is back after every step");
        let logits = model.forward(wave, mask_t.clone());
        if logits.dims()[1] != t {
            return Err(EngineError::Config(format!(
                "the backbone makes {} frames of a {n}-sample crop, the MFCC targets {t}: pre-training needs the \
                 standard conv stack (25 ms receptive field, 20 ms stride)",
                logits.dims()[1]
            )));
        }
        let nll = log_softmax(logits.clone(), 2).gather(2, y.clone()).neg();
        let mut loss = (nll.clone() * mask_t.clone()).sum().div_scalar(shard.masked);
        let masked_loss = loss.clone().detach().inner();
        if self.pre.unmasked_weight > 0.0 {
            let keep = mask_t.clone().neg().add_scalar(1.0);
            loss = loss + (nll * keep).sum().div_scalar(shard.unmasked).mul_scalar(self.pre.unmasked_weight);
        }
        let correct = (logits.argmax(2).equal(y).float() * mask_t).sum().detach().inner();
        self.sums.add(vec![masked_loss, correct, loss.clone().detach().inner()]);
        self.grads = Some(GradientsParams::from_grads(loss.backward(), model));
        Ok(())
    }

    fn step(&mut self, order: &StepOrder, peer: Option<PeerId>) -> Result<PeerStep, EngineError> {
        let grads = self.grads.take().unwrap_or_default();
        let model = self.model.take().expect("the model is back after every step");
        let (model, step) = update(model, &mut self.optim, grads, &mut self.sums, None, order, peer);
        self.model = Some(model);
        step
    }

    fn save(&mut self, files: &StepFiles, step: u64) -> Result<(u64, u64), EngineError> {
        let model = self.model();
        let bytes = checkpoint::save(model, &files.model, step, &Selection::All)?;
        let optim_bytes = self.optim.save(model, &files.optimizer)?;
        Ok((bytes, optim_bytes))
    }

    /// The result: the backbone as a HuggingFace folder.
    fn finish(&mut self, run_id: &str, step: u64) -> Result<Vec<String>, EngineError> {
        let dtype = if self.pre.export_dtype == "f16" { ExportDtype::F16 } else { ExportDtype::F32 };
        let meta = HashMap::from([
            ("adaptsv_run".to_string(), run_id.to_string()),
            ("adaptsv_steps".to_string(), step.to_string()),
        ]);
        let mut targets = vec![self.dir.join("backbone")];
        targets.extend(self.pre.export.clone());
        let mut lines = Vec::new();
        for target in targets {
            let bytes = save_hf_folder(&self.model().backbone, &target, dtype, meta.clone()).map_err(|source| {
                EngineError::Run(crate::runs::RunError::Io {
                    path: target.clone(),
                    source,
                })
            })?;
            lines.push(format!(
                "backbone written as an HF folder: {} ({:.1} MB)",
                target.display(),
                bytes as f64 / 1e6
            ));
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_cover_about_what_hubert_masks() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let frames = 200;
        let mut covered = 0.0;
        for _ in 0..200 {
            let m = span_mask(frames, 0.08, 10, &mut rng);
            assert_eq!(m.len(), frames);
            assert!(m.iter().any(|&x| x == 1.0));
            covered += m.iter().sum::<f32>() as f64 / frames as f64;
        }
        let share = covered / 200.0;
        // 1 - (1 - p)^L ≈ 0.57 away from the edges.
        assert!((0.45..0.65).contains(&share), "masked share {share}");
        let short = span_mask(3, 1e-9, 10, &mut rng);
        assert!(short.iter().any(|&x| x == 1.0), "at least one span per crop");
    }
}
