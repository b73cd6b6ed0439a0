//! The model self-supervised pre-training trains (HuBERT's first iteration, `crate::engine` runs it for configs
//! with a `[pretrain]` table): the backbone, a learned mask embedding that replaces the projected features of
//! masked frames, and a linear head over the k-means clusters.
//!
//! ```text
//! wave [B, N] → CNN → projection [B, T, H] ─┬─ masked frames ← mask_embed [H]
//!                                           └→ Transformer → last state [B, T, H] → head → logits [B, T, K]
//! ```

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::backbone::{NoHooks, SslBackbone};

/// The backbone with what pre-training adds: a mask embedding and a classifier over the clusters.
#[derive(Module, Debug)]
pub struct PretrainModel<B: Backend> {
    pub backbone: SslBackbone<B>,
    /// Replaces the projected features of masked frames (HF's `masked_spec_embed`), `[hidden]`.
    pub mask_embed: Param<Tensor<B, 1>>,
    /// Last hidden state → cluster logits.
    pub head: Linear<B>,
}

impl<B: Backend> PretrainModel<B> {
    pub fn new(backbone: SslBackbone<B>, clusters: usize, device: &B::Device) -> Self {
        let hidden = backbone.config.hidden_size;
        Self {
            mask_embed: Param::from_tensor(Tensor::random(
                [hidden],
                burn::tensor::Distribution::Uniform(0.0, 1.0),
                device,
            )),
            head: LinearConfig::new(hidden, clusters).init(device),
            backbone,
        }
    }

    /// Cluster logits `[B, T, K]` of crops `wave` `[B, N]`, the frames where `mask` `[B, T, 1]` is 1 replaced
    /// by the mask embedding.
    pub fn forward(&self, wave: Tensor<B, 2>, mask: Tensor<B, 3>) -> Tensor<B, 3> {
        let features = self.backbone.project_features(self.backbone.extract_features(wave));
        let hidden = features.dims()[2];
        let embed = self.mask_embed.val().reshape([1, 1, hidden]);
        let keep = mask.clone().neg().add_scalar(1.0);
        let x = features * keep + embed * mask;
        let mut states = self.backbone.encoder.forward(x, &NoHooks);
        let last = states.pop().expect("the encoder returns at least one hidden state");
        self.head.forward(self.backbone.last_hidden_state(last))
    }
}
