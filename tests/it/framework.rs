//! The adaptation framework assembled from configs: fresh adapters change nothing, an optimiser step trains
//! exactly what the method says, and parameter counts follow from the layer shapes.

use adaptsv::config::ExperimentConfig;
use adaptsv::model::{count_params, count_params_by_group, snapshot_params, SpeakerModel};
use burn::backend::{Autodiff, Flex};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};

type Ad = Autodiff<Flex>;

/// The tiny WavLM with a small x-vector head, and `extra` TOML appended (later keys win by table).
fn config(adaptation: &str) -> ExperimentConfig {
    let text = format!(
        r#"
name = "t"
[model]
preset = "wavlm-tiny"
[head]
embedding_dim = 16
channels = 16
{adaptation}
"#
    );
    ExperimentConfig::from_toml_str(&text, "test").unwrap_or_else(|e| panic!("{e}"))
}

const INNER_INTER: &str =
    "[adaptation]\nmethod = \"adapters\"\n[adaptation.inner]\nbottleneck = 8\n[adaptation.inter]\nbottleneck = 8\n";
const HOULSBY: &str = "[adaptation]\nmethod = \"houlsby\"\ninner = { enabled = false }\ninter = { enabled = false }\nhoulsby = { bottleneck = 8 }\n";
const LORA: &str = "[adaptation]\nmethod = \"lora\"\ninner = { enabled = false }\ninter = { enabled = false }\nlora = { rank = 4, targets = [\"q\", \"k\", \"v\", \"out\", \"ffn-in\", \"ffn-out\"] }\n";
const PREFIX: &str = "[adaptation]\nmethod = \"prefix\"\ninner = { enabled = false }\ninter = { enabled = false }\nprefix = { length = 4, layers = \"3-4\" }\n";
const BITFIT: &str = "[adaptation]\nmethod = \"bitfit\"\ninner = { enabled = false }\ninter = { enabled = false }\n";
const PARTIAL: &str = "[adaptation]\nmethod = \"partial-finetune\"\npartial_top_k = 1\ninner = { enabled = false }\ninter = { enabled = false }\n";
const FULL: &str =
    "[adaptation]\nmethod = \"full-finetune\"\ninner = { enabled = false }\ninter = { enabled = false }\n";
const FROZEN: &str = "[adaptation]\nmethod = \"frozen\"\ninner = { enabled = false }\ninter = { enabled = false }\n";

fn wave<B: Backend>(batch: usize, samples: usize, device: &B::Device) -> Tensor<B, 2> {
    Tensor::random([batch, samples], Distribution::Normal(0.0, 0.1), device)
}

fn max_abs_diff<B: Backend>(a: &Tensor<B, 3>, b: &Tensor<B, 3>) -> f32 {
    use burn::tensor::ElementConversion;
    (a.clone() - b.clone()).abs().max().into_scalar().elem::<f32>()
}

#[test]
fn fresh_adapters_leave_every_hidden_state_bit_identical() {
    let device = Default::default();
    Flex::seed(&device, 1);
    for (name, adaptation) in [("inner+inter", INNER_INTER), ("houlsby", HOULSBY), ("lora", LORA)] {
        let model = SpeakerModel::<Flex>::from_config(&config(adaptation).into_valid().unwrap(), 4, &device).unwrap();
        let x = wave::<Flex>(2, 8000, &device);
        let bare = model.backbone.forward(x.clone());
        let adapted = model.hidden_states(x);
        assert_eq!(bare.len(), adapted.len());
        for (i, (b, a)) in bare.iter().zip(&adapted).enumerate() {
            assert_eq!(max_abs_diff(b, a), 0.0, "{name}: hidden state {i} changed");
        }
    }
}

#[test]
fn prefixes_change_only_the_layers_that_have_them() {
    let device = Default::default();
    Flex::seed(&device, 2);
    let model = SpeakerModel::<Flex>::from_config(&config(PREFIX).into_valid().unwrap(), 4, &device).unwrap();
    let x = wave::<Flex>(1, 8000, &device);
    let bare = model.backbone.forward(x.clone());
    let adapted = model.hidden_states(x);
    // Prefixes sit in layers 3 and 4: hidden states 0..=2 are untouched, 3 and 4 differ.
    for i in 0..=2 {
        assert_eq!(max_abs_diff(&bare[i], &adapted[i]), 0.0, "hidden state {i}");
    }
    for i in 3..=4 {
        assert!(max_abs_diff(&bare[i], &adapted[i]) > 0.0, "hidden state {i}");
    }
}

/// Trains two Adam steps and checks each parameter: frozen ones bit-identical, trainable ones moved.
/// Two steps, because zero-initialised up-projections (adapters) and `B` matrices (LoRA) make the gradient of
/// the layer before them exactly zero at the first step; from the second step on every trainable parameter has
/// a gradient.
fn check_training(name: &str, adaptation: &str, expect_trainable: impl Fn(&str) -> bool) {
    let device = Default::default();
    Ad::seed(&device, 7);
    let mut model = SpeakerModel::<Ad>::from_config(&config(adaptation).into_valid().unwrap(), 4, &device).unwrap();
    let before = snapshot_params(&model);
    let labels = Tensor::<Ad, 1, Int>::from_data(TensorData::from([0i64, 1, 2, 3]), &device);
    let mut optim = AdamConfig::new().init();
    for _ in 0..2 {
        let x = wave::<Ad>(4, 6400, &device);
        let out = model.train_step_output(x, labels.clone());
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let after = snapshot_params(&model);
    assert_eq!(before.len(), after.len());
    let mut trained = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.path, a.path);
        assert_eq!(
            b.trainable,
            expect_trainable(&b.path),
            "{name}: {} trainable = {}, expected the opposite",
            b.path,
            b.trainable
        );
        if b.trainable {
            assert_ne!(b.values, a.values, "{name}: trainable {} did not move", b.path);
            trained += 1;
        } else {
            assert!(b.values == a.values, "{name}: frozen {} changed", b.path);
        }
    }
    assert!(trained > 0, "{name}: nothing trained");
}

