//! The feature projection from conv channels to the transformer width, as HF's
//! [`WavLMFeatureProjection`](https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py)
//! and `HubertFeatureProjection`.
//!
//! HF's order is LayerNorm (over the 512 conv channels, epsilon `layer_norm_eps`) **then** the linear projection.
//! HuBERT may drop the norm (`feat_proj_layer_norm = false`). The normalised-but-unprojected features HF also
//! returns (for the quantizer) are not needed here.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::ops::linear;

/// `feature_projection` of the HF model.
#[derive(Module, Debug)]
pub struct FeatureProjection<B: Backend> {
    /// `layer_norm` over `conv_dim[-1]`; absent only for HuBERT with `feat_proj_layer_norm = false`.
    pub layer_norm: Option<LayerNorm<B>>,
    /// `projection`: `conv_dim[-1]` → `hidden_size`.
    pub projection: Linear<B>,
}

/// Builds a [`FeatureProjection`].
#[derive(Debug, Clone)]
pub struct FeatureProjectionConfig {
    pub conv_dim_last: usize,
    pub hidden_size: usize,
    pub layer_norm: bool,
    pub layer_norm_eps: f64,
}

impl FeatureProjectionConfig {
    /// Randomly initialised projection.
    pub fn init<B: Backend>(&self, device: &B::Device) -> FeatureProjection<B> {
        FeatureProjection {
            layer_norm: self.layer_norm.then(|| {
                LayerNormConfig::new(self.conv_dim_last)
                    .with_epsilon(self.layer_norm_eps)
                    .init(device)
            }),
            projection: LinearConfig::new(self.conv_dim_last, self.hidden_size).init(device),
        }
    }
}

impl<B: Backend> FeatureProjection<B> {
    /// `[batch, frames, conv_dim[-1]]` → `[batch, frames, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = match &self.layer_norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        linear(&self.projection, x)
    }
}
