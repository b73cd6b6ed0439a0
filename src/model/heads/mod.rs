//! Speaker heads: from backbone features to a fixed-size speaker embedding `[B, E]`.
//!
//! [`SpeakerHead`] is the one type the full model holds, built from [`SpeakerHeadConfig`] (the `[head]` table).
//! x-vector and ECAPA-TDNN read the aggregated sequence `[B, T, H]`; MHFA reads the whole layer stack and does its
//! own (two) layer weightings, so [`SpeakerHead::forward`] takes the stack and the aggregation and uses whichever
//! the head needs.

mod ecapa;
mod mhfa;
mod pooling;
mod xvector;

pub use ecapa::{ConvReluBn, EcapaHead, EcapaHeadConfig, Res2Conv, SeRes2Block, SqueezeExcitation};
pub use mhfa::{MhfaHead, MhfaHeadConfig};
pub use pooling::{AttentiveStatsPooling, AttentiveStatsPoolingConfig};
pub use xvector::{TdnnLayer, XvectorHead, XvectorHeadConfig};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::config::{HeadConfig, HeadKind};
use crate::model::aggregation::LayerAggregation;
use crate::model::error::ModelError;

/// Builds a [`SpeakerHead`] of any kind; fields not used by the chosen kind are ignored.
#[derive(Config, Debug)]
pub struct SpeakerHeadConfig {
    /// Width of the backbone's hidden states `H`.
    pub input_dim: usize,
    /// Number of hidden states `L + 1` (used by MHFA).
    pub num_states: usize,
    #[config(default = "HeadKind::Xvector")]
    pub kind: HeadKind,
    /// Speaker embedding size `E`.
    #[config(default = 256)]
    pub embedding_dim: usize,
    /// TDNN / ECAPA channel width. The x-vector's pooled layer gets `3 · channels` (Kaldi's 1500 ≈ 3 · 512).
    #[config(default = 512)]
    pub channels: usize,
    /// MHFA attention heads.
    #[config(default = 64)]
    pub mhfa_heads: usize,
    /// MHFA compressed key/value width.
    #[config(default = 128)]
    pub mhfa_compression: usize,
}

impl SpeakerHeadConfig {
    /// From the `[head]` table, for a backbone of width `input_dim` with `num_layers` Transformer layers.
    pub fn from_experiment(head: &HeadConfig, input_dim: usize, num_layers: usize) -> Self {
        Self::new(input_dim, num_layers + 1)
            .with_kind(head.kind)
            .with_embedding_dim(head.embedding_dim)
            .with_channels(head.channels)
            .with_mhfa_heads(head.mhfa_heads)
            .with_mhfa_compression(head.mhfa_compression)
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SpeakerHead<B>, ModelError> {
        Ok(match self.kind {
            HeadKind::Xvector => SpeakerHead::Xvector(
                XvectorHeadConfig::new(self.input_dim)
                    .with_channels(self.channels)
                    .with_stats_channels(3 * self.channels)
                    .with_embedding_dim(self.embedding_dim)
                    .init(device)?,
            ),
            HeadKind::Ecapa => SpeakerHead::Ecapa(
                EcapaHeadConfig::new(self.input_dim)
                    .with_channels(self.channels)
                    .with_embedding_dim(self.embedding_dim)
                    .init(device)?,
            ),
            HeadKind::Mhfa => SpeakerHead::Mhfa(
                MhfaHeadConfig::new(self.input_dim, self.num_states)
                    .with_heads(self.mhfa_heads)
                    .with_compression(self.mhfa_compression)
                    .with_embedding_dim(self.embedding_dim)
                    .init(device)?,
            ),
        })
    }
}

/// One of the speaker heads.
// A model holds one head, so the size difference between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum SpeakerHead<B: Backend> {
    Xvector(XvectorHead<B>),
    Ecapa(EcapaHead<B>),
    Mhfa(MhfaHead<B>),
}

impl<B: Backend> SpeakerHead<B> {
    pub fn kind(&self) -> HeadKind {
        match self {
            SpeakerHead::Xvector(_) => HeadKind::Xvector,
            SpeakerHead::Ecapa(_) => HeadKind::Ecapa,
            SpeakerHead::Mhfa(_) => HeadKind::Mhfa,
        }
    }

    /// True for heads that read the whole layer stack (MHFA): the layer aggregation is then not used, and its
    /// parameters get no gradient (leave them out of the optimiser or freeze them).
    pub fn reads_layer_stack(&self) -> bool {
        matches!(self, SpeakerHead::Mhfa(_))
    }

    /// `hidden_states`: the `L + 1` (adapted) hidden states `[B, T, H]` → embeddings `[B, E]`. x-vector and
    /// ECAPA-TDNN read `aggregation.forward(hidden_states)`; MHFA reads the stack.
    pub fn forward(&self, hidden_states: &[Tensor<B, 3>], aggregation: &LayerAggregation<B>) -> Tensor<B, 2> {
        match self {
            SpeakerHead::Xvector(head) => head.forward(aggregation.forward(hidden_states)),
            SpeakerHead::Ecapa(head) => head.forward(aggregation.forward(hidden_states)),
            SpeakerHead::Mhfa(head) => head.forward(hidden_states),
        }
    }

    /// x-vector / ECAPA-TDNN on an already aggregated sequence `[B, T, H]` → `[B, E]`; `None` for MHFA.
    pub fn forward_sequence(&self, x: Tensor<B, 3>) -> Option<Tensor<B, 2>> {
        match self {
            SpeakerHead::Xvector(head) => Some(head.forward(x)),
            SpeakerHead::Ecapa(head) => Some(head.forward(x)),
            SpeakerHead::Mhfa(_) => None,
        }
    }
}
