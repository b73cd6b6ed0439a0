//! The one place that maps HuggingFace checkpoint keys to [`SslBackbone`] fields.
//!
//! A model folder holds HF's `config.json` and `model.safetensors` (preferred) or `pytorch_model.bin` (read by a
//! restricted reader that never executes pickle code). Keys may carry the task-model prefix (`wavlm.`,
//! `hubert.`, `wav2vec2.`, as in `WavLMForXVector` or `Wav2Vec2ForPreTraining`) or not (`WavLMModel`). Conversions:
//! - `Linear` weights are transposed (HF `[out, in]`, Burn `[in, out]`);
//! - LayerNorm / GroupNorm `weight`/`bias` become Burn's `gamma`/`beta`;
//! - the positional conv's weight norm, stored as `weight_g`/`weight_v` (old `torch.nn.utils.weight_norm`) or
//!   `parametrizations.weight.original0`/`original1` (new), is folded into one weight:
//!   `w = g * v / ||v||`, the norm taken over all dims but dim 2 (HF uses `weight_norm(conv, dim=2)`).
//!
//! Every model parameter must be found with its exact shape and every checkpoint key must be used or belong to
//! a head or training-only part listed in [`SKIPPED_OUTSIDE_MODEL`] / [`SKIPPED_INSIDE_MODEL`]; otherwise loading
//! fails with one error listing all problems.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::conv::Conv1d;
use burn::nn::{Embedding, GroupNorm, LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::attention::Attention;
use super::config::BackboneConfig;
use super::error::BackboneError;
use super::model::SslBackbone;
use super::weights::{read_weights, RawTensor};

/// Prefixes HF task models put in front of the backbone's keys.
pub const MODEL_PREFIXES: [&str; 3] = ["wavlm.", "hubert.", "wav2vec2."];

/// Top-level parts of HF task / pre-training models that are not the backbone: knowingly skipped.
pub const SKIPPED_OUTSIDE_MODEL: [&str; 12] = [
    "lm_head.",                // CTC head
    "quantizer.",              // wav2vec 2.0 pre-training codebook
    "project_q.",              // wav2vec 2.0 pre-training
    "project_hid.",            // wav2vec 2.0 pre-training
    "label_embeddings_concat", // HuBERT pre-training
    "final_proj.",             // HuBERT pre-training
    "projector.",              // sequence classification / x-vector heads
    "classifier.",             // sequence / frame classification heads
    "tdnn.",                   // x-vector head
    "feature_extractor.",      // x-vector head's linear (only outside the backbone prefix)
    "objective.",              // x-vector AM-softmax loss
    "layer_weights",           // weighted layer sum of task heads
];

/// Backbone parameters used only in training with SpecAugment: knowingly skipped.
pub const SKIPPED_INSIDE_MODEL: [&str; 1] = ["masked_spec_embed"];

/// What a load did with the checkpoint's keys (original names, as in the file).
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// The weights file read.
    pub weights_path: PathBuf,
    /// Keys that became model parameters.
    pub used: BTreeSet<String>,
    /// Keys knowingly skipped (heads, pre-training parts).
    pub skipped: BTreeSet<String>,
}

/// Loads a backbone from an HF model folder (`config.json` + `model.safetensors` or `pytorch_model.bin`).
pub fn load_backbone<B: Backend>(dir: &Path, device: &B::Device) -> Result<SslBackbone<B>, BackboneError> {
    load_backbone_with_report(dir, device).map(|(model, _)| model)
}

/// [`load_backbone`], also saying which checkpoint keys were used and which skipped.
pub fn load_backbone_with_report<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(SslBackbone<B>, LoadReport), BackboneError> {
    let config_path = dir.join("config.json");
    let config = BackboneConfig::from_json_file(&config_path)?;
    let weights_path = ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| BackboneError::NoWeights { dir: dir.to_path_buf() })?;
    let tensors = read_weights(&weights_path)?;
    load_from_tensors(config, tensors, &weights_path, &config_path, device)
}

/// Builds the model from already-read tensors; `weights_path` and `config_path` only name files in errors.
pub(crate) fn load_from_tensors<B: Backend>(
    config: BackboneConfig,
    tensors: BTreeMap<String, RawTensor>,
    weights_path: &Path,
    config_path: &Path,
    device: &B::Device,
) -> Result<(SslBackbone<B>, LoadReport), BackboneError> {
    let mut loader = Loader::new(tensors, device);
    let mut model = config.init::<B>(device);
    apply_key_table(&mut model, &mut loader);
    let report = loader.finish(weights_path, config_path)?;
    Ok((model, report))
}

