//! `BackboneConfig`: a serde mirror of the HuggingFace `config.json` of WavLM, HuBERT and wav2vec 2.0, with the
//! same field names and defaults (`WavLMConfig`, `HubertConfig`, `Wav2Vec2Config` in `transformers`), plus the
//! check that turns a raw config into one this crate can build.
//!
//! HF configs carry many fields for heads, masking and training (dropouts, CTC, codevectors): serde ignores the
//! ones not listed here. Fields that would change the forward pass in ways not implemented here (a conv adapter,
//! batch-norm positional conv, MMS attention adapters, an activation other than GELU) are read so that
//! [`BackboneConfig::check`] can refuse them instead of silently computing something else.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::BackboneError;

/// Which upstream model family a config describes (`model_type` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// [WavLM](https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py):
    /// gated relative position bias in every attention layer.
    Wavlm,
    /// [HuBERT](https://github.com/huggingface/transformers/blob/main/src/transformers/models/hubert/modeling_hubert.py).
    Hubert,
    /// [wav2vec 2.0](https://github.com/huggingface/transformers/blob/main/src/transformers/models/wav2vec2/modeling_wav2vec2.py).
    Wav2vec2,
}

/// Normalisation inside the convolutional feature encoder (`feat_extract_norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatExtractNorm {
    /// GroupNorm with one group per channel after the first conv only (Base models).
    Group,
    /// LayerNorm over channels after every conv (Large models).
    Layer,
}

/// The subset of a HuggingFace `config.json` that defines the backbone's forward pass.
///
/// Field names and defaults are HF's; see the module docs for what is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneConfig {
    /// `wavlm`, `hubert` or `wav2vec2`.
    pub model_type: ModelType,
    /// Transformer width (768 Base, 1024 Large).
    #[serde(default = "d_hidden_size")]
    pub hidden_size: usize,
    /// Number of transformer layers (12 Base, 24 Large).
    #[serde(default = "d_num_hidden_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "d_num_attention_heads")]
    pub num_attention_heads: usize,
    /// Feed-forward inner width.
    #[serde(default = "d_intermediate_size")]
    pub intermediate_size: usize,
    /// Feed-forward activation; only `gelu` (exact, erf-based) is supported.
    #[serde(default = "d_gelu")]
    pub hidden_act: String,
    /// Epsilon of the transformer layer norms (the conv layer norms use PyTorch's default 1e-5, as HF does).
    #[serde(default = "d_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Normalisation of the conv feature encoder.
    #[serde(default = "d_feat_extract_norm")]
    pub feat_extract_norm: FeatExtractNorm,
    /// Activation of the conv feature encoder and the positional conv; only `gelu` is supported.
    #[serde(default = "d_gelu")]
    pub feat_extract_activation: String,
    /// Output channels of each conv layer.
    #[serde(default = "d_conv_dim")]
    pub conv_dim: Vec<usize>,
    /// Stride of each conv layer.
    #[serde(default = "d_conv_stride")]
    pub conv_stride: Vec<usize>,
    /// Kernel width of each conv layer.
    #[serde(default = "d_conv_kernel")]
    pub conv_kernel: Vec<usize>,
    /// Whether the conv layers have a bias.
    #[serde(default)]
    pub conv_bias: bool,
    /// Kernel width of the positional convolution (128); an even width trims one frame, as HF's `SamePadLayer`.
    #[serde(default = "d_num_conv_pos_embeddings")]
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional convolution (16).
    #[serde(default = "d_num_conv_pos_embedding_groups")]
    pub num_conv_pos_embedding_groups: usize,
    /// `false`: post-LN layers (Base); `true`: pre-LN "stable layer norm" layers (Large).
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// HuBERT only: whether the feature projection starts with a layer norm (wav2vec 2.0 and WavLM always do).
    #[serde(default = "d_true")]
    pub feat_proj_layer_norm: bool,
    /// WavLM only: relative position buckets (320).
    #[serde(default = "d_num_buckets")]
    pub num_buckets: usize,
    /// WavLM only: distance beyond which relative positions share the last bucket (800).
    #[serde(default = "d_max_bucket_distance")]
    pub max_bucket_distance: usize,
    /// Refused when present: `num_feat_extract_layers` must equal the conv lists' length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_feat_extract_layers: Option<usize>,
    /// Refused when `true` (HuBERT variants with batch-norm positional conv).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conv_pos_batch_norm: bool,
    /// Refused when `true` (conv adapter on top of the encoder, used for seq2seq).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub add_adapter: bool,
    /// Refused when set (MMS per-language attention adapters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_attn_dim: Option<usize>,
}

