//! Training-step and extraction benchmarks at real model size: what one optimiser step costs for each way of
//! adapting a backbone, and how fast a trained model embeds utterances.
//!
//! Each row builds the real [`SpeakerModel`] of a config (randomly initialised backbone of a preset, the
//! method's adapters, weighted-sum layer aggregation with layer norm, x-vector head, AAM-softmax over
//! [`BenchSettings::speakers`] classes) and times the same calls the training loop makes: forward to the loss,
//! backward, global gradient norm (read back, as the loop does for clipping), the per-group optimiser update.
//! Input is random noise cropped to `seconds`: the cost of a step does not depend on what the audio says.
//!
//! Rows (their configs are [`row_config`]):
//!
//! | row            | what trains                                                                      |
//! |----------------|----------------------------------------------------------------------------------|
//! | `full-finetune`| the whole Transformer (CNN feature encoder frozen, as usual), aggregation, head   |
//! | `frozen`       | aggregation and head only (SUPERB); the backbone runs outside autodiff           |
//! | `inner-inter`  | inner adapters (b = 32, beside MHSA and FFN of all layers) + inter (b = 64)      |
//! | `lora`         | LoRA rank 8 on the query and value maps of all layers                            |
//! | `extract`      | nothing: forward-only embedding extraction with the `inner-inter` model, batch 1 |
//! | `frozen-bf16`  | as `frozen`, the backbone in bf16 (`optim.backbone_dtype`; only with `--row`)     |
//!
//! Peak memory is the process's peak resident set (`VmHWM`), so each row runs in a fresh process (the CLI
//! spawns itself per row); it includes the program and its libraries, as PyTorch's figure does.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, ValidConfig};
use crate::device::DeviceChoice;
use crate::engine::optim::{clip_scale, GroupedOptimizer, ParamGroup};
use crate::engine::readback::{read_step, DeviceSums};
use crate::model::SpeakerModel;

/// One benchmark row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Row {
    FullFinetune,
    Frozen,
    InnerInter,
    Lora,
    Extract,
    /// `frozen` with the backbone in bf16 (`optim.backbone_dtype`): a GPU row, run only when asked for.
    FrozenBf16,
    /// Full fine-tuning through the engine with `peers` data-parallel peers (the global batch shared out), run
    /// only when asked for; `--peers 1` is its one-device baseline on the same path.
    DataParallel,
}

impl Row {
    /// The rows a plain `adaptsv bench` runs (each has a PyTorch twin in `benches/pytorch/bench_train.py`).
    pub const ALL: [Row; 5] = [Row::FullFinetune, Row::Frozen, Row::InnerInter, Row::Lora, Row::Extract];

    pub fn name(self) -> &'static str {
        match self {
            Row::FullFinetune => "full-finetune",
            Row::Frozen => "frozen",
            Row::InnerInter => "inner-inter",
            Row::Lora => "lora",
            Row::Extract => "extract",
            Row::FrozenBf16 => "frozen-bf16",
            Row::DataParallel => "data-parallel",
        }
    }

    /// What the row measures, for tables.
    pub fn label(self) -> &'static str {
        match self {
            Row::FullFinetune => "train step: full fine-tuning",
            Row::Frozen => "train step: frozen + weighted sum",
            Row::InnerInter => "train step: inner+inter adapters",
            Row::Lora => "train step: LoRA (q, v; r = 8)",
            Row::Extract => "extraction: embedding, batch 1",
            Row::FrozenBf16 => "train step: frozen, bf16 backbone",
            Row::DataParallel => "train step: full fine-tuning, data-parallel (engine)",
        }
    }

    /// The `[adaptation]` table of the row's config.
    fn adaptation(self) -> &'static str {
        match self {
            Row::FullFinetune | Row::DataParallel => "method = \"full-finetune\"\n",
            Row::Frozen | Row::FrozenBf16 => "method = \"frozen\"\n",
            Row::InnerInter | Row::Extract => {
                "method = \"adapters\"\n\
                 [adaptation.inner]\nenabled = true\nlayers = \"all\"\nposition = \"both\"\nbottleneck = 32\n\
                 [adaptation.inter]\nenabled = true\nbottleneck = 64\n"
            }
            Row::Lora => "method = \"lora\"\n[adaptation.lora]\nrank = 8\nalpha = 16.0\ntargets = [\"q\", \"v\"]\n",
        }
    }
}

