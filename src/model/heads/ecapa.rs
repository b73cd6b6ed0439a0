//! ECAPA-TDNN (Desplanques et al. 2020), as WeSpeaker's `ECAPA_TDNN_GLOB_c512` (`wespeaker/models/ecapa_tdnn.py`)
//! with the channel width configurable.
//!
//! ```text
//! x [B, T, H] → [B, H, T] → Conv1d(k5)·ReLU·BN → C
//!   → 3 × SE-Res2Block (k3, dilation 2, 3, 4; Res2Net scale 8; squeeze-excitation bottleneck 128), residual
//!   → concat of the three block outputs (3C) → Conv1d(1×1)·ReLU
//!   → attentive statistics pooling with global context (6C) → BatchNorm → Linear → E
//! ```
//!
//! All convolutions keep the frame count (padding = dilation · (k − 1) / 2). Every "ConvReluBn" applies the
//! convolution, then ReLU, then BatchNorm, in WeSpeaker's order.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::pooling::{AttentiveStatsPooling, AttentiveStatsPoolingConfig};
use crate::model::error::{positive, ModelError};

/// Res2Net scale: each block splits its channels into this many groups.
pub const RES2NET_SCALE: usize = 8;
/// Dilations of the three SE-Res2Blocks.
pub const BLOCK_DILATIONS: [usize; 3] = [2, 3, 4];
/// Bottleneck of the squeeze-excitation.
pub const SE_BOTTLENECK: usize = 128;

/// Builds an [`EcapaHead`].
#[derive(Config, Debug)]
pub struct EcapaHeadConfig {
    /// Width of the input features (the backbone's hidden size `H`).
    pub input_dim: usize,
    /// Channels `C` of the blocks (512 or 1024 upstream); a multiple of 8.
    #[config(default = 512)]
    pub channels: usize,
    /// Speaker embedding size `E`.
    #[config(default = 256)]
    pub embedding_dim: usize,
    /// Hidden width of the pooling attention.
    #[config(default = 128)]
    pub attention_dim: usize,
}

impl EcapaHeadConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<EcapaHead<B>, ModelError> {
        let input_dim = positive("ECAPA input_dim (backbone hidden_size)", self.input_dim)?;
        let c = positive("head.channels", self.channels)?;
        let embedding_dim = positive("head.embedding_dim", self.embedding_dim)?;
        if c % RES2NET_SCALE != 0 {
            return Err(ModelError::ChannelsNotDivisible {
                channels: c,
                scale: RES2NET_SCALE,
                suggestion: c.div_ceil(RES2NET_SCALE) * RES2NET_SCALE,
            });
        }
        let cat = 3 * c;
        Ok(EcapaHead {
            layer1: ConvReluBn::new(input_dim, c, 5, 1, device),
            blocks: BLOCK_DILATIONS
                .iter()
                .map(|&d| SeRes2Block::new(c, d, device))
                .collect(),
            mfa: Conv1dConfig::new(cat, cat, 1).init(device),
            pool: AttentiveStatsPoolingConfig::new(cat)
                .with_bottleneck(self.attention_dim)
                .with_global_context(true)
                .init(device)?,
            pool_norm: BatchNormConfig::new(2 * cat).init(device),
            embedding: LinearConfig::new(2 * cat, embedding_dim).init(device),
        })
    }
}

/// `Conv1d(k, dilation d, same padding) → ReLU → BatchNorm`, `[B, C_in, T] → [B, C_out, T]`.
#[derive(Module, Debug)]
pub struct ConvReluBn<B: Backend> {
    pub conv: Conv1d<B>,
    pub norm: BatchNorm<B>,
}

