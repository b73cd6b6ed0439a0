//! The GPU path, run: Burn's wgpu backend (CubeCL kernels, the compiler stack CUDA shares) on `wgpu:0`. In CI
//! that adapter is Mesa's lavapipe (software Vulkan on the CPU; `.ci/run` installs `mesa-vulkan-drivers`), so the
//! code a GPU run takes where Flex takes a host path (`host_conv`, `gelu`: Burn's own conv, norm and GELU there)
//! runs on every commit, and so do the commands that take a device: `train` (with a stop and a resume),
//! `pretrain`, `eval --run`, `embed` and `features`. Shapes are tiny and the tests share one process, so compiled
//! kernels are shared.
//!
//! Tolerances: hidden states within 1e-4 of `transformers`, as on Flex. One training step against Flex: the loss
//! within 1e-4 relative and each gradient within 1e-3 of its scale (its largest value, or 1e-2 of the model's
//! largest gradient for a gradient that is only rounding noise). Both sides are f32; what differs is the order of
//! every reduction (matmul tiling, softmax and norm sums, the GELU's erf: Flex's host GELU uses a polynomial,
//! CubeCL the shader's `erf`), each a few ulps, compounded through the layers, a head and the backward pass. The
//! largest differences seen are printed by the test (see docs/gpu.md).

use std::path::{Path, PathBuf};
use std::time::Instant;

use adaptsv::cli::features::{run as features, FeaturesArgs};
use adaptsv::config::ExperimentConfig;
use adaptsv::data::audio::load_audio;
use adaptsv::device::{probe, DeviceChoice, WgpuBackend};
use adaptsv::engine::embed_audio::{embed_with_run, AudioSource};
use adaptsv::engine::evaluate::{evaluate_run, EvalData};
use adaptsv::engine::optim::{GroupedOptimizer, ParamGroup};
use adaptsv::engine::Engine;
use adaptsv::model::backbone::load_backbone;
use adaptsv::model::{snapshot_grads, snapshot_params, SpeakerModel};
use adaptsv::runs::{load_dir, EndStatus, RunEvent, RunStatus};
use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use burn::store::ModuleSnapshot;
use burn::tensor::backend::{AutodiffBackend, Backend as _};
use burn::tensor::{Distribution, ElementConversion, Int, Tensor, TensorData};

type W = WgpuBackend;

/// `wgpu:0`, probed; a clear failure naming what to install when there is none.
fn device() -> WgpuDevice {
    if let Err(e) = probe(DeviceChoice::Wgpu(0)) {
        panic!(
            "the wgpu tests need a Vulkan driver (Debian: mesa-vulkan-drivers libvulkan1, as .ci/run installs): {e}"
        );
    }
    adaptsv::device::wgpu_device(0).unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backbone")
}

