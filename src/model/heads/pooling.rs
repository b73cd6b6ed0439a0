//! Attentive statistics pooling (Okabe et al. 2018), as WeSpeaker's `ASTP` (`wespeaker/models/pooling_layers.py`):
//! channel- and frame-dependent attention weights `α = softmax_T(V·tanh(W·x + b) + k)`, then the weighted mean
//! `μ = Σ_t α x_t` and standard deviation `σ = sqrt(max(Σ_t α x_t² − μ², 1e-10))`, concatenated.
//!
//! With `global_context` (ECAPA-TDNN's variant) the attention also sees the utterance mean and standard deviation
//! of every channel, repeated over frames. `W` and `V` are 1×1 convolutions, as upstream.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::tensor::activation::{softmax, tanh};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::model::error::{positive, ModelError};

/// Builds an [`AttentiveStatsPooling`].
#[derive(Config, Debug)]
pub struct AttentiveStatsPoolingConfig {
    /// Channels `C` of the frame-level features.
    pub channels: usize,
    /// Width of the attention's hidden layer.
    #[config(default = 128)]
    pub bottleneck: usize,
    /// Feed the utterance mean and std of each channel to the attention too (ECAPA-TDNN).
    #[config(default = false)]
    pub global_context: bool,
}

impl AttentiveStatsPoolingConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<AttentiveStatsPooling<B>, ModelError> {
        let c = positive("pooling channels", self.channels)?;
        let bottleneck = positive("pooling bottleneck", self.bottleneck)?;
        let attention_in = if self.global_context { 3 * c } else { c };
        Ok(AttentiveStatsPooling {
            attention_hidden: Conv1dConfig::new(attention_in, bottleneck, 1).init(device),
            attention_out: Conv1dConfig::new(bottleneck, c, 1).init(device),
            global_context: self.global_context,
        })
    }
}

/// See the module docs.
#[derive(Module, Debug)]
pub struct AttentiveStatsPooling<B: Backend> {
    /// Upstream `linear1` (`W`, `b`): `C` (or `3C`) → bottleneck.
    pub attention_hidden: Conv1d<B>,
    /// Upstream `linear2` (`V`, `k`): bottleneck → `C`.
    pub attention_out: Conv1d<B>,
    pub global_context: bool,
}

impl<B: Backend> AttentiveStatsPooling<B> {
    /// `x`: `[B, C, T]` → `[B, 2C]` (mean then std).
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let [_, _, t] = x.dims();
        let attention_in = if self.global_context {
            // torch.var is unbiased; with one frame it is undefined, so fall back to the biased (zero) variance.
            let var = if t > 1 { x.clone().var(2) } else { x.clone().var_bias(2) };
            let std = var.add_scalar(1e-10).sqrt(); // [B, C, 1]
            let mean = x.clone().mean_dim(2); // [B, C, 1]
            let context = vec![x.clone(), mean.expand(x.shape()), std.expand(x.shape())];
            Tensor::cat(context, 1) // [B, 3C, T]
        } else {
            x.clone()
        };
        let alpha = tanh(self.attention_hidden.forward(attention_in)); // [B, bottleneck, T]
        let alpha = softmax(self.attention_out.forward(alpha), 2); // [B, C, T], sums to 1 over T
        let mean = (alpha.clone() * x.clone()).sum_dim(2); // [B, C, 1]
        let var = (alpha * x.square()).sum_dim(2) - mean.clone().square();
        let std = var.clamp_min(1e-10).sqrt();
        Tensor::cat(vec![mean, std], 1).squeeze_dim::<2>(2) // [B, 2C]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tolerance};

    type B = Flex;

    #[test]
    fn uniform_attention_gives_plain_mean_and_std() {
        // With the last layer's weights and bias at zero the attention is uniform over frames, so the pooled
        // statistics are the plain (biased) mean and std, computed here directly.
        let device = Default::default();
        for global_context in [false, true] {
            let mut pool = AttentiveStatsPoolingConfig::new(3)
                .with_bottleneck(4)
                .with_global_context(global_context)
                .init::<B>(&device)
                .unwrap();
            pool.attention_out = Conv1dConfig::new(4, 3, 1)
                .with_initializer(burn::module::Initializer::Zeros)
                .init(&device);
            let x = Tensor::<B, 3>::random([2, 3, 7], Distribution::Normal(1.0, 2.0), &device);
            let out = pool.forward(x.clone());
            assert_eq!(out.dims(), [2, 6]);
            let (var, mean) = x.var_mean_bias(2);
            let expected = Tensor::cat(vec![mean, var.sqrt()], 1).squeeze_dim::<2>(2);
            out.into_data()
                .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-4));
        }
    }

    #[test]
    fn parameter_count_matches_layer_shapes() {
        let device = Default::default();
        let (c, b) = (5, 3);
        let plain = AttentiveStatsPoolingConfig::new(c)
            .with_bottleneck(b)
            .init::<B>(&device)
            .unwrap();
        assert_eq!(crate::model::count_params(&plain).total, (c * b + b) + (b * c + c));
        let glob = AttentiveStatsPoolingConfig::new(c)
            .with_bottleneck(b)
            .with_global_context(true)
            .init::<B>(&device)
            .unwrap();
        assert_eq!(crate::model::count_params(&glob).total, (3 * c * b + b) + (b * c + c));
    }
}
