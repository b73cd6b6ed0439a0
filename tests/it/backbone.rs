//! Parity of the Burn backbones with HF `transformers` on the tiny fixtures made by
//! `tests/fixtures/backbone/make_fixtures.py`, the loader's key accounting and errors, the per-layer API and
//! the adapter hooks, and the `features` CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use adaptsv::cli::features::{run, FeaturesArgs};
use adaptsv::data::audio::load_audio;
use adaptsv::model::backbone::{
    load_backbone, load_backbone_with_report, LayerHooks, NoHooks, Projection, SslBackbone,
};
use burn::backend::Flex;
use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

type B = Flex;

/// Every fixture variant (see make_fixtures.py for what each covers).
const VARIANTS: [&str; 4] = ["wavlm_base", "hubert_base", "wav2vec2_large", "wavlm_large"];
const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backbone")
}

/// name → (shape, values) of an f32 safetensors file.
pub fn read_f32_safetensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name.to_string(), (view.shape().to_vec(), values))
        })
        .collect()
}

fn probe() -> Tensor<B, 2> {
    let samples = load_audio(&fixtures().join("probe.wav")).unwrap();
    let n = samples.len();
    Tensor::from_data(TensorData::new(samples, [1, n]), &Default::default())
}

/// Largest absolute difference between a tensor and reference values of the same shape.
fn max_abs_diff(t: Tensor<B, 3>, reference: &(Vec<usize>, Vec<f32>), what: &str) -> f32 {
    assert_eq!(t.dims().to_vec(), reference.0, "{what}: shape");
    let got = t.into_data().into_vec::<f32>().unwrap();
    got.iter()
        .zip(&reference.1)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn load(variant: &str) -> SslBackbone<B> {
    load_backbone::<B>(&fixtures().join(variant), &Default::default()).unwrap()
}

#[test]
fn every_hidden_state_matches_transformers() {
    for variant in VARIANTS {
        let model = load(variant);
        let reference = read_f32_safetensors(&fixtures().join(variant).join("reference.safetensors"));
        let wave = probe();
        let states = model.forward(wave.clone());
        assert_eq!(states.len(), model.num_layers() + 1, "{variant}");
        let mut worst = (0.0f32, String::new());
        let mut check = |t: Tensor<B, 3>, key: &str| {
            let r = reference
                .get(key)
                .unwrap_or_else(|| panic!("{variant}: reference lacks {key}"));
            let d = max_abs_diff(t, r, &format!("{variant} {key}"));
            assert!(d < TOLERANCE, "{variant} {key}: max abs diff {d}");
            if d >= worst.0 {
                worst = (d, key.to_string());
            }
        };
        check(model.extract_features(wave), "conv_features");
        let last = states.last().cloned().unwrap();
        for (i, s) in states.into_iter().enumerate() {
            check(s, &format!("hidden_states.{i}"));
        }
        if reference.contains_key("last_hidden_state") {
            check(model.last_hidden_state(last.clone()), "last_hidden_state");
            // transformers 4.x convention: the last hidden state carries the final layer norm.
            let v4 = model.with_final_layer_norm(vec![last]);
            check(v4[0].clone(), "last_hidden_state");
        }
        println!("{variant}: worst max abs diff {:.2e} ({})", worst.0, worst.1);
    }
}

#[test]
fn batch_rows_are_independent() {
    let model = load("wavlm_base");
    let reference = read_f32_safetensors(&fixtures().join("wavlm_base/reference.safetensors"));
    let wave = probe();
    let batch = Tensor::cat(vec![wave.clone(), wave], 0); // [2, samples]
    let states = model.forward(batch);
    for (i, s) in states.into_iter().enumerate() {
        let [_, t, h] = s.dims();
        for row in 0..2 {
            let r = s.clone().narrow(0, row, 1);
            let d = max_abs_diff(r, &reference[&format!("hidden_states.{i}")], "batch row");
            assert!(d < TOLERANCE, "row {row} state {i} [{t}, {h}]: {d}");
        }
    }
}

#[test]
fn every_checkpoint_key_is_used_or_knowingly_skipped() {
    let expected_skips: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::from([
        ("wavlm_base", BTreeSet::from(["masked_spec_embed"])),
        (
            "hubert_base",
            BTreeSet::from([
                "final_proj.bias",
                "final_proj.weight",
                "hubert.masked_spec_embed",
                "label_embeddings_concat",
            ]),
        ),
        (
            "wav2vec2_large",
            BTreeSet::from([
                "project_hid.bias",
                "project_hid.weight",
                "project_q.bias",
                "project_q.weight",
                "quantizer.codevectors",
                "quantizer.weight_proj.bias",
                "quantizer.weight_proj.weight",
                "wav2vec2.masked_spec_embed",
            ]),
        ),
        (
            "wavlm_large",
            BTreeSet::from([
                "classifier.bias",
                "classifier.weight",
                "projector.bias",
                "projector.weight",
                "wavlm.masked_spec_embed",
            ]),
        ),
    ]);
    for variant in VARIANTS {
        let (model, report) = load_backbone_with_report::<B>(&fixtures().join(variant), &Default::default()).unwrap();
        let skipped: BTreeSet<&str> = report.skipped.iter().map(String::as_str).collect();
        assert_eq!(skipped, expected_skips[variant], "{variant}");
        assert!(report.used.is_disjoint(&report.skipped), "{variant}");
        let accounted: BTreeSet<String> = report.used.union(&report.skipped).cloned().collect();
        if variant == "wavlm_large" {
            // pytorch_model.bin: the key list written by make_fixtures.py from torch's own state dict.
            let keys = std::fs::read_to_string(fixtures().join(variant).join("keys.txt")).unwrap();
            let all: BTreeSet<String> = keys.lines().map(String::from).collect();
            assert_eq!(all, accounted, "{variant}: every key used or knowingly skipped");
            continue;
        }
        let bytes = std::fs::read(&report.weights_path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let all: BTreeSet<String> = st.names().into_iter().map(String::from).collect();
        assert_eq!(all, accounted, "{variant}: every key used or knowingly skipped");
        // Every model parameter came from the file: one key per parameter tensor, except the positional conv
        // weight, folded from g (not counted) and v.
        let params = model.num_params();
        let used_values: usize = report
            .used
            .iter()
            .filter(|k| !k.ends_with("pos_conv_embed.conv.weight_g") && !k.ends_with("weight.original0"))
            .map(|k| st.tensor(k).unwrap().shape().iter().product::<usize>())
            .sum();
        assert_eq!(used_values, params, "{variant}: parameters filled from the checkpoint");
    }
}

/// Copies a fixture to a temp dir with its safetensors edited by `edit` (name → (shape, values)).
fn edited_copy(variant: &str, edit: impl FnOnce(&mut BTreeMap<String, (Vec<usize>, Vec<f32>)>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join(variant);
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let mut tensors = read_f32_safetensors(&src.join("model.safetensors"));
    edit(&mut tensors);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(k, (shape, v))| (k, shape, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(k, shape, b)| (k.clone(), TensorView::new(Dtype::F32, shape.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &dir.path().join("model.safetensors")).unwrap();
    dir
}

#[test]
fn a_checkpoint_that_does_not_fit_names_every_bad_key() {
    let dir = edited_copy("wavlm_base", |t| {
        let w = t
            .get_mut("encoder.layers.1.feed_forward.intermediate_dense.weight")
            .unwrap();
        w.0 = vec![63, 32];
        w.1.truncate(63 * 32);
        t.remove("encoder.layers.0.attention.rel_attn_embed.weight");
        t.insert(
            "encoder.layers.0.attention.bogus.weight".into(),
            (vec![2], vec![0.0, 1.0]),
        );
    });
    let err = load_backbone::<B>(dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(
        err.contains("encoder.layers.1.feed_forward.intermediate_dense.weight has shape [63, 32]"),
        "{err}"
    );
    assert!(
        err.contains("missing key encoder.layers.0.attention.rel_attn_embed.weight"),
        "{err}"
    );
    assert!(
        err.contains("unexpected key encoder.layers.0.attention.bogus.weight"),
        "{err}"
    );
}

#[test]
fn missing_weights_and_unsupported_configs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(fixtures().join("hubert_base/config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), &config).unwrap();
    let err = load_backbone::<B>(dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.safetensors or pytorch_model.bin"), "{err}");

    let bad = config.replace("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"swish\"");
    assert_ne!(bad, config);
    std::fs::write(dir.path().join("config.json"), bad).unwrap();
    let err = load_backbone::<B>(dir.path(), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("hidden_act is \"swish\""), "{err}");
}

#[test]
fn too_short_input_is_an_error_not_a_panic() {
    let model = load("hubert_base");
    // Conv stack (10,5), (3,2), (3,2) needs 10 + 5 * (2 + 2 * 2) = 40 samples for one frame.
    assert!(model.check_input_len(40).is_ok());
    let err = model.check_input_len(39).unwrap_err().to_string();
    assert!(err.contains("at least 40"), "{err}");
}

#[test]
fn the_layer_by_layer_api_reproduces_forward() {
    for variant in ["wavlm_base", "wav2vec2_large"] {
        let model = load(variant);
        let wave = probe();
        let full = model.forward(wave.clone());
        let x = model.project_features(model.extract_features(wave));
        let mut x = model.embed(x);
        let bias = model.position_bias(x.dims()[1], &x.device());
        assert_eq!(bias.is_some(), variant.starts_with("wavlm"));
        for i in 0..model.num_layers() {
            x = model.forward_layer(i, x, bias.as_ref(), &NoHooks);
            let d = max_abs_diff(
                x.clone(),
                &(
                    full[i + 1].dims().to_vec(),
                    full[i + 1].clone().into_data().into_vec().unwrap(),
                ),
                "layer",
            );
            assert_eq!(d, 0.0, "{variant} layer {i}");
        }
    }
}

/// Adds `shift` to the output of `layer` and a zero branch beside every attention and FFN.
struct ShiftLayer {
    layer: usize,
    shift: f32,
}

impl LayerHooks<B> for ShiftLayer {
    fn beside_attention(&self, _layer: usize, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        Some(input.zeros_like())
    }
    fn beside_feed_forward(&self, _layer: usize, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        Some(input.zeros_like())
    }
    fn after_layer(&self, layer: usize, output: Tensor<B, 3>) -> Tensor<B, 3> {
        if layer == self.layer {
            output + self.shift
        } else {
            output
        }
    }
}

#[test]
fn hooks_act_where_documented() {
    let model = load("wavlm_base");
    let reference = read_f32_safetensors(&fixtures().join("wavlm_base/reference.safetensors"));
    let states = model.forward_with_hooks(probe(), &ShiftLayer { layer: 1, shift: 0.5 });
    // Zero branches change nothing; the shift lands exactly on hidden_states[2] and changes what follows.
    for i in 0..2 {
        assert!(max_abs_diff(states[i].clone(), &reference[&format!("hidden_states.{i}")], "hook") < TOLERANCE);
    }
    let (shape, values) = &reference["hidden_states.2"];
    let shifted: Vec<f32> = values.iter().map(|v| v + 0.5).collect();
    assert!(max_abs_diff(states[2].clone(), &(shape.clone(), shifted), "shifted") < TOLERANCE);
    assert!(max_abs_diff(states[3].clone(), &reference["hidden_states.3"], "after") > 1e-2);
}

#[test]
fn features_cli_writes_every_hidden_state() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("h.safetensors");
    let args = FeaturesArgs {
        model: fixtures().join("wavlm_large"),
        wav: fixtures().join("probe.wav"),
        out: out.clone(),
        device: "cpu".into(),
    };
    run(&args).unwrap();
    let written = read_f32_safetensors(&out);
    let reference = read_f32_safetensors(&fixtures().join("wavlm_large/reference.safetensors"));
    assert_eq!(written.len(), 3);
    for (key, (shape, values)) in &written {
        let (rshape, rvalues) = &reference[key];
        assert_eq!(shape, rshape, "{key}");
        let d = values
            .iter()
            .zip(rvalues)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d < TOLERANCE, "{key}: {d}");
    }
}

/// Adds a fixed vector (`c * [0, 1, …, hidden - 1] / hidden`, not a constant, which a layer norm would erase)
/// to the attention output of every layer, either as a LoRA-style delta on the output projection or as a branch
/// beside attention: the two hook points must agree.
struct AddToAttention {
    c: f32,
    via_projection: bool,
}

impl AddToAttention {
    fn delta(&self, like: &Tensor<B, 3>) -> Tensor<B, 3> {
        let d = like.dims()[2];
        let ramp: Vec<f32> = (0..d).map(|i| self.c * i as f32 / d as f32).collect();
        like.zeros_like() + Tensor::<B, 1>::from_data(TensorData::new(ramp, [d]), &like.device()).reshape([1, 1, d])
    }
}

impl LayerHooks<B> for AddToAttention {
    fn beside_attention(&self, _layer: usize, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        (!self.via_projection).then(|| self.delta(input))
    }
    fn beside_projection(&self, _layer: usize, p: Projection, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        (self.via_projection && p == Projection::Out).then(|| self.delta(input))
    }
}

#[test]
fn projection_and_attention_hooks_agree() {
    let model = load("hubert_base");
    let reference = read_f32_safetensors(&fixtures().join("hubert_base/reference.safetensors"));
    let a = model.forward_with_hooks(
        probe(),
        &AddToAttention {
            c: 0.3,
            via_projection: true,
        },
    );
    let b = model.forward_with_hooks(
        probe(),
        &AddToAttention {
            c: 0.3,
            via_projection: false,
        },
    );
    for (i, (x, y)) in a.into_iter().zip(b).enumerate() {
        let y_ref = (y.dims().to_vec(), y.into_data().into_vec::<f32>().unwrap());
        assert!(max_abs_diff(x.clone(), &y_ref, "hooks") < 1e-5, "state {i}");
        if i > 0 {
            assert!(
                max_abs_diff(x, &reference[&format!("hidden_states.{i}")], "changed") > 1e-2,
                "state {i}"
            );
        }
    }
}

/// Prefix keys and values for one layer only.
struct Prefix {
    layer: usize,
}

impl LayerHooks<B> for Prefix {
    fn attention_prefix(&self, layer: usize) -> Option<(Tensor<B, 3>, Tensor<B, 3>)> {
        (layer == self.layer).then(|| {
            let device = Default::default();
            let keys = Tensor::<B, 3>::ones([1, 3, 32], &device);
            (keys.clone(), keys * 2.0)
        })
    }
}

#[test]
fn attention_prefix_changes_only_its_layer_and_after() {
    for variant in ["wavlm_base", "hubert_base"] {
        let model = load(variant);
        let reference = read_f32_safetensors(&fixtures().join(variant).join("reference.safetensors"));
        let states = model.forward_with_hooks(probe(), &Prefix { layer: 1 });
        for (i, s) in states.into_iter().enumerate() {
            let d = max_abs_diff(s, &reference[&format!("hidden_states.{i}")], "prefix");
            if i <= 1 {
                assert!(d < TOLERANCE, "{variant} state {i} changed by a prefix in layer 1: {d}");
            } else {
                assert!(d > 1e-3 && d.is_finite(), "{variant} state {i} unchanged: {d}");
            }
        }
    }
}

/// A learnable "inter" adapter in its simplest form: a bias added to every layer's output.
struct LearnedShift {
    shift: Tensor<burn::backend::Autodiff<Flex>, 3>,
}

impl LayerHooks<burn::backend::Autodiff<Flex>> for LearnedShift {
    fn after_layer(
        &self,
        _layer: usize,
        output: Tensor<burn::backend::Autodiff<Flex>, 3>,
    ) -> Tensor<burn::backend::Autodiff<Flex>, 3> {
        output + self.shift.clone()
    }
}

#[test]
fn gradients_reach_adapter_parameters_through_a_frozen_backbone() {
    type AD = burn::backend::Autodiff<Flex>;
    let device = Default::default();
    let model = load_backbone::<AD>(&fixtures().join("wavlm_base"), &device)
        .unwrap()
        .no_grad();
    let samples = load_audio(&fixtures().join("probe.wav")).unwrap();
    let n = samples.len();
    let wave = Tensor::<AD, 2>::from_data(TensorData::new(samples, [1, n]), &device);
    let ramp: Vec<f32> = (0..32).map(|i| i as f32 / 32.0).collect();
    let shift = Tensor::<AD, 1>::from_data(TensorData::new(ramp, [32]), &device)
        .reshape([1, 1, 32])
        .require_grad();
    let hooks = LearnedShift { shift: shift.clone() };
    let states = model.forward_with_hooks(wave, &hooks);
    let loss = states.last().unwrap().clone().powf_scalar(2.0).mean();
    let grads = loss.backward();
    let g = shift.grad(&grads).expect("the adapter parameter gets a gradient");
    let g = g.into_data().into_vec::<f32>().unwrap();
    assert!(
        g.iter().all(|v| v.is_finite()) && g.iter().any(|v| v.abs() > 1e-6),
        "{g:?}"
    );
}

/// The shipped pre-trained backbone (`assets/backbones/wavlm-mini`, made by `adaptsv pretrain`, stored in f16)
/// loads, and its hidden states on the probe are those `transformers` computes from the same folder
/// (`tests/fixtures/backbone/shipped_reference.py` writes the reference and checks that `transformers` loads
/// every key).
#[test]
fn the_shipped_backbone_matches_transformers() {
    let asset = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/backbones/wavlm-mini");
    let model = load_backbone::<B>(&asset, &Default::default()).unwrap();
    assert_eq!(model.num_layers(), 6);
    let reference = read_f32_safetensors(&fixtures().join("wavlm_mini_reference.safetensors"));
    let states = model.forward(probe());
    assert_eq!(states.len(), reference.len());
    let mut worst = 0.0f32;
    for (i, s) in states.into_iter().enumerate() {
        let key = format!("hidden_states.{i}");
        let d = max_abs_diff(s, &reference[&key], &key);
        // Both compute in f32 from the same f16 weights; deeper states add up more rounding.
        assert!(d < 1e-3, "{key}: max abs diff {d}");
        worst = worst.max(d);
    }
    println!("shipped wavlm-mini: worst max abs diff to transformers {worst:.2e}");
}
