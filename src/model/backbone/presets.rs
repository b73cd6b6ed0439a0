//! Named architectures with their real sizes (the published HF `config.json` values), for randomly initialised
//! models in benchmarks and dry runs, and for checking a downloaded config against what it claims to be.

use serde::{Deserialize, Serialize};

use super::config::{BackboneConfig, FeatExtractNorm, ModelType};

/// A published backbone architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackbonePreset {
    /// `microsoft/wavlm-base`: 12 × 768, post-LN.
    WavlmBase,
    /// `microsoft/wavlm-base-plus`: same architecture as Base, more pre-training data.
    WavlmBasePlus,
    /// `microsoft/wavlm-large`: 24 × 1024, pre-LN, layer-norm conv encoder.
    WavlmLarge,
    /// `facebook/hubert-base-ls960`: 12 × 768, post-LN.
    HubertBase,
    /// `facebook/hubert-large-ll60k`: 24 × 1024, pre-LN, layer-norm conv encoder with bias.
    HubertLarge,
    /// `facebook/wav2vec2-base`: 12 × 768, post-LN.
    Wav2vec2Base,
    /// `facebook/wav2vec2-large-lv60`: 24 × 1024, pre-LN, layer-norm conv encoder with bias.
    Wav2vec2Large,
}

impl BackbonePreset {
    /// Every preset, in display order.
    pub const ALL: [BackbonePreset; 7] = [
        Self::WavlmBase,
        Self::WavlmBasePlus,
        Self::WavlmLarge,
        Self::HubertBase,
        Self::HubertLarge,
        Self::Wav2vec2Base,
        Self::Wav2vec2Large,
    ];

    /// The HF config of this architecture.
    pub fn config(self) -> BackboneConfig {
        use BackbonePreset::*;
        let model_type = match self {
            WavlmBase | WavlmBasePlus | WavlmLarge => ModelType::Wavlm,
            HubertBase | HubertLarge => ModelType::Hubert,
            Wav2vec2Base | Wav2vec2Large => ModelType::Wav2vec2,
        };
        let large = matches!(self, WavlmLarge | HubertLarge | Wav2vec2Large);
        // Conv biases in the Large layer-norm conv stacks: wav2vec 2.0 lv60 and HuBERT Large have them, WavLM
        // Large not (recalled from the hub configs, which could not be checked offline; it changes the
        // parameter count by 7 × 512 at most and nothing else, as loading reads the checkpoint's config.json).
        let conv_bias = matches!(self, HubertLarge | Wav2vec2Large);
        BackboneConfig {
            model_type,
            hidden_size: if large { 1024 } else { 768 },
            num_hidden_layers: if large { 24 } else { 12 },
            num_attention_heads: if large { 16 } else { 12 },
            intermediate_size: if large { 4096 } else { 3072 },
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-5,
            feat_extract_norm: if large {
                FeatExtractNorm::Layer
            } else {
                FeatExtractNorm::Group
            },
            feat_extract_activation: "gelu".into(),
            conv_dim: vec![512; 7],
            conv_stride: vec![5, 2, 2, 2, 2, 2, 2],
            conv_kernel: vec![10, 3, 3, 3, 3, 2, 2],
            conv_bias,
            num_conv_pos_embeddings: 128,
            num_conv_pos_embedding_groups: 16,
            do_stable_layer_norm: large,
            feat_proj_layer_norm: true,
            num_buckets: 320,
            max_bucket_distance: 800,
            num_feat_extract_layers: Some(7),
            conv_pos_batch_norm: false,
            add_adapter: false,
            adapter_attn_dim: None,
        }
    }

    /// The HF hub id of the reference checkpoint (for messages and docs; nothing is downloaded).
    pub fn hub_id(self) -> &'static str {
        use BackbonePreset::*;
        match self {
            WavlmBase => "microsoft/wavlm-base",
            WavlmBasePlus => "microsoft/wavlm-base-plus",
            WavlmLarge => "microsoft/wavlm-large",
            HubertBase => "facebook/hubert-base-ls960",
            HubertLarge => "facebook/hubert-large-ll60k",
            Wav2vec2Base => "facebook/wav2vec2-base",
            Wav2vec2Large => "facebook/wav2vec2-large-lv60",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_preset_is_buildable_and_named_in_kebab_case() {
        for p in BackbonePreset::ALL {
            assert!(p.config().problems().is_empty(), "{p:?}");
        }
        let json = serde_json::to_string(&BackbonePreset::WavlmBasePlus).unwrap();
        assert_eq!(json, "\"wavlm-base-plus\"");
        let back: BackbonePreset = serde_json::from_str("\"wav2vec2-large\"").unwrap();
        assert_eq!(back, BackbonePreset::Wav2vec2Large);
    }

    #[test]
    fn base_presets_have_hf_parameter_counts() {
        use burn::module::Module;
        // `sum(p.numel())` of the HF models built from the same config values (transformers 5.24), without
        // `masked_spec_embed` and without the 128 weight-norm magnitudes `g` that loading folds into the
        // positional conv weight.
        let device = Default::default();
        for (preset, hf_count) in [
            (BackbonePreset::WavlmBasePlus, 94_381_168),
            (BackbonePreset::HubertBase, 94_370_944),
        ] {
            let model = preset.config().init::<burn::backend::Flex>(&device);
            assert_eq!(model.num_params(), hf_count - 128, "{preset:?}");
        }
    }

    #[test]
    fn preset_config_roundtrips_through_config_json() {
        let c = BackbonePreset::WavlmLarge.config();
        let text = serde_json::to_string(&c).unwrap();
        let back = BackboneConfig::from_json_str(&text, Path::new("config.json")).unwrap();
        assert_eq!(back, c);
    }
}