/// What the key table does at each HF key: the loader fills the field from the checkpoint, the exporter
/// writes the field under the key (`export.rs`). The conversions (transposes, `gamma`/`beta` names, weight norm)
/// live in the two implementations; which key goes with which field lives only in [`apply_key_table`].
pub(crate) trait KeyTable<B: Backend> {
    fn param<const D: usize>(&mut self, param: &mut Param<Tensor<B, D>>, key: &str);
    fn linear(&mut self, linear: &mut Linear<B>, prefix: &str);
    fn layer_norm(&mut self, norm: &mut LayerNorm<B>, prefix: &str);
    fn group_norm(&mut self, norm: &mut GroupNorm<B>, prefix: &str);
    fn conv(&mut self, conv: &mut Conv1d<B>, prefix: &str);
    /// A weight-normalised conv (HF `weight_norm(conv, name="weight", dim=2)`).
    fn weight_norm_conv(&mut self, conv: &mut Conv1d<B>, prefix: &str);

    fn embedding(&mut self, embedding: &mut Embedding<B>, key: &str) {
        self.param(&mut embedding.weight, key);
    }

    fn attention(&mut self, attention: &mut Attention<B>, prefix: &str) {
        self.linear(&mut attention.k_proj, &format!("{prefix}.k_proj"));
        self.linear(&mut attention.v_proj, &format!("{prefix}.v_proj"));
        self.linear(&mut attention.q_proj, &format!("{prefix}.q_proj"));
        self.linear(&mut attention.out_proj, &format!("{prefix}.out_proj"));
        if let Some(c) = attention.gru_rel_pos_const.as_mut() {
            self.param(c, &format!("{prefix}.gru_rel_pos_const"));
        }
        if let Some(linear) = attention.gru_rel_pos_linear.as_mut() {
            self.linear(linear, &format!("{prefix}.gru_rel_pos_linear"));
        }
        if let Some(embedding) = attention.rel_attn_embed.as_mut() {
            self.embedding(embedding, &format!("{prefix}.rel_attn_embed.weight"));
        }
    }
}

/// The key table: every HF key of the backbone and the field it fills.
pub(crate) fn apply_key_table<B: Backend>(model: &mut SslBackbone<B>, l: &mut impl KeyTable<B>) {
    for (i, layer) in model.feature_extractor.conv_layers.iter_mut().enumerate() {
        let p = format!("feature_extractor.conv_layers.{i}");
        l.conv(&mut layer.conv, &format!("{p}.conv"));
        if let Some(norm) = layer.group_norm.as_mut() {
            l.group_norm(norm, &format!("{p}.layer_norm"));
        }
        if let Some(norm) = layer.layer_norm.as_mut() {
            l.layer_norm(norm, &format!("{p}.layer_norm"));
        }
    }
    if let Some(norm) = model.feature_projection.layer_norm.as_mut() {
        l.layer_norm(norm, "feature_projection.layer_norm");
    }
    l.linear(
        &mut model.feature_projection.projection,
        "feature_projection.projection",
    );

    let enc = &mut model.encoder;
    l.weight_norm_conv(&mut enc.pos_conv_embed.conv, "encoder.pos_conv_embed.conv");
    l.layer_norm(&mut enc.layer_norm, "encoder.layer_norm");
    for (i, layer) in enc.layers.iter_mut().enumerate() {
        let p = format!("encoder.layers.{i}");
        l.attention(&mut layer.attention, &format!("{p}.attention"));
        l.layer_norm(&mut layer.layer_norm, &format!("{p}.layer_norm"));
        l.linear(
            &mut layer.feed_forward.intermediate_dense,
            &format!("{p}.feed_forward.intermediate_dense"),
        );
        l.linear(
            &mut layer.feed_forward.output_dense,
            &format!("{p}.feed_forward.output_dense"),
        );
        l.layer_norm(&mut layer.final_layer_norm, &format!("{p}.final_layer_norm"));
    }
}

/// Takes tensors out of the checkpoint by backbone key, checking shapes and collecting every problem.
struct Loader<'d, B: Backend> {
    /// Backbone key (prefix stripped) → tensor.
    tensors: BTreeMap<String, RawTensor>,
    /// Backbone key → key as written in the file.
    original: BTreeMap<String, String>,
    used: BTreeSet<String>,
    skipped: BTreeSet<String>,
    /// Keys outside the backbone that are not a known head.
    unexpected: Vec<String>,
    problems: Vec<String>,
    device: &'d B::Device,
}