impl<B: Backend> ConvReluBn<B> {
    fn new(c_in: usize, c_out: usize, kernel: usize, dilation: usize, device: &B::Device) -> Self {
        let pad = dilation * (kernel - 1) / 2;
        Self {
            conv: Conv1dConfig::new(c_in, c_out, kernel)
                .with_dilation(dilation)
                .with_padding(PaddingConfig1d::Explicit(pad, pad))
                .init(device),
            norm: BatchNormConfig::new(c_out).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.norm.forward(relu(self.conv.forward(x)))
    }
}

/// Res2Net convolution: channels split into 8 groups of `w = C/8`; group `i ≥ 1` (but the last) gets
/// `ConvReluBn(group_i + previous output)`, group 0 `ConvReluBn(group_0)`, the last group passes through.
#[derive(Module, Debug)]
pub struct Res2Conv<B: Backend> {
    /// `scale − 1` convolutions `w → w`, kernel 3.
    pub convs: Vec<ConvReluBn<B>>,
}

impl<B: Backend> Res2Conv<B> {
    /// `[B, C, T] → [B, C, T]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let groups = x.chunk(RES2NET_SCALE, 1); // RES2NET_SCALE × [B, w, T]
        let mut out = Vec::with_capacity(groups.len());
        let mut previous: Option<Tensor<B, 3>> = None;
        for (conv, group) in self.convs.iter().zip(&groups) {
            let input = match previous {
                Some(p) => p + group.clone(),
                None => group.clone(),
            };
            let y = conv.forward(input);
            out.push(y.clone());
            previous = Some(y);
        }
        out.extend(groups.into_iter().skip(self.convs.len()));
        Tensor::cat(out, 1)
    }
}

/// Squeeze-excitation over channels: `x · sigmoid(W2 relu(W1 mean_T(x)))`, `[B, C, T] → [B, C, T]`.
#[derive(Module, Debug)]
pub struct SqueezeExcitation<B: Backend> {
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
}

impl<B: Backend> SqueezeExcitation<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let s = x.clone().mean_dim(2).squeeze_dim::<2>(2); // [B, C]
        let s = sigmoid(self.linear2.forward(relu(self.linear1.forward(s)))); // [B, C]
        x * s.unsqueeze_dim::<3>(2)
    }
}

/// `x + SE(ConvReluBn1×1(Res2Conv(ConvReluBn1×1(x))))`, `[B, C, T] → [B, C, T]`.
#[derive(Module, Debug)]
pub struct SeRes2Block<B: Backend> {
    pub conv_in: ConvReluBn<B>,
    pub res2: Res2Conv<B>,
    pub conv_out: ConvReluBn<B>,
    pub se: SqueezeExcitation<B>,
}

impl<B: Backend> SeRes2Block<B> {
    fn new(c: usize, dilation: usize, device: &B::Device) -> Self {
        let width = c / RES2NET_SCALE;
        Self {
            conv_in: ConvReluBn::new(c, c, 1, 1, device),
            res2: Res2Conv {
                convs: (0..RES2NET_SCALE - 1)
                    .map(|_| ConvReluBn::new(width, width, 3, dilation, device))
                    .collect(),
            },
            conv_out: ConvReluBn::new(c, c, 1, 1, device),
            se: SqueezeExcitation {
                linear1: LinearConfig::new(c, SE_BOTTLENECK).init(device),
                linear2: LinearConfig::new(SE_BOTTLENECK, c).init(device),
            },
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let y = self.se.forward(
            self.conv_out
                .forward(self.res2.forward(self.conv_in.forward(x.clone()))),
        );
        x + y
    }
}

/// See the module docs.
#[derive(Module, Debug)]
pub struct EcapaHead<B: Backend> {
    pub layer1: ConvReluBn<B>,
    /// `layer2` … `layer4`.
    pub blocks: Vec<SeRes2Block<B>>,
    /// Multi-layer feature aggregation: 1×1 conv over the concatenated block outputs (`conv` upstream).
    pub mfa: Conv1d<B>,
    pub pool: AttentiveStatsPooling<B>,
    /// `bn` upstream, over the pooled `6C` statistics.
    pub pool_norm: BatchNorm<B>,
    /// `linear` upstream: `6C → E`.
    pub embedding: Linear<B>,
}

impl<B: Backend> EcapaHead<B> {
    /// `x`: `[B, T, H]` → speaker embeddings `[B, E]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let mut out = self.layer1.forward(x.swap_dims(1, 2)); // [B, C, T]
        let mut block_outputs = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            out = block.forward(out);
            block_outputs.push(out.clone());
        }
        let out = relu(self.mfa.forward(Tensor::cat(block_outputs, 1))); // [B, 3C, T]
        let stats = self.pool_norm.forward(self.pool.forward(out)); // [B, 6C]
        self.embedding.forward(stats)
    }
}
