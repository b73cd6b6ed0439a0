//! Self-supervised pre-training of a backbone, as HuBERT's first iteration does it: each 20 ms CNN frame gets a
//! target, the k-means cluster of its MFCC frame ([`crate::data::mfcc`], [`super::kmeans`]); spans of frames are
//! masked (each frame starts a span of `mask_length` with probability `mask_prob`; HuBERT: 0.08 and 10) by
//! replacing the projected CNN features with a learned mask embedding; the Transformer's last layer predicts the
//! masked frames' clusters (cross-entropy over the masked frames; plus, weighted by `unmasked_weight`, HuBERT's α,
//! over the unmasked ones).
//!
//! It is a run like any other: launched by [`super::Engine`] when the config has a `[pretrain]` table, same run
//! folder, events (`step` carries the masked-prediction loss and accuracy), pause / resume / stop, checkpoints
//! with optimiser state every epoch and on stop, exact resume. At the end the backbone is written as a
//! HuggingFace folder (`<run>/backbone/`, and `pretrain.export` if set) that adaptsv and `transformers` load.
//!
//! ```text
//! wave [B, N] → CNN → projection [B, T, H] ─┬─ masked frames ← mask_embed [H]
//!                                           └→ Transformer → last state [B, T, H] → head → logits [B, T, K]
//! MFCC [B, T, 26] → nearest centroid → targets [B, T]        loss = CE(logits, targets) over masked frames
//! ```

use super::checkpoint::{self, Checkpoint, Selection};
use super::data_prep::prepare;
use super::kmeans::Centroids;
use super::optim::{clip_scale, GroupedOptimizer, ParamGroup};
use super::readback::{read_step, DeviceSums};
use super::schedule::LrSchedule;
use super::train::{poll_commands, relative, Flow, Live, LoopEnd, ResumeFrom, Throughput};
use super::train_state::{prune, StepFiles, TrainState};
use super::EngineError;
use crate::config::{DataSource, ExperimentConfig, PretrainConfig, TargetFeatures};
use crate::data::mfcc::{self, Mfcc};
use crate::data::{Corpus, Loader, LoaderConfig};
use crate::model::backbone::{save_hf_folder, ExportDtype, NoHooks, SslBackbone};
use crate::model::build::build_backbone;
use crate::model::count_params;
use crate::runs::{local_host, EndStatus, LogLevel, RunEvent};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The backbone with what pre-training adds: a mask embedding and a classifier over the clusters.
#[derive(Module, Debug)]
pub struct PretrainModel<B: Backend> {
    pub backbone: SslBackbone<B>,
    /// Replaces the projected features of masked frames (HF's `masked_spec_embed`), `[hidden]`.
    pub mask_embed: Param<Tensor<B, 1>>,
    /// Last hidden state → cluster logits.
    pub head: Linear<B>,
}

impl<B: Backend> PretrainModel<B> {
    pub fn new(backbone: SslBackbone<B>, clusters: usize, device: &B::Device) -> Self {
        let hidden = backbone.config.hidden_size;
        Self {
            mask_embed: Param::from_tensor(Tensor::random(
                [hidden],
                burn::tensor::Distribution::Uniform(0.0, 1.0),
                device,
            )),
            head: LinearConfig::new(hidden, clusters).init(device),
            backbone,
        }
    }

    /// Cluster logits `[B, T, K]` of crops `wave` `[B, N]`, the frames where `mask` `[B, T, 1]` is 1 replaced
    /// by the mask embedding.
    pub fn forward(&self, wave: Tensor<B, 2>, mask: Tensor<B, 3>) -> Tensor<B, 3> {
        let features = self.backbone.project_features(self.backbone.extract_features(wave));
        let hidden = features.dims()[2];
        let embed = self.mask_embed.val().reshape([1, 1, hidden]);
        let keep = mask.clone().neg().add_scalar(1.0);
        let x = features * keep + embed * mask;
        let mut states = self.backbone.encoder.forward(x, &NoHooks);
        let last = states.pop().expect("the encoder returns at least one hidden state");
        self.head.forward(self.backbone.last_hidden_state(last))
    }
}

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