impl<'d, B: Backend> Loader<'d, B> {
    fn new(raw: BTreeMap<String, RawTensor>, device: &'d B::Device) -> Self {
        // The backbone prefix, if the file uses one: the prefix of its feature encoder keys.
        let prefix = MODEL_PREFIXES
            .iter()
            .find(|p| {
                raw.keys()
                    .any(|k| k.starts_with(&format!("{p}feature_extractor.conv_layers.")))
            })
            .copied();
        let mut tensors = BTreeMap::new();
        let mut original = BTreeMap::new();
        let mut skipped = BTreeSet::new();
        let mut unexpected = Vec::new();
        for (key, tensor) in raw {
            let inner = match prefix {
                Some(p) => match key.strip_prefix(p) {
                    Some(inner) => inner.to_string(),
                    None => {
                        if SKIPPED_OUTSIDE_MODEL.iter().any(|s| key.starts_with(s)) {
                            skipped.insert(key);
                        } else {
                            unexpected.push(key);
                        }
                        continue;
                    }
                },
                None => key.clone(),
            };
            if SKIPPED_INSIDE_MODEL.iter().any(|s| inner.starts_with(s))
                || (prefix.is_none()
                    && SKIPPED_OUTSIDE_MODEL
                        .iter()
                        .any(|s| inner.starts_with(s) && !is_backbone_key(&inner)))
            {
                skipped.insert(key);
                continue;
            }
            original.insert(inner.clone(), key);
            tensors.insert(inner, tensor);
        }
        Self {
            tensors,
            original,
            used: BTreeSet::new(),
            skipped,
            unexpected,
            problems: Vec::new(),
            device,
        }
    }

    /// Removes `key`, checking its shape; records a problem and returns `None` when missing or misshapen.
    fn take(&mut self, key: &str, shape: &[usize]) -> Option<RawTensor> {
        let Some(t) = self.tensors.remove(key) else {
            self.problems
                .push(format!("missing key {key} (expected shape {shape:?})"));
            return None;
        };
        self.used
            .insert(self.original.get(key).cloned().unwrap_or_else(|| key.to_string()));
        if t.shape != shape {
            self.problems.push(format!(
                "key {} has shape {:?}, the config needs {:?}",
                self.original.get(key).map_or(key, String::as_str),
                t.shape,
                shape
            ));
            return None;
        }
        Some(t)
    }

    fn tensor<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Option<Tensor<B, D>> {
        let t = self.take(key, &shape)?;
        Some(Tensor::from_data(TensorData::new(t.data, shape), self.device))
    }

    /// Fails with every problem, or reports what was used and skipped.
    fn finish(mut self, weights_path: &Path, config_path: &Path) -> Result<LoadReport, BackboneError> {
        let leftover: Vec<String> = self
            .tensors
            .keys()
            .map(|k| self.original.get(k).cloned().unwrap_or_else(|| k.clone()))
            .chain(self.unexpected.drain(..))
            .collect();
        for key in leftover {
            self.problems
                .push(format!("unexpected key {key} (not part of this architecture)"));
        }
        if !self.problems.is_empty() {
            const MAX: usize = 40;
            let n = self.problems.len();
            if n > MAX {
                self.problems.truncate(MAX);
                self.problems.push(format!("… and {} more", n - MAX));
            }
            return Err(BackboneError::CheckpointMismatch {
                path: weights_path.to_path_buf(),
                config: config_path.to_path_buf(),
                problems: self.problems,
            });
        }
        Ok(LoadReport {
            weights_path: weights_path.to_path_buf(),
            used: self.used,
            skipped: self.skipped,
        })
    }
}

