//! The convolutional relative positional embedding added to the projected features before the transformer, as
//! HF's [`WavLMPositionalConvEmbedding`](https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py)
//! (the same in HuBERT and wav2vec 2.0).
//!
//! A grouped 1-D conv (kernel `num_conv_pos_embeddings`, padding half the kernel on both sides,
//! `num_conv_pos_embedding_groups` groups), then HF's `SamePadLayer` (drop the last frame when the kernel is even,
//! so the output has as many frames as the input), then GELU. HF stores the conv weight under weight
//! normalisation; the loader folds it into a plain weight once (`w = g * v / ||v||`), so the forward pass is an
//! ordinary conv.

use super::gelu::gelu;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::PaddingConfig1d;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `encoder.pos_conv_embed`.
#[derive(Module, Debug)]
pub struct PositionalConvEmbedding<B: Backend> {
    /// `conv`: weight `[hidden, hidden / groups, kernel]` (folded from weight norm), bias `[hidden]`.
    pub conv: Conv1d<B>,
    /// Frames HF's `SamePadLayer` removes from the end: 1 for an even kernel, else 0.
    pub num_pad_remove: usize,
}

/// Builds a [`PositionalConvEmbedding`].
#[derive(Debug, Clone)]
pub struct PositionalConvEmbeddingConfig {
    pub hidden_size: usize,
    pub num_conv_pos_embeddings: usize,
    pub num_conv_pos_embedding_groups: usize,
}

impl PositionalConvEmbeddingConfig {
    /// Randomly initialised positional conv.
    pub fn init<B: Backend>(&self, device: &B::Device) -> PositionalConvEmbedding<B> {
        let k = self.num_conv_pos_embeddings;
        let conv = Conv1dConfig::new(self.hidden_size, self.hidden_size, k)
            .with_groups(self.num_conv_pos_embedding_groups)
            .with_padding(PaddingConfig1d::Explicit(k / 2, k / 2))
            .init(device);
        PositionalConvEmbedding {
            conv,
            num_pad_remove: usize::from(k.is_multiple_of(2)),
        }
    }
}

impl<B: Backend> PositionalConvEmbedding<B> {
    /// `[batch, frames, hidden]` → the position embeddings `[batch, frames, hidden]` (to be added by the caller).
    ///
    /// On the CPU backend without autodiff this runs on the host ([`super::host_conv::positional_conv`]).
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if let Some(y) = super::host_conv::positional_conv(self, &x) {
            return y;
        }
        let y = self.conv.forward(x.swap_dims(1, 2)); // [B, H, frames + num_pad_remove]
        let t = y.dims()[2];
        let y = y.narrow(2, 0, t - self.num_pad_remove); // [B, H, frames]
        gelu(y).swap_dims(1, 2) // [B, frames, H]
    }
}
