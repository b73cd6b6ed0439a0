//! Multi-head self-attention of one transformer layer: plain for HuBERT and wav2vec 2.0
//! ([`HubertAttention`](https://github.com/huggingface/transformers/blob/main/src/transformers/models/hubert/modeling_hubert.py)),
//! and with WavLM's gated relative position bias
//! ([`WavLMAttention`](https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py)
//! with `gru_rel_pos`).
//!
//! WavLM: the first layer owns `rel_attn_embed` (`num_buckets` × heads). The bias `[1, heads, T, T]` is looked up
//! once per forward from bucketed relative positions ([`relative_position_buckets`], T5-style: exact buckets
//! for small distances, log-spaced up to `max_bucket_distance`, one side per sign) and passed to every layer,
//! which gates it per head and frame from its own input: `gate = a * (b * gru_rel_pos_const - 1) + 2` with
//! `(a, b) = sigmoid(sum of pairs of gru_rel_pos_linear(x_head))`.

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor, TensorData};

use super::hooks::{with_delta, LayerHooks, Projection};
use super::{host_attention, ops};

/// `attention` of an encoder layer.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub q_proj: Linear<B>,
    pub out_proj: Linear<B>,
    /// WavLM: `gru_rel_pos_const` `[1, heads, 1, 1]`.
    pub gru_rel_pos_const: Option<Param<Tensor<B, 4>>>,
    /// WavLM: `gru_rel_pos_linear`, head_dim → 8.
    pub gru_rel_pos_linear: Option<Linear<B>>,
    /// WavLM, first layer only: `rel_attn_embed` `[num_buckets, heads]`.
    pub rel_attn_embed: Option<Embedding<B>>,
    pub num_heads: usize,
    pub num_buckets: usize,
    pub max_distance: usize,
}

/// Builds an [`Attention`].
#[derive(Debug, Clone)]
pub struct AttentionConfig {
    pub embed_dim: usize,
    pub num_heads: usize,
    /// WavLM gating (`gru_rel_pos_*`) in this layer.
    pub gated_relative_position: bool,
    /// WavLM first layer: owns the relative position embedding.
    pub has_relative_position_bias: bool,
    pub num_buckets: usize,
    pub max_distance: usize,
}

impl AttentionConfig {
    /// Randomly initialised attention (`gru_rel_pos_const` starts at one, as HF).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Attention<B> {
        let d = self.embed_dim;
        let head_dim = d / self.num_heads;
        let gated = self.gated_relative_position;
        Attention {
            k_proj: LinearConfig::new(d, d).init(device),
            v_proj: LinearConfig::new(d, d).init(device),
            q_proj: LinearConfig::new(d, d).init(device),
            out_proj: LinearConfig::new(d, d).init(device),
            gru_rel_pos_const: gated.then(|| Param::from_tensor(Tensor::ones([1, self.num_heads, 1, 1], device))),
            gru_rel_pos_linear: gated.then(|| LinearConfig::new(head_dim, 8).init(device)),
            rel_attn_embed: (gated && self.has_relative_position_bias)
                .then(|| EmbeddingConfig::new(self.num_buckets, self.num_heads).init(device)),
            num_heads: self.num_heads,
            num_buckets: self.num_buckets,
            max_distance: self.max_distance,
        }
    }
}

/// WavLM's bucket of each relative position `key - query` for `frames` frames, row-major `[query, key]`, as HF's
/// `_relative_positions_bucket` (computed in f32 like PyTorch, so bucket edges agree).
pub fn relative_position_buckets(frames: usize, num_buckets: usize, max_distance: usize) -> Vec<i32> {
    let half = num_buckets / 2;
    let max_exact = half / 2;
    let log_span = ((max_distance as f64) / (max_exact as f64)).ln() as f32;
    let mut out = Vec::with_capacity(frames * frames);
    for q in 0..frames {
        for k in 0..frames {
            let rel = k as i64 - q as i64;
            let mut bucket = if rel > 0 { half } else { 0 };
            let dist = rel.unsigned_abs() as usize;
            bucket += if dist < max_exact {
                dist
            } else {
                let large = ((dist as f32) / (max_exact as f32)).ln() / log_span * ((half - max_exact) as f32);
                ((max_exact as f32 + large) as usize).min(half - 1)
            };
            out.push(bucket as i32);
        }
    }
    out
}

impl<B: Backend> Attention<B> {
    /// WavLM's relative position bias `[1, heads, frames, frames]`; `None` for layers without `rel_attn_embed`.
    pub fn position_bias(&self, frames: usize, device: &B::Device) -> Option<Tensor<B, 4>> {
        let embed = self.rel_attn_embed.as_ref()?;
        let buckets = relative_position_buckets(frames, self.num_buckets, self.max_distance);
        let idx = Tensor::<B, 2, Int>::from_data(TensorData::new(buckets, [frames, frames]), device);
        let values = embed.forward(idx); // [T, T, heads]
        let heads = values.dims()[2];
        // Laid out heads-major once here (the reshape copies the permuted view), so that every layer reads it as
        // one contiguous row (see `forward`).
        let bias = values.permute([2, 0, 1]).reshape([1, heads * frames * frames]);
        Some(bias.reshape([1, heads, frames, frames])) // [1, heads, T, T]
    }

