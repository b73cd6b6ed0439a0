//! Writing a backbone as a HuggingFace model folder (`config.json` + `model.safetensors`) that `transformers`'
//! `WavLMModel` / `HubertModel` / `Wav2Vec2Model.from_pretrained` and adaptsv's loader both read. The keys come
//! from the one key table in `load.rs`; the conversions are the loader's, reversed: `Linear` weights transposed
//! back to `[out, in]`, `gamma`/`beta` written as `weight`/`bias`, and the positional conv's weight split into
//! weight norm's `original0` (g, the norm over all dims but 2) and `original1` (v = the weight), so that
//! `g · v / ‖v‖` gives the weight back.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::Conv1d;
use burn::nn::{GroupNorm, LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::load::{apply_key_table, KeyTable};
use super::model::SslBackbone;

/// Precision of the exported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportDtype {
    F32,
    /// Half the size; every weight rounded to the nearest f16 (adaptsv and `transformers` compute in f32).
    F16,
}

/// Collects `(HF key, shape, values)` from a backbone.
struct Exporter {
    out: Vec<(String, Vec<usize>, Vec<f32>)>,
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
    let shape = t.dims().to_vec();
    let data = t.into_data().convert::<f32>();
    (shape, data.to_vec::<f32>().unwrap_or_default())
}

impl Exporter {
    fn push<B: Backend, const D: usize>(&mut self, key: String, t: Tensor<B, D>) {
        let (shape, v) = values(t);
        self.out.push((key, shape, v));
    }
}

impl<B: Backend> KeyTable<B> for Exporter {
    fn param<const D: usize>(&mut self, param: &mut Param<Tensor<B, D>>, key: &str) {
        self.push(key.to_string(), param.val());
    }

    fn linear(&mut self, linear: &mut Linear<B>, prefix: &str) {
        self.push(format!("{prefix}.weight"), linear.weight.val().transpose());
        if let Some(b) = &linear.bias {
            self.push(format!("{prefix}.bias"), b.val());
        }
    }

    fn layer_norm(&mut self, norm: &mut LayerNorm<B>, prefix: &str) {
        self.push(format!("{prefix}.weight"), norm.gamma.val());
        if let Some(b) = &norm.beta {
            self.push(format!("{prefix}.bias"), b.val());
        }
    }

    fn group_norm(&mut self, norm: &mut GroupNorm<B>, prefix: &str) {
        if let Some(g) = &norm.gamma {
            self.push(format!("{prefix}.weight"), g.val());
        }
        if let Some(b) = &norm.beta {
            self.push(format!("{prefix}.bias"), b.val());
        }
    }

    fn conv(&mut self, conv: &mut Conv1d<B>, prefix: &str) {
        self.push(format!("{prefix}.weight"), conv.weight.val());
        if let Some(b) = &conv.bias {
            self.push(format!("{prefix}.bias"), b.val());
        }
    }

    fn weight_norm_conv(&mut self, conv: &mut Conv1d<B>, prefix: &str) {
        let (shape, w) = values(conv.weight.val());
        let [rows, kernel] = [shape[0] * shape[1], shape[2]];
        let g: Vec<f32> = (0..kernel)
            .map(|k| (0..rows).map(|r| w[r * kernel + k].powi(2)).sum::<f32>().sqrt())
            .collect();
        self.out
            .push((format!("{prefix}.parametrizations.weight.original0"), vec![1, 1, kernel], g));
        self.out.push((format!("{prefix}.parametrizations.weight.original1"), shape, w));
        if let Some(b) = &conv.bias {
            self.push(format!("{prefix}.bias"), b.val());
        }
    }
}

/// Every backbone tensor under its HF key (no task prefix, as `WavLMModel.save_pretrained` writes them).
pub fn hf_tensors<B: Backend>(backbone: &SslBackbone<B>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    // Burn initialises parameters lazily: a clone of a never-used model would draw its own random values.
    // Initialise the original first, so the copy the key table walks holds exactly its weights.
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    backbone.visit(&mut Touch);
    let mut exporter = Exporter { out: Vec::new() };
    let mut copy = backbone.clone();
    apply_key_table(&mut copy, &mut exporter);
    exporter.out
}