fn outside_backbone(path: &str) -> bool {
    !path.starts_with("backbone.")
}

#[test]
fn an_optimiser_step_trains_exactly_what_each_method_says() {
    check_training("inner+inter adapters", INNER_INTER, outside_backbone);
    check_training("houlsby", HOULSBY, outside_backbone);
    check_training("lora", LORA, outside_backbone);
    check_training("prefix", PREFIX, outside_backbone);
    check_training("frozen", FROZEN, outside_backbone);
    check_training("bitfit", BITFIT, |p| {
        outside_backbone(p) || (p.ends_with(".bias") && !p.starts_with("backbone.feature_extractor."))
    });
    check_training("partial top-1", PARTIAL, |p| {
        outside_backbone(p) || p.starts_with("backbone.encoder.layers.3.")
    });
    check_training("full fine-tuning", FULL, |p| {
        !p.starts_with("backbone.feature_extractor.")
    });
}

#[test]
fn frozen_transformer_runs_outside_autodiff_and_matches_inference() {
    // With only inter adapters, aggregation and head training, the training forward must give the same
    // hidden states as the plain (inference) forward, up to float rounding (the inner backend may pick other
    // kernels for tensors it owns uniquely).
    let device = Default::default();
    Ad::seed(&device, 3);
    let inter_only = "[adaptation]\nmethod = \"adapters\"\ninner = { enabled = false }\n";
    let model = SpeakerModel::<Ad>::from_config(&config(inter_only).into_valid().unwrap(), 4, &device).unwrap();
    assert!(!model.plan.transformer && !model.plan.feature_encoder);
    let x = wave::<Ad>(2, 6400, &device);
    let train = model.train_hidden_states(x.clone());
    let infer = model.hidden_states(x);
    for (i, (t, f)) in train.iter().zip(&infer).enumerate() {
        let scale: f32 = {
            use burn::tensor::ElementConversion;
            f.clone().abs().max().into_scalar().elem::<f32>()
        };
        assert!(max_abs_diff(t, f) <= 1e-5 * scale.max(1.0), "hidden state {i}");
    }
}

/// Parameters of the WavLM Base+ architecture, computed here from its published layer shapes.
fn wavlm_base_plus_params() -> usize {
    let conv_dims = [512usize; 7];
    let kernels = [10usize, 3, 3, 3, 3, 2, 2];
    let mut n = 0;
    let mut in_ch = 1;
    for (i, (&c, &k)) in conv_dims.iter().zip(&kernels).enumerate() {
        n += c * in_ch * k; // no conv bias
        if i == 0 {
            n += 2 * c; // group norm (one group per channel) on the first layer
        }
        in_ch = c;
    }
    let h = 768;
    n += 2 * 512 + 512 * h + h; // feature projection: layer norm + linear
    n += h * (h / 16) * 128 + h; // positional conv: groups 16, kernel 128 (weight norm folded)
    n += 2 * h; // encoder layer norm
    let per_layer = 4 * (h * h + h) // q, k, v, out
        + 2 * 2 * h // two layer norms
        + (h * 3072 + 3072) + (3072 * h + h) // FFN
        + (64 * 8 + 8) + 12; // WavLM gate: gru_rel_pos_linear (head dim 64 → 8) and gru_rel_pos_const per head
    n += 12 * per_layer;
    n += 320 * 12; // relative position embedding, layer 0 only: 320 buckets × 12 heads
    n
}

#[test]
fn wavlm_base_plus_counts_match_the_layer_shapes() {
    let toml = r#"
name = "count"
[model]
preset = "wavlm-base-plus"
[adaptation]
method = "adapters"
[adaptation.inner]
bottleneck = 64
position = "both"
[adaptation.inter]
bottleneck = 128
[head]
kind = "xvector"
"#;
    let config = ExperimentConfig::from_toml_str(toml, "t").unwrap();
    let device = Default::default();
    let model = SpeakerModel::<Ad>::from_config(&config.clone().into_valid().unwrap(), 1211, &device).unwrap();
    let groups = count_params_by_group(&model, 1);
    let get = |name: &str| groups.iter().find(|(g, _)| g == name).map(|(_, c)| *c).unwrap();

    let backbone = get("backbone");
    assert_eq!(backbone.total, wavlm_base_plus_params());
    assert_eq!(backbone.trainable, 0, "the backbone is frozen");

    let adapter = |b: usize| (768 * b + b) + (b * 768 + 768);
    let inner = get("adapters");
    assert_eq!(inner.total, 12 * 2 * adapter(64));
    assert_eq!(inner.trainable, inner.total);
    let inter = get("inter");
    assert_eq!(inter.total, 13 * adapter(128));
    assert_eq!(get("aggregation").total, 13);
    assert_eq!(get("classifier").total, 256 * 1211);

    let all = count_params(&model);
    assert_eq!(all.total, groups.iter().map(|(_, c)| c.total).sum::<usize>());
    println!(
        "WavLM Base+ with inner (b=64) + inter (b=128) adapters: backbone {} params, trainable {} of {} ({:.2} %)",
        backbone.total,
        all.trainable,
        all.total,
        all.trainable_percent()
    );
}