/// What to measure and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSettings {
    /// Backbone preset name as configs write it (e.g. `wavlm-base-plus`).
    pub preset: String,
    /// Utterances per training step.
    pub batch: usize,
    /// Crop length in seconds (16 kHz).
    pub seconds: f64,
    /// Untimed steps first.
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
    /// Classes of the AAM-softmax (VoxCeleb1 dev has 1 211 speakers).
    pub speakers: usize,
    /// `cpu`, `wgpu:N` or `cuda:N`.
    pub device: String,
    /// Data-parallel peers of the `data-parallel` row (each `threads / peers` CPU threads).
    #[serde(default = "one_peer")]
    pub peers: usize,
}

fn one_peer() -> usize {
    1
}

impl Default for BenchSettings {
    fn default() -> Self {
        Self {
            preset: "wavlm-base-plus".into(),
            batch: 4,
            seconds: 3.0,
            warmup: 2,
            steps: 5,
            speakers: 1211,
            device: "cpu".into(),
            peers: 1,
        }
    }
}

/// The measured figures of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowResult {
    pub row: Row,
    pub label: String,
    /// Utterances per step (1 for extraction).
    pub batch: usize,
    pub seconds: f64,
    /// Every timed step (or utterance), in milliseconds.
    pub times_ms: Vec<f64>,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Utterances per second at the median.
    pub utterances_per_sec: f64,
    /// Peak resident memory of the process, in MiB (`None` where it cannot be read).
    pub peak_rss_mib: Option<f64>,
    /// On a GPU: the most device memory the allocator held after any step, in MiB (`None` on the CPU).
    #[serde(default)]
    pub peak_device_mib: Option<f64>,
    pub trainable_params: u64,
    pub total_params: u64,
    /// Where a training step's time goes, on the CPU (`None` for extraction and on a GPU, whose calls return
    /// before the work is done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases_ms: Option<StepPhases>,
}

/// A training step in its four parts, each the median over the timed steps in milliseconds: the forward to the
/// loss, the backward, the global gradient norm (read back), the optimiser update (with reading it back).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepPhases {
    pub forward: f64,
    pub backward: f64,
    pub grad_norm: f64,
    pub update: f64,
}

impl StepPhases {
    /// The median of each part over `steps` (`None` when there are none).
    fn median_of(steps: &[[f64; 4]]) -> Option<Self> {
        if steps.is_empty() {
            return None;
        }
        let part = |i: usize| {
            let mut v: Vec<f64> = steps.iter().map(|s| s[i]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        Some(Self { forward: part(0), backward: part(1), grad_norm: part(2), update: part(3) })
    }
}

/// The config a row trains (validated: a bug in these strings is caught by a test).
pub fn row_config(row: Row, settings: &BenchSettings) -> Result<ExperimentConfig, String> {
    let text = format!(
        "name = \"bench-{name}\"\ndevice = \"{device}\"\n\
         [model]\npreset = \"{preset}\"\n\
         [adaptation]\n{adaptation}\
         [aggregation]\nkind = \"weighted-sum\"\nlayer_norm = true\n\
         [head]\nkind = \"xvector\"\nembedding_dim = 256\nchannels = 256\n\
         [loss]\nkind = \"aam-softmax\"\nmargin = 0.2\nscale = 30.0\n\
         [optim]\nbatch_size = {batch}\nsegment_seconds = {seconds}\noptimizer = \"adamw\"\n\
         lr_backbone = {lr_backbone}\nlr_adapters = 5e-4\nlr_head = 5e-4\nweight_decay = 1e-4\ngrad_clip = 5.0\n\
         backbone_dtype = \"{dtype}\"\n",
        name = row.name(),
        device = settings.device,
        preset = settings.preset,
        adaptation = row.adaptation(),
        batch = settings.batch,
        seconds = settings.seconds,
        lr_backbone = if matches!(row, Row::FullFinetune | Row::DataParallel) { "5e-5" } else { "0.0" },
        dtype = if row == Row::FrozenBf16 { "bf16" } else { "f32" },
    );
    ExperimentConfig::from_toml_str(&text, &format!("benchmark row {}", row.name())).map_err(|e| e.to_string())
}

/// Runs one row in this process on the settings' device.
pub fn run_row(row: Row, settings: &BenchSettings) -> Result<RowResult, String> {
    if settings.batch == 0 || settings.steps == 0 || !(settings.seconds > 0.0) || settings.speakers < 2 {
        return Err("batch, steps and seconds must be positive and speakers at least 2".into());
    }
    if row == Row::DataParallel {
        return run_data_parallel(settings);
    }
    let config = row_config(row, settings)?
        .into_valid()
        .map_err(|p| p.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))?;
    let choice = DeviceChoice::parse(&settings.device)?;
    crate::device::probe(choice).map_err(|e| e.to_string())?;
    let job = BenchJob {
        row,
        settings,
        config: &config,
        device_bytes: &*crate::device::memory_reader(choice),
    };
    crate::device::run_autodiff(choice, job).map_err(|e| e.to_string())?
}

/// [`run_on`]'s arguments, run on the backend of the settings' device.
struct BenchJob<'a> {
    row: Row,
    settings: &'a BenchSettings,
    config: &'a ValidConfig,
    device_bytes: &'a dyn Fn() -> Option<u64>,
}