/// The `config.json` of a backbone: the HF fields adaptsv reads, plus `architectures` for `transformers`.
pub fn hf_config_json<B: Backend>(backbone: &SslBackbone<B>) -> serde_json::Value {
    let mut json = serde_json::to_value(&backbone.config).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut json {
        let arch = match backbone.config.model_type {
            super::config::ModelType::Wavlm => "WavLMModel",
            super::config::ModelType::Hubert => "HubertModel",
            super::config::ModelType::Wav2vec2 => "Wav2Vec2Model",
        };
        map.insert("architectures".into(), serde_json::json!([arch]));
        map.insert("num_feat_extract_layers".into(), serde_json::json!(backbone.config.conv_dim.len()));
        // No SpecAugment when `transformers` runs it (adaptsv's pre-training masks on its own).
        map.insert("mask_time_prob".into(), serde_json::json!(0.0));
    }
    json
}

/// Writes `dir/config.json` and `dir/model.safetensors` (atomically each). Returns the weights' size in bytes.
pub fn save_hf_folder<B: Backend>(
    backbone: &SslBackbone<B>,
    dir: &Path,
    dtype: ExportDtype,
    metadata: HashMap<String, String>,
) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let tensors = hf_tensors(backbone);
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| match dtype {
            ExportDtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ExportDtype::F16 => v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect(),
        })
        .collect();
    let st_dtype = match dtype {
        ExportDtype::F32 => Dtype::F32,
        ExportDtype::F16 => Dtype::F16,
    };
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((k, shape, _), b)| {
            TensorView::new(st_dtype, shape.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| std::io::Error::other(format!("{k}: {e}")))
        })
        .collect::<std::io::Result<_>>()?;
    let mut meta = metadata;
    meta.insert("format".into(), "pt".into());
    let data = safetensors::serialize(views, Some(meta)).map_err(|e| std::io::Error::other(e.to_string()))?;
    let config = serde_json::to_string_pretty(&hf_config_json(backbone)).map_err(std::io::Error::other)?;
    crate::runs::write_atomic(&dir.join("config.json"), config.as_bytes())?;
    crate::runs::write_atomic(&dir.join("model.safetensors"), &data)?;
    Ok(data.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::backbone::load_backbone;
    use burn::backend::Flex;

    #[test]
    fn an_exported_backbone_loads_back_with_the_same_hidden_states() {
        let device = Default::default();
        let config = crate::model::build::preset_config("wavlm-tiny").unwrap();
        let model: SslBackbone<Flex> = config.init(&device);
        let dir = tempfile::tempdir().unwrap();
        save_hf_folder(&model, dir.path(), ExportDtype::F32, HashMap::new()).unwrap();
        let back: SslBackbone<Flex> = load_backbone(dir.path(), &device).unwrap();
        let wave = Tensor::<Flex, 2>::from_data(
            burn::tensor::TensorData::new((0..8000).map(|i| ((i as f32) * 0.01).sin()).collect::<Vec<f32>>(), [1, 8000]),
            &device,
        );
        let fa = model.project_features(model.extract_features(wave.clone()));
        let fb = back.project_features(back.extract_features(wave.clone()));
        let d: f32 = (fa - fb).abs().max().into_scalar();
        assert!(d < 1e-4, "projected features differ by {d}");
        let a = model.forward(wave.clone());
        let b = back.forward(wave);
        for (i, (x, y)) in a.into_iter().zip(b).enumerate() {
            let d: f32 = (x - y).abs().max().into_scalar();
            assert!(d < 1e-4, "hidden state {i} differs by {d}");
        }
        // f16 halves the file and still loads.
        let dir16 = tempfile::tempdir().unwrap();
        let n32 = std::fs::metadata(dir.path().join("model.safetensors")).unwrap().len();
        let n16 = save_hf_folder(&model, dir16.path(), ExportDtype::F16, HashMap::new()).unwrap();
        assert!((n16 as f64) < 0.55 * n32 as f64, "{n16} vs {n32}");
        let _: SslBackbone<Flex> = load_backbone(dir16.path(), &device).unwrap();
    }
}