/// The pre-training loop on backend `B` (called by the engine for configs with `[pretrain]`).
pub(super) fn pretrain<B: AutodiffBackend>(
    run: &mut Live,
    config: &ExperimentConfig,
    pre: &PretrainConfig,
    device: B::Device,
    description: &str,
    resume: ResumeFrom,
) -> Result<LoopEnd, EngineError> {
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
            prepare(config, &dir, Some(&mut progress))?.train_root
        }
    };
    let corpus = Arc::new(Corpus::index(&train_root, config.data.layout, None)?);
    let loader_config = LoaderConfig {
        batch_size: config.optim.batch_size,
        crop_seconds: config.optim.segment_seconds as f32,
        workers: config.optim.loader_workers.max(1),
        prefetch: 2 * config.optim.loader_workers.max(1),
        seed: config.seed,
        augment: config.data.augment.clone(),
        fixed_crops: false,
    };
    let batches = corpus.utterances.len() / config.optim.batch_size.max(1);
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

    let kmeans_path = checkpoints.join(KMEANS_FILE);
    let km = if kmeans_path.is_file() {
        load_kmeans(&kmeans_path, pre.targets.dim())?
    } else {
        let km = fit_kmeans(run, &corpus, &loader_config, pre, config.seed)?;
        save_kmeans(&km, &kmeans_path)?;
        km
    };

    // Built under the init lock, so that no other run's draws interleave (`seeded`).
    let init_guard = super::seeded::init_lock();
    B::seed(&device, config.seed);
    let fresh = || -> Result<PretrainModel<B>, EngineError> {
        let backbone = build_backbone::<B>(&config.model, &device).map_err(|e| EngineError::Config(e.to_string()))?;
        Ok(PretrainModel::new(backbone, pre.clusters, &device))
    };
    let (mut model, mut optim, mut state) = match resume {
        Some(Some((state, files))) => {
            let model = Checkpoint::read(&files.model)?.load_into(fresh()?)?;
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
            let model = fresh()?;
            super::seeded::init_every_param(&model);
            (model, GroupedOptimizer::<B>::new(&config.optim), TrainState::new(0))
        }
    };
    drop(init_guard);
    let counts = count_params(&model);
    run.emit(RunEvent::Model {
        total_params: counts.total as u64,
        trainable_params: counts.trainable as u64,
        groups: Default::default(),
        speakers: 0,
        total_steps,
        classifier_params: 0,
    })?;
    run.log(
        LogLevel::Info,
        format!(
            "pre-training {} parameters on {} utterances: masked prediction of {} clusters, spans of {} frames \
             started with p = {}",
            counts.total,
            corpus.utterances.len(),
            pre.clusters,
            pre.mask_length,
            pre.mask_prob
        ),
    )?;

    let schedule = LrSchedule::new(&config.optim, total_steps);
    let mut mfcc = Mfcc::default();
    let mut timer = Throughput::new(total_steps);
    let mut epoch_start = Instant::now();
    let save = |run: &mut Live, model: &PretrainModel<B>, optim: &GroupedOptimizer<B>, state: &TrainState| {
        let files = StepFiles::new(&checkpoints, state.step);
        let bytes = checkpoint::save(model, &files.model, state.step, &Selection::All)?;
        optim.save(model, &files.optimizer)?;
        state.write(&files.state)?;
        prune(&checkpoints, config.optim.keep_checkpoints, None)?;
        run.emit(RunEvent::Checkpoint {
            step: state.step,
            path: relative(&dir, &files.model),
            bytes,
            contents: "full".into(),
        })
    };
    while state.step < total_steps && state.epoch < config.optim.epochs {
        let mut loader = Loader::resume(corpus.clone(), &loader_config, state.epoch, state.next_batch)?;
        while state.next_batch < batches {
            if let Flow::Stop = poll_commands(run, state.step)? {
                state.epoch_seconds += epoch_start.elapsed().as_secs_f64();
                save(run, &model, &optim, &state)?;
                return Ok(LoopEnd {
                    status: EndStatus::Stopped,
                    message: format!("stopped on request after step {}", state.step),
                    step: state.step,
                });
            }
            let Some(batch) = loader.next() else { break };
            let batch = batch?;
            let (b, n) = (batch.batch_size, batch.crop_samples);
            let t = mfcc::frames(n);
            let mut targets = Vec::with_capacity(b * t);
            for crop in batch.samples.chunks(n) {
                let feats = target_features(&mut mfcc, pre.targets, crop);
                targets.extend(feats.chunks(pre.targets.dim()).map(|f| km.nearest(f) as i64));
            }
            // The masks depend only on the seed and the step, so a resumed run draws the same ones.
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ (state.step + 1).wrapping_mul(0x9e37_79b9));
            let mask: Vec<f32> = (0..b)
                .flat_map(|_| span_mask(t, pre.mask_prob, pre.mask_length, &mut rng))
                .collect();
            let masked = mask.iter().sum::<f32>().max(1.0) as f64;
            let unmasked = ((b * t) as f64 - masked).max(1.0);
            let wave = Tensor::<B, 2>::from_data(TensorData::new(batch.samples, [b, n]), &device);
            let mask_t = Tensor::<B, 3>::from_data(TensorData::new(mask, [b, t, 1]), &device);
            let y = Tensor::<B, 3, Int>::from_data(TensorData::new(targets, [b, t, 1]), &device);
            let logits = model.forward(wave, mask_t.clone());
            if logits.dims()[1] != t {
                return Err(EngineError::Config(format!(
                    "the backbone makes {} frames of a {n}-sample crop, the MFCC targets {t}: pre-training \
                     needs the standard conv stack (25 ms receptive field, 20 ms stride)",
                    logits.dims()[1]
                )));
            }
            let nll = log_softmax(logits.clone(), 2).gather(2, y.clone()).neg();
            let mut loss = (nll.clone() * mask_t.clone()).sum().div_scalar(masked);
            let masked_loss_t = loss.clone().detach().inner();
            if pre.unmasked_weight > 0.0 {
                let keep = mask_t.clone().neg().add_scalar(1.0);
                loss = loss + (nll * keep).sum().div_scalar(unmasked).mul_scalar(pre.unmasked_weight);
            }
            let correct = (logits.argmax(2).equal(y).float() * mask_t).sum().detach().inner();
            let mut sums = DeviceSums::<B::InnerBackend>::default();
            sums.add(vec![masked_loss_t, correct, loss.clone().detach().inner()]);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            // Events report the masked-prediction loss (what HuBERT's curves show); the optimised loss adds the
            // unmasked term when `unmasked_weight` > 0. One readback for all of it (`readback`).
            let read = read_step::<B, _>(&model, &grads, &mut sums, None);
            let (masked_loss, acc, loss_value) = (read.sums[0], read.sums[1] / masked, read.sums[2]);
            let norm = read.grad_norm;
            state.next_batch += 1;
            let step_number = state.step + 1;
            if !loss_value.is_finite() || !norm.is_finite() {
                return Ok(LoopEnd {
                    status: EndStatus::Failed,
                    message: format!(
                        "non-finite loss or gradient at step {step_number}; lower optim.lr_backbone or lengthen \
                         optim.warmup_steps, then resume or relaunch"
                    ),
                    step: step_number,
                });
            }
            let clip = config.optim.grad_clip;
            let scale = clip_scale(norm, clip);
            let factor = schedule.factor(state.step);
            // The backbone at `lr_backbone`, the mask embedding and the cluster head at `lr_head`.
            let lrs = ParamGroup::ALL.map(|g| match g {
                ParamGroup::Head => config.optim.lr_head * factor,
                _ => config.optim.lr_backbone * factor,
            });
            model = optim.step(model, grads, lrs, scale);
            state.step = step_number;
            state.epoch_loss_sum += masked_loss;
            state.epoch_acc_sum += acc;
            state.epoch_steps += 1;
            let (rate, eta) = timer.tick(state.step, b as f64);
            run.emit(RunEvent::Step {
                step: state.step,
                epoch: state.epoch as f64 + state.next_batch as f64 / batches as f64,
                loss: masked_loss,
                lr: lrs[ParamGroup::Backbone as usize],
                accuracy: Some(acc),
                margin: None,
                samples_per_sec: Some(rate),
                lrs: [("backbone", ParamGroup::Backbone), ("head", ParamGroup::Head)]
                    .into_iter()
                    .map(|(name, g)| (name.to_string(), lrs[g as usize]))
                    .collect(),
                grad_norm: Some(norm),
                eta_seconds: eta,
            })?;
            if state.step >= total_steps {
                break;
            }
        }
        drop(loader);
        if state.next_batch >= batches {
            let seconds = state.epoch_seconds + epoch_start.elapsed().as_secs_f64();
            let steps = state.epoch_steps.max(1) as f64;
            run.emit(RunEvent::Epoch {
                epoch: state.epoch as u64 + 1,
                step: state.step,
                loss: state.epoch_loss_sum / steps,
                accuracy: Some(state.epoch_acc_sum / steps),
                seconds,
                samples_per_sec: state.epoch_steps as f64 * config.optim.batch_size as f64 / seconds.max(1e-9),
            })?;
            state.epoch += 1;
            state.next_batch = 0;
            state.epoch_loss_sum = 0.0;
            state.epoch_acc_sum = 0.0;
            state.epoch_steps = 0;
            state.epoch_seconds = 0.0;
            epoch_start = Instant::now();
        }
        save(run, &model, &optim, &state)?;
    }

    // The result: the backbone as a HuggingFace folder.
    let dtype = if pre.export_dtype == "f16" { ExportDtype::F16 } else { ExportDtype::F32 };
    let meta = HashMap::from([
        ("adaptsv_run".to_string(), run.writer.id().to_string()),
        ("adaptsv_steps".to_string(), state.step.to_string()),
    ]);
    let mut targets = vec![dir.join("backbone")];
    targets.extend(pre.export.clone());
    for target in targets {
        let bytes = save_hf_folder(&model.backbone, &target, dtype, meta.clone()).map_err(|source| {
            EngineError::Run(crate::runs::RunError::Io {
                path: target.clone(),
                source,
            })
        })?;
        run.log(
            LogLevel::Info,
            format!("backbone written as an HF folder: {} ({:.1} MB)", target.display(), bytes as f64 / 1e6),
        )?;
    }
    Ok(LoopEnd {
        status: EndStatus::Finished,
        message: format!("finished after {} steps", state.step),
        step: state.step,
    })
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
