//! A speaker model as an [`Embedder`]: one utterance at a time through backbone, adapters, aggregation and head.

use crate::eval::Embedder;
use crate::model::SpeakerModel;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

pub struct ModelEmbedder<B: Backend> {
    pub model: SpeakerModel<B>,
    pub device: B::Device,
    /// Names the model state for the embedding cache, e.g. `step-00001200`.
    pub key: String,
    pub dim: usize,
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
