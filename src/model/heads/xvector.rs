//! The x-vector TDNN head (Snyder et al. 2018), as WeSpeaker's `XVEC` (`wespeaker/models/tdnn.py`) with
//! attentive statistics pooling: five frame layers `Conv1d → ReLU → BatchNorm` with (context, dilation)
//! (5,1), (3,2), (3,3), (1,1), (1,1), then [`AttentiveStatsPooling`], then one Linear to the embedding.
//!
//! Reads the aggregated SSL features `[B, T, H]`. Like upstream the convolutions use no padding, so the frame
//! layers remove 14 frames; shorter inputs are first padded by repeating their last frame (see
//! [`XvectorHead::MIN_FRAMES`]). Deviations from upstream, both deliberate: the BatchNorms keep Burn's affine
//! parameters (Kaldi/WeSpeaker use `affine=False`; 2·C extra parameters per layer, no effect on what the layer
//! can express), and only the first segment layer (`seg_1`, whose output WeSpeaker calls `embed_a`) is kept.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::pooling::{AttentiveStatsPooling, AttentiveStatsPoolingConfig};
use crate::model::error::{positive, ModelError};

/// (context size, dilation) of the five frame layers, as Kaldi and WeSpeaker.
pub const FRAME_LAYERS: [(usize, usize); 5] = [(5, 1), (3, 2), (3, 3), (1, 1), (1, 1)];

/// Builds an [`XvectorHead`].
#[derive(Config, Debug)]
pub struct XvectorHeadConfig {
    /// Width of the input features (the backbone's hidden size `H`).
    pub input_dim: usize,
    /// Channels of the first four frame layers (Kaldi: 512).
    #[config(default = 512)]
    pub channels: usize,
    /// Channels of the last frame layer, the one pooled (Kaldi: 1500).
    #[config(default = 1500)]
    pub stats_channels: usize,
    /// Speaker embedding size `E`.
    #[config(default = 256)]
    pub embedding_dim: usize,
    /// Hidden width of the pooling attention.
    #[config(default = 128)]
    pub attention_dim: usize,
}

impl XvectorHeadConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<XvectorHead<B>, ModelError> {
        let input_dim = positive("x-vector input_dim (backbone hidden_size)", self.input_dim)?;
        let channels = positive("head.channels", self.channels)?;
        let stats = positive("x-vector stats_channels", self.stats_channels)?;
        let embedding_dim = positive("head.embedding_dim", self.embedding_dim)?;
        let widths = [input_dim, channels, channels, channels, channels, stats];
        let frame_layers = FRAME_LAYERS
            .iter()
            .enumerate()
            .map(|(i, &(context, dilation))| TdnnLayer {
                conv: Conv1dConfig::new(widths[i], widths[i + 1], context)
                    .with_dilation(dilation)
                    .init(device),
                norm: BatchNormConfig::new(widths[i + 1]).init(device),
            })
            .collect();
        Ok(XvectorHead {
            frame_layers,
            pool: AttentiveStatsPoolingConfig::new(stats)
                .with_bottleneck(self.attention_dim)
                .init(device)?,
            embedding: LinearConfig::new(2 * stats, embedding_dim).init(device),
        })
    }
}

/// One TDNN frame layer: a dilated `Conv1d` (no padding), ReLU, BatchNorm. `[B, C_in, T] → [B, C_out, T − (k−1)·d]`.
#[derive(Module, Debug)]
pub struct TdnnLayer<B: Backend> {
    pub conv: Conv1d<B>,
    pub norm: BatchNorm<B>,
}

impl<B: Backend> TdnnLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.norm.forward(relu(self.conv.forward(x)))
    }
}

/// See the module docs.
#[derive(Module, Debug)]
pub struct XvectorHead<B: Backend> {
    /// `frame_1` … `frame_5`.
    pub frame_layers: Vec<TdnnLayer<B>>,
    pub pool: AttentiveStatsPooling<B>,
    /// `seg_1`: `2 · stats_channels → E`.
    pub embedding: Linear<B>,
}

impl<B: Backend> XvectorHead<B> {
    /// Fewest frames the frame layers accept without padding: `1 + Σ (context − 1) · dilation` = 15.
    pub const MIN_FRAMES: usize = 15;

    /// `x`: `[B, T, H]` → speaker embeddings `[B, E]`. Inputs with `T < 15` are padded by repeating the last frame.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let x = pad_frames_to(x, Self::MIN_FRAMES);
        let mut out = x.swap_dims(1, 2); // [B, H, T]
        for layer in &self.frame_layers {
            out = layer.forward(out);
        }
        let stats = self.pool.forward(out); // [B, 2 · stats_channels]
        self.embedding.forward(stats)
    }
}

/// `x` `[B, T, H]` with its last frame repeated until it has at least `min_frames` frames (unchanged if `T == 0`).
pub(crate) fn pad_frames_to<B: Backend>(x: Tensor<B, 3>, min_frames: usize) -> Tensor<B, 3> {
    let [_, t, _] = x.dims();
    if t >= min_frames || t == 0 {
        return x;
    }
    let last = x.clone().narrow(1, t - 1, 1).repeat_dim(1, min_frames - t);
    Tensor::cat(vec![x, last], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    type B = Flex;

    #[test]
    fn padding_repeats_the_last_frame() {
        let device = Default::default();
        let x = Tensor::<B, 3>::from_floats([[[1.0], [2.0], [3.0]]], &device);
        let padded: Vec<f32> = pad_frames_to(x.clone(), 5).into_data().iter::<f32>().collect();
        assert_eq!(padded, vec![1.0, 2.0, 3.0, 3.0, 3.0]);
        assert_eq!(pad_frames_to(x, 2).dims(), [1, 3, 1]);
    }

    #[test]
    fn min_frames_matches_the_layer_contexts() {
        let removed: usize = FRAME_LAYERS.iter().map(|(k, d)| (k - 1) * d).sum();
        assert_eq!(XvectorHead::<B>::MIN_FRAMES, removed + 1);
    }
}
