//! The convolutional feature encoder: raw 16 kHz samples to one 20 ms frame per row, as HF's
//! [`WavLMFeatureEncoder`](https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py)
//! (identical in HuBERT and wav2vec 2.0).
//!
//! Two variants, chosen by `feat_extract_norm`: `group` puts a GroupNorm (one group per channel, i.e. a norm over
//! time per channel) after the first conv only (`GroupNormConvLayer`, then `NoLayerNormConvLayer`s); `layer` puts a
//! LayerNorm over channels after every conv (`LayerNormConvLayer`). Both norms use PyTorch's default epsilon 1e-5,
//! not `layer_norm_eps`, exactly as HF does. Each conv is followed by GELU.

use super::gelu::gelu;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::config::{BackboneConfig, FeatExtractNorm};
use super::ops::channel_group_norm;

/// One conv layer of the feature encoder (HF's `GroupNormConvLayer`, `LayerNormConvLayer` or
/// `NoLayerNormConvLayer`, told apart by which norm is present). HF names both norms `layer_norm`.
#[derive(Module, Debug)]
pub struct FeatureEncoderConvLayer<B: Backend> {
    /// `conv`: weight `[out, in, kernel]`, bias only when `conv_bias`.
    pub conv: Conv1d<B>,
    /// `layer_norm` of a `GroupNormConvLayer` (first layer of `group` encoders).
    pub group_norm: Option<GroupNorm<B>>,
    /// `layer_norm` of a `LayerNormConvLayer` (every layer of `layer` encoders).
    pub layer_norm: Option<LayerNorm<B>>,
}

impl<B: Backend> FeatureEncoderConvLayer<B> {
    /// `[batch, in_channels, time]` → `[batch, out_channels, frames]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let mut x = self.conv.forward(x);
        if let Some(norm) = &self.group_norm {
            x = channel_group_norm(norm, x);
        }
        if let Some(norm) = &self.layer_norm {
            // LayerNorm over channels: [B, C, T] → [B, T, C] → norm → back.
            x = norm.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
        }
        gelu(x)
    }
}

/// The conv stack ([`FeatureEncoder::forward`] is HF's `feature_extractor(input_values)`).
#[derive(Module, Debug)]
pub struct FeatureEncoder<B: Backend> {
    /// `conv_layers.{i}`.
    pub conv_layers: Vec<FeatureEncoderConvLayer<B>>,
}

/// Builds a [`FeatureEncoder`] from the HF config fields.
#[derive(Debug, Clone)]
pub struct FeatureEncoderConfig {
    pub conv_dim: Vec<usize>,
    pub conv_kernel: Vec<usize>,
    pub conv_stride: Vec<usize>,
    pub conv_bias: bool,
    pub feat_extract_norm: FeatExtractNorm,
}

impl FeatureEncoderConfig {
    /// Takes the relevant fields of a (checked) [`BackboneConfig`].
    pub fn from_backbone(c: &BackboneConfig) -> Self {
        Self {
            conv_dim: c.conv_dim.clone(),
            conv_kernel: c.conv_kernel.clone(),
            conv_stride: c.conv_stride.clone(),
            conv_bias: c.conv_bias,
            feat_extract_norm: c.feat_extract_norm,
        }
    }

    /// Randomly initialised encoder (weights are replaced by the loader).
    pub fn init<B: Backend>(&self, device: &B::Device) -> FeatureEncoder<B> {
        let mut conv_layers = Vec::with_capacity(self.conv_dim.len());
        let mut channels_in = 1;
        for (i, ((&out, &kernel), &stride)) in self
            .conv_dim
            .iter()
            .zip(&self.conv_kernel)
            .zip(&self.conv_stride)
            .enumerate()
        {
            let conv = Conv1dConfig::new(channels_in, out, kernel)
                .with_stride(stride)
                .with_bias(self.conv_bias)
                .init(device);
            let (group_norm, layer_norm) = match self.feat_extract_norm {
                FeatExtractNorm::Group if i == 0 => (Some(GroupNormConfig::new(out, out).init(device)), None),
                FeatExtractNorm::Group => (None, None),
                // Epsilon 1e-5 (the default), which the host path (`host_conv::NORM_EPS`) assumes.
                FeatExtractNorm::Layer => (None, Some(LayerNormConfig::new(out).init(device))),
            };
            conv_layers.push(FeatureEncoderConvLayer {
                conv,
                group_norm,
                layer_norm,
            });
            channels_in = out;
        }
        FeatureEncoder { conv_layers }
    }
}

impl<B: Backend> FeatureEncoder<B> {
    /// `[batch, samples]` → `[batch, frames, conv_dim[-1]]` (already transposed to time-major, as HF does right
    /// after the feature extractor).
    ///
    /// On the CPU backend without autodiff this runs on the host in time-major layout
    /// ([`super::host_conv::feature_encoder`]).
    pub fn forward(&self, wave: Tensor<B, 2>) -> Tensor<B, 3> {
        if let Some(y) = super::host_conv::feature_encoder(self, &wave) {
            return y;
        }
        let mut x = wave.unsqueeze_dim::<3>(1); // [B, 1, samples]
        for layer in &self.conv_layers {
            x = layer.forward(x); // [B, C, frames]
        }
        x.swap_dims(1, 2) // [B, frames, C]
    }
}