impl<B: Backend> KeyTable<B> for Loader<'_, B> {
    fn param<const D: usize>(&mut self, param: &mut Param<Tensor<B, D>>, key: &str) {
        let shape: [usize; D] = match param.lazy_shape().to_vec().try_into() {
            Ok(s) => s,
            Err(_) => return,
        };
        if let Some(t) = self.tensor(key, shape) {
            *param = Param::from_tensor(t);
        }
    }

    fn linear(&mut self, linear: &mut Linear<B>, prefix: &str) {
        let [d_in, d_out]: [usize; 2] = match linear.weight.lazy_shape().to_vec().try_into() {
            Ok(s) => s,
            Err(_) => return,
        };
        // HF stores [out, in]; Burn wants [in, out].
        if let Some(w) = self.tensor::<2>(&format!("{prefix}.weight"), [d_out, d_in]) {
            linear.weight = Param::from_tensor(w.transpose());
        }
        if let Some(bias) = linear.bias.as_mut() {
            self.param(bias, &format!("{prefix}.bias"));
        }
    }

    fn layer_norm(&mut self, norm: &mut LayerNorm<B>, prefix: &str) {
        self.param(&mut norm.gamma, &format!("{prefix}.weight"));
        if let Some(beta) = norm.beta.as_mut() {
            self.param(beta, &format!("{prefix}.bias"));
        }
    }

    fn group_norm(&mut self, norm: &mut GroupNorm<B>, prefix: &str) {
        if let Some(gamma) = norm.gamma.as_mut() {
            self.param(gamma, &format!("{prefix}.weight"));
        }
        if let Some(beta) = norm.beta.as_mut() {
            self.param(beta, &format!("{prefix}.bias"));
        }
    }

    fn conv(&mut self, conv: &mut Conv1d<B>, prefix: &str) {
        self.param(&mut conv.weight, &format!("{prefix}.weight"));
        if let Some(bias) = conv.bias.as_mut() {
            self.param(bias, &format!("{prefix}.bias"));
        }
    }

    /// A weight-normalised conv (HF `weight_norm(conv, name="weight", dim=2)`), folded into a plain weight.
    fn weight_norm_conv(&mut self, conv: &mut Conv1d<B>, prefix: &str) {
        let shape = conv.weight.lazy_shape().to_vec();
        let [out, in_per_group, kernel] = [shape[0], shape[1], shape[2]];
        // A checkpoint saved with the norm already folded carries a plain weight.
        if self.tensors.contains_key(&format!("{prefix}.weight")) {
            self.conv(conv, prefix);
            return;
        }
        let new_style = format!("{prefix}.parametrizations.weight.original0");
        let (g_key, v_key) = if self.tensors.contains_key(&new_style) {
            (new_style, format!("{prefix}.parametrizations.weight.original1"))
        } else {
            (format!("{prefix}.weight_g"), format!("{prefix}.weight_v"))
        };
        let g = self.take(&g_key, &[1, 1, kernel]);
        let v = self.take(&v_key, &[out, in_per_group, kernel]);
        if let (Some(g), Some(v)) = (g, v) {
            let w = fold_weight_norm_dim2(&g.data, &v.data, out * in_per_group, kernel);
            conv.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [out, in_per_group, kernel]),
                self.device,
            ));
        }
        if let Some(bias) = conv.bias.as_mut() {
            self.param(bias, &format!("{prefix}.bias"));
        }
    }
}

/// Whether an unprefixed key names a backbone part (so a head-like name such as `feature_extractor.` is ours).
fn is_backbone_key(key: &str) -> bool {
    key.starts_with("feature_extractor.conv_layers.")
}

/// `w = g * v / ||v||` with the norm over dims 0 and 1 for each index of dim 2 (PyTorch `_weight_norm`, dim=2).
/// `v` is `[rows, kernel]` row-major (rows = out * in_per_group), `g` is `[kernel]`.
pub(crate) fn fold_weight_norm_dim2(g: &[f32], v: &[f32], rows: usize, kernel: usize) -> Vec<f32> {
    let mut norms = vec![0f64; kernel];
    for r in 0..rows {
        for (k, n) in norms.iter_mut().enumerate() {
            let x = f64::from(v[r * kernel + k]);
            *n += x * x;
        }
    }
    let scale: Vec<f32> = norms
        .iter()
        .zip(g)
        .map(|(n, g)| (f64::from(*g) / n.sqrt()) as f32)
        .collect();
    v.iter().enumerate().map(|(i, x)| x * scale[i % kernel]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_norm_fold_normalises_over_all_dims_but_two() {
        // v: [2, 1, 2] = rows 2, kernel 2; column norms: sqrt(3^2 + 4^2) = 5, sqrt(0 + 2^2) = 2.
        let v = [3.0, 0.0, 4.0, 2.0];
        let g = [10.0, 1.0];
        let w = fold_weight_norm_dim2(&g, &v, 2, 2);
        assert_eq!(w, vec![6.0, 0.0, 8.0, 1.0]);
    }
}
