//! A speaker model as an [`Embedder`]: one utterance at a time through backbone, adapters, aggregation and head.

use crate::eval::{EmbedOptions, Embedder};
use crate::runs::EMBEDDINGS_DIR;
use crate::model::SpeakerModel;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use std::path::{Path, PathBuf};

pub struct ModelEmbedder<B: Backend> {
    pub model: SpeakerModel<B>,
    pub device: B::Device,
    /// Names the model state for the embedding cache, e.g. `step-00001200`.
    pub key: String,
    pub dim: usize,
}

impl<B: Backend> ModelEmbedder<B> {
    /// The embedder of a run's model at checkpoint `step`, with embeddings `[dim]`.
    pub fn new(model: SpeakerModel<B>, device: B::Device, step: u64, dim: usize) -> Self {
        Self {
            model,
            device,
            key: format!("step-{step:08}"),
            dim,
        }
    }

    /// The run's cache file for the embeddings of `what` (a trial list's stem, `cohort`, `corpus-<hash>`) with
    /// `options`: `<run>/embeddings/step-<step>-<what>-<whole|chunkSs>.safetensors`.
    pub fn cache_file(&self, run_dir: &Path, what: &str, options: EmbedOptions) -> PathBuf {
        run_dir
            .join(EMBEDDINGS_DIR)
            .join(format!("{}-{what}-{}.safetensors", self.key, options.key()))
    }
}

impl<B: Backend> Embedder for ModelEmbedder<B> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn cache_key(&self) -> String {
        self.key.clone()
    }

    /// `[samples]` at 16 kHz → `[dim]`. Utterances too short for one frame are an error naming the lengths.
    fn embed(&mut self, wave: &[f32]) -> Result<Vec<f32>, String> {
        self.model
            .backbone
            .check_input_len(wave.len())
            .map_err(|e| e.to_string())?;
        let x = Tensor::<B, 2>::from_data(TensorData::new(wave.to_vec(), [1, wave.len()]), &self.device);
        let e = self.model.embed(x); // [1, dim]
        e.into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| format!("{e:?}"))
    }
}