/// The `transformers` hidden states of a fixture, by index (`hidden_states.{i}`).
fn reference(variant: &str) -> Vec<(usize, Vec<usize>, Vec<f32>)> {
    crate::backbone::read_f32_safetensors(&fixtures().join(variant).join("reference.safetensors"))
        .into_iter()
        .filter_map(|(name, (shape, values))| {
            let i = name.strip_prefix("hidden_states.")?.parse().ok()?;
            Some((i, shape, values))
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn wgpu_hidden_states_match_transformers() {
    let t0 = Instant::now();
    let device = device();
    for variant in ["wavlm_base", "hubert_base", "wav2vec2_large", "wavlm_large"] {
        let model = load_backbone::<W>(&fixtures().join(variant), &device).unwrap();
        let samples = load_audio(&fixtures().join("probe.wav")).unwrap();
        let n = samples.len();
        let states = model.forward(Tensor::from_data(TensorData::new(samples, [1, n]), &device));
        let mut worst = 0.0f32;
        for (i, shape, values) in reference(variant) {
            let name = format!("hidden_states.{i}");
            assert_eq!(states[i].dims().to_vec(), shape, "{variant} {name}");
            let got = states[i].clone().into_data().into_vec::<f32>().unwrap();
            let d = max_abs_diff(&got, &values);
            assert!(d < 1e-4, "{variant} {name} on wgpu: max abs diff {d}");
            worst = worst.max(d);
        }
        println!("wgpu {variant}: every hidden state within {worst:.2e} of transformers");
    }
    println!("wgpu parity: {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn the_features_command_on_wgpu_matches_transformers() {
    let _ = device();
    let t0 = Instant::now();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("h.safetensors");
    let args = FeaturesArgs {
        model: fixtures().join("wavlm_base"),
        wav: fixtures().join("probe.wav"),
        out: out.clone(),
        device: "wgpu:0".into(),
    };
    features(&args).unwrap();
    let written = crate::backbone::read_f32_safetensors(&out);
    let reference = reference("wavlm_base");
    assert_eq!(written.len(), reference.len());
    for (i, shape, values) in reference {
        let (got_shape, got) = &written[&format!("hidden_states.{i}")];
        assert_eq!(got_shape, &shape, "hidden state {i}");
        let d = max_abs_diff(got, &values);
        assert!(d < 1e-4, "hidden state {i}: {d}");
    }
    println!("adaptsv features --device wgpu:0: {:.1} s", t0.elapsed().as_secs_f64());
}

/// The tiny WavLM with a small head; `extra` TOML appended.
fn config(extra: &str) -> ExperimentConfig {
    let head = if extra.contains("[head]") {
        ""
    } else {
        "[head]\nembedding_dim = 16\nchannels = 16\n"
    };
    let text = format!("name = \"t\"\n[model]\npreset = \"wavlm-tiny\"\n{head}{extra}");
    ExperimentConfig::from_toml_str(&text, "test").unwrap_or_else(|e| panic!("{e}"))
}

/// Every method, and the heads and aggregation on the inner+inter adapters.
const CASES: [(&str, &str); 13] = [
    ("inner+inter", "[adaptation]\nmethod = \"adapters\"\n[adaptation.inner]\nbottleneck = 8\n[adaptation.inter]\nbottleneck = 8\n"),
    ("inner only", "[adaptation]\nmethod = \"adapters\"\ninner = { bottleneck = 8 }\ninter = { enabled = false }\n"),
    ("inter only", "[adaptation]\nmethod = \"adapters\"\ninner = { enabled = false }\ninter = { bottleneck = 8 }\n"),
    ("houlsby", "[adaptation]\nmethod = \"houlsby\"\ninner = { enabled = false }\ninter = { enabled = false }\nhoulsby = { bottleneck = 8 }\n"),
    ("lora", "[adaptation]\nmethod = \"lora\"\ninner = { enabled = false }\ninter = { enabled = false }\nlora = { rank = 4, targets = [\"q\", \"k\", \"v\", \"out\", \"ffn-in\", \"ffn-out\"] }\n"),
    ("prefix", "[adaptation]\nmethod = \"prefix\"\ninner = { enabled = false }\ninter = { enabled = false }\nprefix = { length = 4, layers = \"3-4\" }\n"),
    ("bitfit", "[adaptation]\nmethod = \"bitfit\"\ninner = { enabled = false }\ninter = { enabled = false }\n"),
    ("partial top-1", "[adaptation]\nmethod = \"partial-finetune\"\npartial_top_k = 1\ninner = { enabled = false }\ninter = { enabled = false }\n"),
    ("full fine-tuning", "[adaptation]\nmethod = \"full-finetune\"\ninner = { enabled = false }\ninter = { enabled = false }\n"),
    ("frozen", "[adaptation]\nmethod = \"frozen\"\ninner = { enabled = false }\ninter = { enabled = false }\n"),
    ("ecapa head", "[head]\nkind = \"ecapa\"\nembedding_dim = 16\nchannels = 16\n"),
    ("mhfa head", "[head]\nkind = \"mhfa\"\nembedding_dim = 16\nchannels = 16\n"),
    ("mean aggregation", "[aggregation]\nkind = \"mean\"\n"),
];

/// One training step of `model` on `x`, `y` with the engine's optimiser (AdamW per parameter group, the config's
/// learning rates): the loss, the gradients and the parameters after the update, by parameter path.
fn step<B: AutodiffBackend>(
    model: SpeakerModel<B>,
    config: &ExperimentConfig,
    x: Tensor<B, 2>,
    y: Tensor<B, 1, Int>,
) -> (f64, Vec<(String, Vec<f32>)>, Vec<adaptsv::model::ParamSnapshot>) {
    let out = model.train_step_output(x, y);
    let loss: f64 = out.loss.clone().into_scalar().elem();
    let grads = GradientsParams::from_grads(out.loss.backward(), &model);
    let snapshot = snapshot_grads(&model, &grads);
    let lrs = ParamGroup::ALL.map(|g| g.base_lr(&config.optim));
    let model = GroupedOptimizer::<B>::new(&config.optim).step(model, grads, lrs, 1.0);
    (loss, snapshot, snapshot_params(&model))
}

#[test]
fn one_training_step_on_wgpu_matches_flex_for_every_method_head_and_aggregation() {
    type F = Autodiff<Flex>;
    type G = Autodiff<W>;
    let t0 = Instant::now();
    let gpu = device();
    let cpu = Default::default();
    let mut report = Vec::new();
    for (name, extra) in CASES {
        let c = config(extra);
        F::seed(&cpu, 11);
        let on_cpu = SpeakerModel::<F>::from_config(&c.clone().into_valid().unwrap(), 4, &cpu).unwrap();
        // The same weights on the GPU: Flex's values, applied by path.
        let mut on_gpu = SpeakerModel::<G>::from_config(&c.clone().into_valid().unwrap(), 4, &gpu).unwrap();
        let applied = on_gpu.apply(on_cpu.collect(None, None, false), None, None, false);
        assert!(
            applied.errors.is_empty() && applied.missing.is_empty(),
            "{name}: {applied:?}"
        );
        let trains = |m: &Vec<adaptsv::model::ParamSnapshot>| {
            m.iter().map(|p| (p.path.clone(), p.trainable)).collect::<Vec<_>>()
        };
        assert_eq!(
            trains(&snapshot_params(&on_cpu)),
            trains(&snapshot_params(&on_gpu)),
            "{name}: what trains"
        );

        let x: Tensor<Flex, 2> = Tensor::random([4, 6400], Distribution::Normal(0.0, 0.1), &cpu);
        let wave = x.into_data();
        let labels = TensorData::from([0i64, 1, 2, 3]);
        let (loss_cpu, grads_cpu, after_cpu) = step(
            on_cpu,
            &c,
            Tensor::from_data(wave.clone(), &cpu),
            Tensor::from_data(labels.clone(), &cpu),
        );
        let (loss_gpu, grads_gpu, after_gpu) = step(
            on_gpu,
            &c,
            Tensor::from_data(wave, &gpu),
            Tensor::from_data(labels, &gpu),
        );

        let loss_rel = (loss_cpu - loss_gpu).abs() / loss_cpu.abs().max(1e-12);
        assert!(loss_rel < 1e-4, "{name}: loss {loss_cpu} on Flex, {loss_gpu} on wgpu");
        let paths = |g: &Vec<(String, Vec<f32>)>| g.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(
            paths(&grads_cpu),
            paths(&grads_gpu),
            "{name}: the same parameters get gradients"
        );
        assert!(!grads_cpu.is_empty(), "{name}: no gradient");
        let largest = |g: &[f32]| g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let global = grads_cpu.iter().map(|(_, g)| largest(g)).fold(0.0f32, f32::max);
        let mut worst = (0.0f32, String::new());
        for ((path, a), (_, b)) in grads_cpu.iter().zip(&grads_gpu) {
            // A gradient that is rounding noise (a bias before a softmax over time is shift-invariant, so its
            // true gradient is 0) is held to 1e-2 of the model's largest gradient instead of its own.
            let scale = largest(a).max(1e-2 * global).max(1e-12);
            let rel = max_abs_diff(a, b) / scale;
            assert!(
                rel < 1e-3,
                "{name}: gradient of {path} differs by {rel:.2e} of its scale {scale:.2e}"
            );
            if rel > worst.0 {
                worst = (rel, path.clone());
            }
        }
        // After AdamW's first step (a move of lr × g / (|g| + eps) per element, about lr in the gradient's
        // sign): every parameter within 2 lr of its CPU value, and all but a few elements within 1e-5 — those
        // whose gradient is near 0 (rounding noise, as above), where the two backends' signs may differ.
        let lr = ParamGroup::ALL.iter().map(|g| g.base_lr(&c.optim)).fold(0.0, f64::max) as f32;
        let (mut far, mut total) = (0usize, 0usize);
        for (a, b) in after_cpu.iter().zip(&after_gpu) {
            assert_eq!(a.path, b.path);
            let d = max_abs_diff(&a.values, &b.values);
            assert!(
                d <= 2.0 * lr + 1e-5,
                "{name}: {} after one AdamW step differs by {d}",
                a.path
            );
            far += a
                .values
                .iter()
                .zip(&b.values)
                .filter(|(x, y)| (*x - *y).abs() > 1e-5)
                .count();
            total += a.values.len();
        }
        let far_share = far as f64 / total as f64;
        assert!(
            far_share < 1e-3,
            "{name}: {far} of {total} parameters differ by more than 1e-5 after AdamW"
        );
        report.push(format!(
            "{name}: loss rel {loss_rel:.1e}, {} gradients, worst {:.1e} ({}); after AdamW {far} of {total} parameters \
             differ by > 1e-5",
            grads_cpu.len(),
            worst.0,
            worst.1
        ));
    }
    println!("one step on wgpu vs Flex:\n  {}", report.join("\n  "));
    println!(
        "wgpu vs Flex, {} cases: {:.1} s",
        CASES.len(),
        t0.elapsed().as_secs_f64()
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn epoch_losses(dir: &Path) -> Vec<f64> {
    load_dir(dir)
        .events
        .iter()
        .filter_map(|r| match r.event {
            RunEvent::Epoch { loss, .. } => Some(loss),
            _ => None,
        })
        .collect()
}

#[test]
fn a_tiny_run_on_wgpu_trains_stops_resumes_and_evaluates() {
    let _ = device();
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut config = crate::train::tiny_config(tmp.path());
    config.device = "wgpu:0".into();
    config.optim.epochs = 6;
    config.eval.every_epochs = 3;
    let handle = Engine::launch(config).unwrap();
    let dir = handle.dir.clone();
    for rec in handle.events().iter() {
        if let RunEvent::Step { step: 3, .. } = rec.event {
            handle.stop();
        }
    }
    let stopped = handle.join();
    assert_eq!(stopped.status, EndStatus::Stopped, "{}", stopped.message);
    let resumed = Engine::resume(&dir).unwrap().join();
    assert_eq!(resumed.status, EndStatus::Finished, "{}", resumed.message);
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Finished);
    assert!(run
        .events
        .iter()
        .any(|r| matches!(&r.event, RunEvent::Started { device, .. } if device.contains("wgpu:0"))));
    assert!(run
        .events
        .iter()
        .any(|r| matches!(r.event, RunEvent::LayerWeights { .. })));
    // The stop is obeyed between optimiser steps: at step 3 or soon after.
    assert!(run
        .events
        .iter()
        .any(|r| matches!(r.event, RunEvent::Resumed { step: 3.., .. })));
    assert_eq!(run.summary.steps, 36);

    // Learns as the CPU run of `train::training_lowers_the_loss…` does (the initial weights differ: each backend
    // draws its own from the seed).
    let losses = epoch_losses(&dir);
    assert_eq!(losses.len(), 6);
    assert!(
        losses[5] < 0.8 * losses[0],
        "the mean loss per epoch falls on wgpu: {losses:?}"
    );
    let eer = run.summary.eer.expect("the run evaluated itself at the end");

    // `adaptsv eval --run DIR --device wgpu:0` scores the same checkpoint the same way.
    let again = evaluate_run(&dir, &EvalData::default(), DeviceChoice::Wgpu(0), &mut |_, _, _, _| {}).unwrap();
    let eer_again = again.result.metrics.eer.rate;
    assert!(
        (eer_again - eer).abs() < 1e-9,
        "eval --run on wgpu: {eer_again} vs the run's {eer}"
    );

    // `adaptsv embed --run DIR FILE… --device wgpu:0` gives the CPU's embeddings of the same checkpoint.
    let mut wavs: Vec<PathBuf> = walk(&dir.join("data/synthetic/test"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    wavs.sort();
    wavs.truncate(3);
    assert_eq!(wavs.len(), 3);
    let embed = |device| {
        embed_with_run(&dir, &AudioSource::Files(wavs.clone()), None, device, &mut |_, _, _, _| {}).unwrap()
    };
    let (on_gpu, on_cpu) = (embed(DeviceChoice::Wgpu(0)), embed(DeviceChoice::Cpu));
    assert_eq!(on_gpu.embeddings.len(), 3);
    for (id, g) in &on_gpu.embeddings {
        let c = &on_cpu.embeddings[id];
        let norm = c.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(max_abs_diff(g, c) < 1e-4 * norm.max(1.0), "{id}: embeddings differ between wgpu and the CPU");
    }
    println!(
        "tiny run on wgpu:0 (stopped at step 3, resumed): epoch losses {losses:.3?}, EER {:.1} %; {:.1} s",
        eer * 100.0,
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn a_tiny_pretraining_run_on_wgpu_trains_and_exports_a_backbone() {
    let _ = device();
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut config = crate::train::tiny_config(tmp.path());
    config.name = "pre".into();
    config.device = "wgpu:0".into();
    config.optim.epochs = 1;
    config.optim.lr_backbone = 1e-3;
    config.pretrain = Some(crate::pretrain::tiny_pretraining(None, "f32"));
    let handle = Engine::launch(config).unwrap();
    let dir = handle.dir.clone();
    let outcome = handle.join();
    assert_eq!(outcome.status, EndStatus::Finished, "{}", outcome.message);
    let run = load_dir(&dir);
    let steps: Vec<(f64, f64)> = run
        .events
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::Step { loss, accuracy, .. } => Some((*loss, accuracy.unwrap_or(-1.0))),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 6);
    assert!(steps.iter().all(|(l, a)| l.is_finite() && (0.0..=1.0).contains(a)), "{steps:?}");
    // The exported backbone loads (on the GPU too).
    let backbone = load_backbone::<W>(&dir.join("backbone"), &device()).unwrap();
    assert_eq!(backbone.num_layers(), 4);
    let losses: Vec<f64> = steps.iter().map(|s| s.0).collect();
    println!("tiny pre-training on wgpu:0: 6 steps, masked losses {losses:.3?}; {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn bf16_on_wgpu_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = crate::train::tiny_config(tmp.path());
    config.device = "wgpu:0".into();
    config.adaptation.method = adaptsv::config::Method::Frozen;
    config.optim.backbone_dtype = adaptsv::config::BackboneDType::Bf16;
    let e = Engine::launch(config).err().expect("bf16 on wgpu must be refused");
    let text = e.to_string();
    assert!(
        text.contains("optim.backbone_dtype") && text.contains("no bf16"),
        "{text}"
    );
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "no run folder is made"
    );
}
