//! Multi-head factorized attentive pooling, MHFA (Peng et al., SLT 2022, "An attention-based backend allowing
//! efficient fine-tuning of transformer models for speaker verification"), as `MHFA` in JunyiPeng00/Wespeaker_SSL
//! (`wespeaker/models/ssl_backend.py`).
//!
//! It reads the whole layer stack rather than one aggregated sequence. Keys and values come from two separate
//! softmax-weighted sums of the hidden states (weights initialised to ones, so both start uniform), each compressed
//! by a Linear `H → c`; a Linear `c → heads` on the keys gives per-head logits, softmax over frames; each head
//! pools the compressed values with its weights; the `heads · c` pooled vector goes through a Linear to `E`.
//!
//! ```text
//! k = Linear_k(Σ softmax(w_k)_l h_l)  [B, T, c]     v = Linear_v(Σ softmax(w_v)_l h_l)  [B, T, c]
//! a = softmax_T(Linear_att(k))          [B, T, heads]
//! p = aᵀ v                              [B, heads, c] → [B, heads · c] → Linear → [B, E]
//! ```

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::model::aggregation::weighted_sum;
use crate::model::error::{positive, ModelError};

/// Builds an [`MhfaHead`].
#[derive(Config, Debug)]
pub struct MhfaHeadConfig {
    /// Width of the hidden states (the backbone's hidden size `H`).
    pub input_dim: usize,
    /// Number of hidden states `L + 1` it reads.
    pub num_states: usize,
    /// Attention heads.
    #[config(default = 64)]
    pub heads: usize,
    /// Compressed key/value width `c`.
    #[config(default = 128)]
    pub compression: usize,
    /// Speaker embedding size `E`.
    #[config(default = 256)]
    pub embedding_dim: usize,
}

impl MhfaHeadConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<MhfaHead<B>, ModelError> {
        let h = positive("MHFA input_dim (backbone hidden_size)", self.input_dim)?;
        let n = positive("MHFA: number of hidden states", self.num_states)?;
        let heads = positive("head.mhfa_heads", self.heads)?;
        let c = positive("head.mhfa_compression", self.compression)?;
        let e = positive("head.embedding_dim", self.embedding_dim)?;
        Ok(MhfaHead {
            weights_k: Initializer::Ones.init([n], device),
            weights_v: Initializer::Ones.init([n], device),
            compress_k: LinearConfig::new(h, c).init(device),
            compress_v: LinearConfig::new(h, c).init(device),
            attention: LinearConfig::new(c, heads).init(device),
            embedding: LinearConfig::new(heads * c, e).init(device),
        })
    }
}

/// See the module docs. Field names follow upstream (`weights_k`, `cmp_linear_k` → `compress_k`, `att_head` →
/// `attention`, `pooling_fc` → `embedding`).
#[derive(Module, Debug)]
pub struct MhfaHead<B: Backend> {
    /// Layer-weight logits for the keys `[L + 1]`.
    pub weights_k: Param<Tensor<B, 1>>,
    /// Layer-weight logits for the values `[L + 1]`.
    pub weights_v: Param<Tensor<B, 1>>,
    pub compress_k: Linear<B>,
    pub compress_v: Linear<B>,
    pub attention: Linear<B>,
    pub embedding: Linear<B>,
}

impl<B: Backend> MhfaHead<B> {
    /// Number of hidden states it was built for.
    pub fn num_states(&self) -> usize {
        self.weights_k.dims()[0]
    }

    /// `hidden_states`: `L + 1` tensors `[B, T, H]` → speaker embeddings `[B, E]`.
    ///
    /// Panics when the number of states differs from `num_states()` (a wiring bug: both come from the backbone).
    pub fn forward(&self, hidden_states: &[Tensor<B, 3>]) -> Tensor<B, 2> {
        assert_eq!(
            hidden_states.len(),
            self.num_states(),
            "MHFA built for {} hidden states, given {}",
            self.num_states(),
            hidden_states.len()
        );
        let mix = |logits: &Param<Tensor<B, 1>>| {
            weighted_sum(hidden_states.iter().cloned(), softmax(logits.val(), 0))
                .unwrap_or_else(|| hidden_states[0].clone()) // unreachable: at least one state
        };
        let k = self.compress_k.forward(mix(&self.weights_k)); // [B, T, c]
        let v = self.compress_v.forward(mix(&self.weights_v)); // [B, T, c]
        let attention = softmax(self.attention.forward(k), 1); // [B, T, heads], sums to 1 over T
        let pooled = attention.swap_dims(1, 2).matmul(v); // [B, heads, c]
        let [b, heads, c] = pooled.dims();
        self.embedding.forward(pooled.reshape([b, heads * c]))
    }

    /// Current softmax layer weights of the keys and of the values (for plots).
    pub fn layer_weights(&self) -> (Vec<f32>, Vec<f32>) {
        let read = |p: &Param<Tensor<B, 1>>| softmax(p.val().detach(), 0).into_data().iter::<f32>().collect();
        (read(&self.weights_k), read(&self.weights_v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tolerance};

    type B = Flex;

    #[test]
    fn matches_a_per_head_loop_written_out() {
        // Recompute MHFA frame by frame and head by head from its own weights, without matmul or reshape.
        let device = Default::default();
        let head = MhfaHeadConfig::new(4, 3)
            .with_heads(2)
            .with_compression(3)
            .with_embedding_dim(5)
            .init::<B>(&device)
            .unwrap();
        let hs: Vec<_> = (0..3)
            .map(|_| Tensor::<B, 3>::random([2, 6, 4], Distribution::Default, &device))
            .collect();
        let out = head.forward(&hs);
        assert_eq!(out.dims(), [2, 5]);
        let (wk, wv) = head.layer_weights();
        assert_eq!(wk, vec![1.0 / 3.0; 3]);
        assert_eq!(wv, vec![1.0 / 3.0; 3]);
        let mean = (hs[0].clone() + hs[1].clone() + hs[2].clone()).div_scalar(3.0);
        let k = head.compress_k.forward(mean.clone());
        let v = head.compress_v.forward(mean);
        let logits = head.attention.forward(k); // [2, 6, 2]
        let mut pooled = Vec::new();
        for b in 0..2 {
            for h in 0..2 {
                let l = logits.clone().slice([b..b + 1, 0..6, h..h + 1]).reshape([6]);
                let a = softmax(l, 0).reshape([6, 1]);
                let vb = v.clone().slice([b..b + 1, 0..6, 0..3]).reshape([6, 3]);
                pooled.push((vb * a).sum_dim(0)); // [1, 3]
            }
        }
        let pooled = Tensor::cat(pooled, 0).reshape([2, 6]); // rows: (b0,h0,h1), (b1,h0,h1)
        let expected = head.embedding.forward(pooled);
        out.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
    }
}
