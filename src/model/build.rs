//! From the `[model]` table to a backbone: a HuggingFace checkpoint folder, or a named architecture with
//! random initialisation. Besides the published architectures there are `wavlm-mini` (the architecture of the
//! shipped pre-trained backbone, 6 × 192) and `wavlm-tiny`, a 4-layer, 64-wide WavLM for tests; both have slim
//! conv stacks with the standard kernels and strides (so the same 20 ms frame rate) and train on a CPU in minutes.

use super::backbone::{load_backbone, BackboneConfig, BackbonePreset, SslBackbone};
use super::ModelError;
use crate::config::ModelConfig;
use burn::tensor::backend::Backend;

/// The architecture a preset name stands for.
pub fn preset_config(name: &str) -> Option<BackboneConfig> {
    if name == "wavlm-tiny" {
        let mut c = BackbonePreset::WavlmBasePlus.config();
        c.hidden_size = 64;
        c.num_hidden_layers = 4;
        c.num_attention_heads = 4;
        c.intermediate_size = 256;
        c.conv_dim = vec![64; 7];
        c.num_conv_pos_embeddings = 32;
        c.num_conv_pos_embedding_groups = 4;
        return Some(c);
    }
    if name == "wavlm-mini" {
        // The architecture of the shipped pre-trained backbone (assets/backbones/wavlm-mini): 6 layers of
        // 192, a 128-channel conv stack; ~3 M parameters, so that the default's adapters are about 5 % of it.
        let mut c = BackbonePreset::WavlmBasePlus.config();
        c.hidden_size = 192;
        c.num_hidden_layers = 6;
        c.num_attention_heads = 4;
        c.intermediate_size = 768;
        c.conv_dim = vec![128; 7];
        c.num_conv_pos_embeddings = 32;
        c.num_conv_pos_embedding_groups = 8;
        return Some(c);
    }
    let preset: BackbonePreset = serde_json::from_value(serde_json::Value::String(name.to_string())).ok()?;
    Some(preset.config())
}

/// The backbone's architecture without building it (reads `config.json` for a checkpoint).
pub fn backbone_config(model: &ModelConfig) -> Result<BackboneConfig, ModelError> {
    match (&model.preset, &model.checkpoint) {
        (Some(name), _) => preset_config(name).ok_or_else(|| ModelError::Config {
            key: "model.preset".into(),
            reason: format!("unknown preset {name:?}"),
        }),
        (None, Some(dir)) => Ok(BackboneConfig::from_json_file(&dir.join("config.json"))?),
        (None, None) => Err(ModelError::Config {
            key: "model".into(),
            reason: "give a checkpoint or a preset".into(),
        }),
    }
}

/// Builds the backbone: loads the checkpoint's weights, or initialises the preset randomly.
pub fn build_backbone<B: Backend>(model: &ModelConfig, device: &B::Device) -> Result<SslBackbone<B>, ModelError> {
    match (&model.preset, &model.checkpoint) {
        (None, Some(dir)) => Ok(load_backbone(dir, device)?),
        _ => Ok(backbone_config(model)?.init(device)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_preset_has_an_architecture_with_its_depth() {
        for (name, depth) in crate::config::PRESETS {
            let c = preset_config(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(c.num_hidden_layers, *depth, "{name}");
            assert!(c.problems().is_empty(), "{name}: {:?}", c.problems());
        }
    }
}