fn d_hidden_size() -> usize {
    768
}
fn d_num_hidden_layers() -> usize {
    12
}
fn d_num_attention_heads() -> usize {
    12
}
fn d_intermediate_size() -> usize {
    3072
}
fn d_gelu() -> String {
    "gelu".into()
}
fn d_layer_norm_eps() -> f64 {
    1e-5
}
fn d_feat_extract_norm() -> FeatExtractNorm {
    FeatExtractNorm::Group
}
fn d_conv_dim() -> Vec<usize> {
    vec![512; 7]
}
fn d_conv_stride() -> Vec<usize> {
    vec![5, 2, 2, 2, 2, 2, 2]
}
fn d_conv_kernel() -> Vec<usize> {
    vec![10, 3, 3, 3, 3, 2, 2]
}
fn d_num_conv_pos_embeddings() -> usize {
    128
}
fn d_num_conv_pos_embedding_groups() -> usize {
    16
}
fn d_true() -> bool {
    true
}
fn d_num_buckets() -> usize {
    320
}
fn d_max_bucket_distance() -> usize {
    800
}

impl BackboneConfig {
    /// Reads and checks a HuggingFace `config.json`.
    pub fn from_json_file(path: &Path) -> Result<Self, BackboneError> {
        let text = std::fs::read_to_string(path).map_err(|error| BackboneError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses and checks the text of a `config.json`; `path` only names the file in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, BackboneError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| BackboneError::ConfigParse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // Name an unknown model_type plainly rather than as a serde enum error.
        let model_type = value.get("model_type").and_then(|v| v.as_str()).unwrap_or("");
        if !matches!(model_type, "wavlm" | "hubert" | "wav2vec2") {
            return Err(BackboneError::UnsupportedConfig {
                path: path.to_path_buf(),
                problems: vec![format!(
                    "model_type is {model_type:?}, expected \"wavlm\", \"hubert\" or \"wav2vec2\""
                )],
            });
        }
        let config: Self = serde_json::from_value(value).map_err(|e| BackboneError::ConfigParse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Lists every reason this config cannot be built (empty when it can).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.hidden_act != "gelu" {
            p.push(format!(
                "hidden_act is {:?}; only \"gelu\" is implemented",
                self.hidden_act
            ));
        }
        if self.feat_extract_activation != "gelu" {
            p.push(format!(
                "feat_extract_activation is {:?}; only \"gelu\" is implemented",
                self.feat_extract_activation
            ));
        }
        let n = self.conv_dim.len();
        if n == 0 || self.conv_stride.len() != n || self.conv_kernel.len() != n {
            p.push(format!(
                "conv_dim, conv_stride and conv_kernel must be non-empty and of equal length (got {}, {}, {})",
                n,
                self.conv_stride.len(),
                self.conv_kernel.len()
            ));
        }
        if let Some(k) = self.num_feat_extract_layers {
            if k != n {
                p.push(format!("num_feat_extract_layers is {k} but conv_dim has {n} entries"));
            }
        }
        if self.conv_dim.contains(&0) || self.conv_stride.contains(&0) || self.conv_kernel.contains(&0) {
            p.push("conv_dim, conv_stride and conv_kernel entries must be positive".into());
        }
        if self.hidden_size == 0
            || self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            p.push(format!(
                "hidden_size {} must be a positive multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_hidden_layers == 0 || self.intermediate_size == 0 {
            p.push("num_hidden_layers and intermediate_size must be positive".into());
        }
        let g = self.num_conv_pos_embedding_groups;
        if self.num_conv_pos_embeddings == 0 || g == 0 || !self.hidden_size.is_multiple_of(g) {
            p.push(format!(
                "num_conv_pos_embeddings must be positive and hidden_size {} a multiple of num_conv_pos_embedding_groups {}",
                self.hidden_size, g
            ));
        }
        if self.model_type == ModelType::Wavlm {
            if self.num_buckets < 4 || self.max_bucket_distance * 2 <= self.num_buckets / 2 {
                p.push(format!(
                    "WavLM needs num_buckets >= 4 and max_bucket_distance > num_buckets / 4 (got {} and {})",
                    self.num_buckets, self.max_bucket_distance
                ));
            }
            if (self.hidden_size / self.num_attention_heads.max(1)) == 0 {
                p.push("WavLM needs a head dimension of at least 1".into());
            }
        }
        if self.model_type != ModelType::Hubert && !self.feat_proj_layer_norm {
            p.push("feat_proj_layer_norm = false exists only for HuBERT".into());
        }
        if self.conv_pos_batch_norm {
            p.push("conv_pos_batch_norm = true (batch-norm positional conv) is not implemented".into());
        }
        if self.add_adapter {
            p.push("add_adapter = true (conv adapter after the encoder) is not implemented".into());
        }
        if self.adapter_attn_dim.is_some() {
            p.push("adapter_attn_dim is set (MMS attention adapters) which is not implemented".into());
        }
        p
    }

    /// Fails with every problem listed if the config cannot be built; `path` names the file in the error.
    pub fn check(&self, path: &Path) -> Result<(), BackboneError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackboneError::UnsupportedConfig {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Dimension of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Number of frames the conv feature encoder makes from `samples` samples (0 if too short), as HF's
    /// `_get_feat_extract_output_lengths`.
    pub fn num_frames(&self, samples: usize) -> usize {
        let mut len = samples;
        for (&k, &s) in self.conv_kernel.iter().zip(&self.conv_stride) {
            if len < k {
                return 0;
            }
            len = (len - k) / s + 1;
        }
        len
    }

    /// Fewest samples that give one output frame.
    pub fn min_samples(&self) -> usize {
        crate::config::receptive_field(&self.conv_kernel, &self.conv_stride)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAVLM_BASE_PLUS: &str = r#"{
      "model_type": "wavlm", "architectures": ["WavLMModel"], "hidden_size": 768, "num_hidden_layers": 12,
      "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu", "layer_norm_eps": 1e-05,
      "feat_extract_norm": "group", "feat_extract_activation": "gelu", "conv_dim": [512,512,512,512,512,512,512],
      "conv_stride": [5,2,2,2,2,2,2], "conv_kernel": [10,3,3,3,3,2,2], "conv_bias": false,
      "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "do_stable_layer_norm": false,
      "num_buckets": 320, "max_bucket_distance": 800, "mask_time_prob": 0.05, "ctc_loss_reduction": "sum",
      "tdnn_dim": [512, 512, 512, 512, 1500], "num_feat_extract_layers": 7
    }"#;

    #[test]
    fn parses_a_real_config_and_ignores_unknown_fields() {
        let c = BackboneConfig::from_json_str(WAVLM_BASE_PLUS, Path::new("config.json")).unwrap();
        assert_eq!(c.model_type, ModelType::Wavlm);
        assert_eq!(c.head_dim(), 64);
        // 1 s at 16 kHz gives 49 frames, as HF's formula.
        assert_eq!(c.num_frames(16000), 49);
        assert_eq!(c.min_samples(), 400);
        assert_eq!(c.num_frames(400), 1);
        assert_eq!(c.num_frames(399), 0);
    }

    #[test]
    fn unsupported_values_are_all_listed() {
        let text = WAVLM_BASE_PLUS
            .replace("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\"")
            .replace("\"num_feat_extract_layers\": 7", "\"num_feat_extract_layers\": 6");
        let err = BackboneConfig::from_json_str(&text, Path::new("m/config.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("m/config.json"), "{err}");
        assert!(err.contains("hidden_act is \"relu\""), "{err}");
        assert!(err.contains("num_feat_extract_layers is 6"), "{err}");
    }

    #[test]
    fn unknown_model_type_is_named() {
        let text = WAVLM_BASE_PLUS.replace("\"wavlm\"", "\"wav2vec2-conformer\"");
        let err = BackboneConfig::from_json_str(&text, Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("wav2vec2-conformer"), "{err}");
    }
}