impl crate::device::OnAutodiff for BenchJob<'_> {
    type Output = Result<RowResult, String>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        run_on::<B>(self.row, self.settings, self.config, device, self.device_bytes)
    }
}

/// `device_bytes` reads the device memory the allocator holds (`None` on the CPU). It is sampled after every step,
/// outside the timed part, so the peak reported is a lower bound of the true one (memory freed within a step is
/// not seen; PyTorch's `max_memory_reserved` is an exact peak).
fn run_on<B: AutodiffBackend>(
    row: Row,
    settings: &BenchSettings,
    config: &ValidConfig,
    device: B::Device,
    device_bytes: &dyn Fn() -> Option<u64>,
) -> Result<RowResult, String> {
    let mut device_peak: Option<u64> = None;
    let sample = |peak: &mut Option<u64>| {
        if let Some(now) = device_bytes() {
            *peak = Some(peak.map_or(now, |p| p.max(now)));
        }
    };
    B::seed(&device, 0);
    let model = SpeakerModel::<B>::from_config(config, settings.speakers, &device).map_err(|e| e.to_string())?;
    let counts = crate::model::count_params(&model);
    let samples = (settings.seconds * 16_000.0).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // Each training step's parts (forward, backward, norm, update), warm-up steps included.
    let mut parts: Vec<[f64; 4]> = Vec::new();
    let (batch, times) = if row == Row::Extract {
        let model = model.valid();
        let mut one = || {
            // The input is made and placed on the device before the clock starts (as in the PyTorch reference).
            let wave: Vec<f32> = (0..samples).map(|_| rng.random_range(-0.5..0.5)).collect();
            let x = Tensor::<B::InnerBackend, 2>::from_data(TensorData::new(wave, [1, samples]), &device);
            let start = Instant::now();
            let e = model.embed(x);
            // Reading the embedding back waits for the device.
            let _ = e.into_data();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            sample(&mut device_peak);
            ms
        };
        (1, timed(settings, &mut one))
    } else {
        let mut optim = GroupedOptimizer::<B>::new(&config.optim);
        let lrs = ParamGroup::ALL.map(|g| g.base_lr(&config.optim));
        let clip = config.optim.grad_clip;
        let mut slot = Some(model);
        let n = settings.batch;
        let mut one = || {
            let model = slot.take().expect("the model is put back after every step");
            let wave: Vec<f32> = (0..n * samples).map(|_| rng.random_range(-0.5..0.5)).collect();
            let labels: Vec<i64> = (0..n).map(|_| rng.random_range(0..settings.speakers as i64)).collect();
            let x = Tensor::<B, 2>::from_data(TensorData::new(wave, [n, samples]), &device);
            let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [n]), &device);
            let start = Instant::now();
            let mut marks = [0.0; 4];
            let mut mark = |i: usize| marks[i] = start.elapsed().as_secs_f64() * 1e3;
            // The training loop's calls, in its order.
            let out = model.train_step_output(x, y);
            let mut sums = DeviceSums::<B::InnerBackend>::default();
            sums.add(vec![out.loss.clone().detach().inner(), out.accuracy.inner()]);
            mark(0);
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            mark(1);
            let norm = read_step::<B, _>(&model, &grads, &mut sums, None).grad_norm;
            mark(2);
            let scale = clip_scale(norm, clip);
            let model = optim.step(model, grads, lrs, scale);
            // Reading the layer weights back waits for the update.
            let _ = model.layer_weights();
            mark(3);
            let ms = marks[3];
            parts.push([marks[0], marks[1] - marks[0], marks[2] - marks[1], marks[3] - marks[2]]);
            sample(&mut device_peak);
            slot = Some(model);
            ms
        };
        (n, timed(settings, &mut one))
    };
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    Ok(RowResult {
        row,
        label: row.label().to_string(),
        batch,
        seconds: settings.seconds,
        median_ms: median,
        min_ms: sorted[0],
        max_ms: sorted[sorted.len() - 1],
        utterances_per_sec: batch as f64 / (median / 1e3),
        times_ms: times,
        peak_rss_mib: peak_rss_mib(),
        peak_device_mib: device_peak.map(|b| b as f64 / (1 << 20) as f64),
        trainable_params: counts.trainable as u64,
        total_params: counts.total as u64,
        // On the CPU every call returns when its work is done, so the marks between them are the parts' times.
        phases_ms: if settings.device == "cpu" {
            StepPhases::median_of(parts.get(settings.warmup..).unwrap_or(&[]))
        } else {
            None
        },
    })
}