    /// `x`: `[batch, frames, hidden]` (the attention input); `position_bias`: `[1, heads, frames, frames]` from
    /// [`Attention::position_bias`] of the first layer (WavLM only). Returns `[batch, frames, hidden]`.
    pub fn forward<H: LayerHooks<B>>(
        &self,
        x: Tensor<B, 3>,
        position_bias: Option<&Tensor<B, 4>>,
        layer: usize,
        hooks: &H,
    ) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        let h = self.num_heads;
        let hd = d / h;
        let project = |linear: &Linear<B>, which: Projection, input: &Tensor<B, 3>| {
            let y = ops::linear(linear, input.clone());
            with_delta(y, hooks.beside_projection(layer, which, input))
        };
        let heads = |y: Tensor<B, 3>| {
            // Prefix keys/values come with batch 1 and are expanded after the split into heads.
            let [yb, len, _] = y.dims();
            y.reshape([yb, len, h, hd]).swap_dims(1, 2) // [B or 1, H, len, hd]
        };
        let q = project(&self.q_proj, Projection::Query, &x);
        let k = project(&self.k_proj, Projection::Key, &x);
        let v = project(&self.v_proj, Projection::Value, &x);
        let prefix = hooks.attention_prefix(layer);
        if prefix.is_none() && host_attention::available::<B>(x.dtype()) {
            // One node on the CPU backend, reading the heads where the projections wrote them.
            let gated_bias = position_bias.map(|bias| {
                let gate = self.gate(&x).reshape([b, h, t]);
                (gate, bias.clone().reshape([h, t, t]))
            });
            let attn = host_attention::attention(q, k, v, h, gated_bias); // [B, T, hidden]
            return project(&self.out_proj, Projection::Out, &attn);
        }
        let (q, mut k, mut v) = (heads(q), heads(k), heads(v));
        let mut prefix_len = 0;
        if let Some((pk, pv)) = prefix {
            prefix_len = pk.dims()[1];
            let pk = heads(pk).expand([b, h, prefix_len, hd]);
            let pv = heads(pv).expand([b, h, prefix_len, hd]);
            k = Tensor::cat(vec![pk, k], 2); // [B, H, P + T, hd]
            v = Tensor::cat(vec![pv, v], 2);
        }
        let gated_bias = position_bias.map(|bias| {
            // gate ⊙ bias with the gate spread over keys by a rank-1 matmul: Flex broadcasts along the last
            // dim slowly (see ops.rs).
            let spread = Tensor::<B, 4>::ones([1, 1, 1, t], (&x.device(), x.dtype()));
            let gate = self.gate(&x).matmul(spread); // [B, H, T, T]
            // × the bias shared by the batch, as one row [1, H*T*T] broadcast over batch rows: Flex's fast
            // shared-row kernel, where [1, H, T, T] against [B, H, T, T] walked both element by element (inner +
            // inter training step on an AVX2 EPYC: 3.8 / 4.3 s → 3.3 / 3.9 s, two rounds).
            let gated = (gate.reshape([b, h * t * t]) * bias.clone().reshape([1, h * t * t])).reshape([b, h, t, t]);
            if prefix_len > 0 {
                let zeros = Tensor::zeros([b, h, t, prefix_len], (&gated.device(), gated.dtype()));
                Tensor::cat(vec![zeros, gated], 3) // [B, H, T, P + T]
            } else {
                gated
            }
        });
        // softmax(q kᵀ / sqrt(head_dim) + bias) v, as one backend op.
        let attn = attention(q, k, v, None, gated_bias, AttentionModuleOptions::default()); // [B, H, T, hd]
        let attn = attn.swap_dims(1, 2).reshape([b, t, d]); // [B, T, hidden]
        project(&self.out_proj, Projection::Out, &attn)
    }

    /// WavLM's per-head, per-frame gate of the position bias: `[batch, frames, hidden]` → `[batch, heads, frames, 1]`
    /// (all twos for a layer without gating, which never happens in a loaded WavLM).
    fn gate(&self, x: &Tensor<B, 3>) -> Tensor<B, 4> {
        let [b, t, d] = x.dims();
        let h = self.num_heads;
        let (Some(linear), Some(constant)) = (&self.gru_rel_pos_linear, &self.gru_rel_pos_const) else {
            return Tensor::ones([b, h, t, 1], (&x.device(), x.dtype())) * 2.0;
        };
        let xh = x.clone().reshape([b, t, h, d / h]).swap_dims(1, 2); // [B, H, T, hd]
        let proj = ops::linear(linear, xh.reshape([b, h * t, d / h])); // [B, H*T, 8]
        let proj = proj.reshape([b, h, t, 2, 4]).sum_dim(4).reshape([b, h, t, 2]);
        let gates = sigmoid(proj);
        let gate_a = gates.clone().narrow(3, 0, 1); // [B, H, T, 1]
        let gate_b = gates.narrow(3, 1, 1);
        gate_a * (gate_b * constant.val() - 1.0) + 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_hf_layout() {
        // num_buckets 320 → 160 per side, 80 exact; max distance 800.
        let t = 1000;
        let b = relative_position_buckets(t, 320, 800);
        let at = |q: usize, k: usize| b[q * t + k];
        assert_eq!(at(0, 0), 0);
        assert_eq!(at(5, 0), 5); // negative offsets: lower half
        assert_eq!(at(0, 5), 165); // positive offsets: upper half
        assert_eq!(at(79, 0), 79);
        assert_eq!(at(80, 0), 80); // first log bucket
        assert_eq!(at(999, 0), 159); // clipped
        assert_eq!(at(0, 999), 319);
        // log region: 80 + ln(160/80)/ln(10)*80 = 104.08 → 104.
        assert_eq!(at(160, 0), 104);
    }
}