/// The `data-parallel` row: a full fine-tuning run through the engine (loader, peers, all-reduce, events) on a
/// small synthetic corpus with `settings.peers` peers on the settings' device, `warmup + steps` optimiser steps; a
/// step's time is the gap between its `step` event and the one before. The run folder is a temporary one.
pub fn run_data_parallel(settings: &BenchSettings) -> Result<RowResult, String> {
    use crate::runs::RunEvent;
    let peers = settings.peers.max(1);
    let mut config = row_config(Row::DataParallel, settings)?;
    let dir = std::env::temp_dir().join(format!("adaptsv-bench-dp-{}", std::process::id()));
    config.output_dir = dir.clone();
    let steps = settings.warmup + settings.steps + 1;
    let s = &mut config.data.synthetic;
    s.speakers = 8;
    s.test_speakers = 2;
    s.utterances = (settings.batch * steps).div_ceil(8) + 1;
    s.seconds = settings.seconds + 0.5;
    s.trials_per_utterance = 2;
    config.optim.epochs = 1;
    config.optim.max_steps = Some(steps);
    config.optim.loader_workers = 1;
    config.eval.every_epochs = 0;
    if peers > 1 {
        config.parallel = Some(crate::config::ParallelConfig {
            devices: vec![settings.device.clone(); peers],
            ..Default::default()
        });
    }
    let outcome = crate::engine::Engine::launch(config).map_err(|e| e.to_string());
    let result = outcome.and_then(|handle| {
        let run_dir = handle.dir.clone();
        let end = handle.join();
        if end.status != crate::runs::EndStatus::Finished {
            return Err(format!("the benchmark run ended {:?}: {}", end.status, end.message));
        }
        let run = crate::runs::load_dir(&run_dir);
        let mut model = (0u64, 0u64);
        let mut stamps = Vec::new();
        for rec in &run.events {
            match &rec.event {
                RunEvent::Model { total_params, trainable_params, .. } => model = (*total_params, *trainable_params),
                RunEvent::Step { .. } => stamps.push(rec.t),
                _ => {}
            }
        }
        // The first step's time includes the first use of every kernel: the warm-up starts after it.
        let gaps: Vec<f64> = stamps.windows(2).map(|w| (w[1] - w[0]) * 1e3).collect();
        let times: Vec<f64> = gaps.into_iter().skip(settings.warmup).collect();
        Ok((times, model))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (times, (total, trainable)) = result?;
    if times.is_empty() {
        return Err("the benchmark run made too few steps to time".into());
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    Ok(RowResult {
        row: Row::DataParallel,
        label: format!("{} × {peers} peers", Row::DataParallel.label()),
        batch: settings.batch,
        seconds: settings.seconds,
        median_ms: median,
        min_ms: sorted[0],
        max_ms: sorted[sorted.len() - 1],
        utterances_per_sec: settings.batch as f64 / (median / 1e3),
        times_ms: times,
        peak_rss_mib: peak_rss_mib(),
        peak_device_mib: None,
        trainable_params: trainable,
        total_params: total,
        phases_ms: None,
    })
}

/// `warmup` calls whose times are dropped, then the times of `steps` more (each call times its own step, in
/// milliseconds, leaving out making its input and reading the device's memory).
fn timed(settings: &BenchSettings, f: &mut dyn FnMut() -> f64) -> Vec<f64> {
    for _ in 0..settings.warmup {
        f();
    }
    (0..settings.steps).map(|_| f()).collect()
}

/// The peak resident set of this process in MiB (`VmHWM` of `/proc/self/status`; Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// What adaptsv's CPU kernels come from, for benchmark reports: the matmul (the `gemm` crate, through Flex, and
/// the micro-kernel it picks for this CPU at run time), the backend, the allocator.
pub fn cpu_libraries() -> String {
    #[cfg(target_arch = "x86_64")]
    let kernel = if std::arch::is_x86_feature_detected!("avx512f") {
        "AVX-512 kernel"
    } else if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        "AVX2+FMA kernel"
    } else {
        "SSE kernel"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let kernel = "its SIMD kernel";
    format!("matmul gemm 0.19 (pure Rust, {kernel}), Burn Flex 0.21.0 (vendor/burn-flex), allocator mimalloc")
}

/// The CPU model and logical core count (`/proc/cpuinfo`), e.g. `AMD EPYC 9B14 (2 logical cores, avx512f)`.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let simd = if flags.split_whitespace().any(|f| f == "avx512f") {
        "AVX-512"
    } else if flags.split_whitespace().any(|f| f == "avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    format!("{model} ({cores} logical cores, {simd})")
}

/// `release` or `dev (deps opt-level 3, adaptsv opt-level 1)`, and the GPU features — what a figure was built
/// with.
pub fn build_profile() -> String {
    let profile = if cfg!(debug_assertions) {
        "dev profile (dependencies at opt-level 3, adaptsv at opt-level 1, debug assertions on)"
    } else {
        "release profile"
    };
    let backends = [(cfg!(feature = "wgpu"), "wgpu"), (cfg!(feature = "cuda"), "cuda")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>();
    let gpu = match (backends.is_empty(), cfg!(feature = "burn-fusion")) {
        (true, _) => String::new(),
        (false, true) => format!(", features {} + Burn fusion/autotune", backends.join(" + ")),
        (false, false) => format!(", features {} (Burn fusion/autotune off)", backends.join(" + ")),
    };
    format!("{profile}{gpu}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackboneDType;

    #[test]
    fn every_row_config_is_valid_and_trains_what_it_says() {
        let settings = BenchSettings::default();
        for row in Row::ALL.into_iter().chain([Row::FrozenBf16]) {
            let config = row_config(row, &settings).unwrap_or_else(|e| panic!("{}: {e}", row.name()));
            assert_eq!(config.optim.batch_size, 4);
        }
        let lora = row_config(Row::Lora, &settings).unwrap();
        assert_eq!(lora.adaptation.lora.rank, 8);
        assert_eq!(row_config(Row::FrozenBf16, &settings).unwrap().optim.backbone_dtype, BackboneDType::Bf16);
        assert_eq!(row_config(Row::Frozen, &settings).unwrap().optim.backbone_dtype, BackboneDType::F32);
    }

    #[test]
    fn a_tiny_row_runs_and_reports_its_steps() {
        let settings = BenchSettings {
            preset: "wavlm-tiny".into(),
            batch: 2,
            seconds: 0.5,
            warmup: 1,
            steps: 2,
            speakers: 5,
            device: "cpu".into(),
            peers: 1,
        };
        for peers in [1, 2] {
            let r = run_row(Row::DataParallel, &BenchSettings { peers, ..settings.clone() }).unwrap();
            assert_eq!(r.times_ms.len(), 2, "{peers} peers");
            assert!(r.median_ms > 0.0 && r.label.contains(&format!("{peers} peers")), "{}", r.label);
        }
        for row in [Row::InnerInter, Row::Extract, Row::FrozenBf16] {
            let r = run_row(row, &settings).unwrap();
            assert_eq!(r.times_ms.len(), 2);
            assert!(r.median_ms > 0.0 && r.utterances_per_sec > 0.0);
            assert!(r.trainable_params > 0 && r.trainable_params < r.total_params);
        }
        let err = run_row(Row::Frozen, &BenchSettings { batch: 0, ..settings }).unwrap_err();
        assert!(err.contains("positive"), "{err}");
    }
}
