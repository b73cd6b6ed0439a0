//! The transformer encoder: positional conv, then `num_hidden_layers` layers, in both HF layouts:
//! post-LN "Base" ([`WavLMEncoder`] / [`WavLMEncoderLayer`]) and pre-LN "stable layer norm" "Large"
//! ([`WavLMEncoderStableLayerNorm`] / [`WavLMEncoderLayerStableLayerNorm`]); HuBERT and wav2vec 2.0 are the same
//! without WavLM's position bias.
//!
//! Hidden states follow `transformers` 5.x `output_hidden_states=True` (the version the fixtures pin):
//! `hidden_states[0]` is the input of the first layer (Base: `layer_norm(x + pos_conv(x))`; Large:
//! `x + pos_conv(x)`, its `layer_norm` comes last), `hidden_states[i]` the output of layer `i`. For Large models
//! the encoder's final `layer_norm` is **not** in `hidden_states[L]`: HF 5.x applies it only to
//! `last_hidden_state` ([`Encoder::last_hidden_state`]). (HF 4.x put it into `hidden_states[L]` too.)
//!
//! [`WavLMEncoder`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py
//! [`WavLMEncoderLayer`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py
//! [`WavLMEncoderStableLayerNorm`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py
//! [`WavLMEncoderLayerStableLayerNorm`]: https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use super::gelu::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::attention::{Attention, AttentionConfig};
use super::config::{BackboneConfig, ModelType};
use super::hooks::{with_delta, LayerHooks};
use super::host_norm::layer_norm;
use super::ops::linear;
use super::positional::{PositionalConvEmbedding, PositionalConvEmbeddingConfig};

/// `feed_forward` of a layer (HF `WavLMFeedForward`): dense → GELU → dense.
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    pub intermediate_dense: Linear<B>,
    pub output_dense: Linear<B>,
}

impl<B: Backend> FeedForward<B> {
    /// `[batch, frames, hidden]` → `[batch, frames, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        linear(&self.output_dense, gelu(linear(&self.intermediate_dense, x)))
    }

    /// [`FeedForward::forward`] with the FFN-internal hooks of layer `layer` (LoRA on the two projections).
    pub fn forward_with_hooks<H: LayerHooks<B>>(&self, x: Tensor<B, 3>, layer: usize, hooks: &H) -> Tensor<B, 3> {
        let mid = linear(&self.intermediate_dense, x.clone()); // [B, T, I]
        let mid = gelu(with_delta(mid, hooks.beside_ffn_in(layer, &x)));
        let out = linear(&self.output_dense, mid.clone()); // [B, T, H]
        with_delta(out, hooks.beside_ffn_out(layer, &mid))
    }
}

/// `encoder.layers.{i}`.
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    pub attention: Attention<B>,
    /// Post-LN: after the attention residual; pre-LN: before attention.
    pub layer_norm: LayerNorm<B>,
    pub feed_forward: FeedForward<B>,
    /// Post-LN: after the FFN residual; pre-LN: before the FFN.
    pub final_layer_norm: LayerNorm<B>,
    /// `do_stable_layer_norm` (pre-LN).
    pub stable_layer_norm: bool,
    /// The epsilon both norms were built with (Burn's `LayerNorm` keeps its own private).
    pub layer_norm_eps: f64,
}

impl<B: Backend> EncoderLayer<B> {
    /// One layer with adapter hooks (see [`super::hooks`] for where each acts). `x`: `[batch, frames, hidden]`;
    /// `position_bias`: WavLM's `[1, heads, frames, frames]`. Returns `[batch, frames, hidden]`, after
    /// [`LayerHooks::after_layer`].
    pub fn forward<H: LayerHooks<B>>(
        &self,
        x: Tensor<B, 3>,
        position_bias: Option<&Tensor<B, 4>>,
        layer: usize,
        hooks: &H,
    ) -> Tensor<B, 3> {
        let attend = |a_in: Tensor<B, 3>| {
            let a = self.attention.forward(a_in.clone(), position_bias, layer, hooks);
            let a = with_delta(a, hooks.beside_attention(layer, &a_in));
            hooks.after_attention(layer, a)
        };
        let feed = |f_in: Tensor<B, 3>| {
            let f = self.feed_forward.forward_with_hooks(f_in.clone(), layer, hooks);
            let f = with_delta(f, hooks.beside_feed_forward(layer, &f_in));
            hooks.after_feed_forward(layer, f)
        };
        let norm = |norm: &LayerNorm<B>, x: Tensor<B, 3>| layer_norm(norm, x, self.layer_norm_eps);
        let out = if self.stable_layer_norm {
            let x = x.clone() + attend(norm(&self.layer_norm, x));
            x.clone() + feed(norm(&self.final_layer_norm, x))
        } else {
            let x = norm(&self.layer_norm, x.clone() + attend(x));
            norm(&self.final_layer_norm, x.clone() + feed(x))
        };
        hooks.after_layer(layer, out)
    }
}

/// `encoder`.
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    pub pos_conv_embed: PositionalConvEmbedding<B>,
    /// Post-LN: applied before the first layer; pre-LN: applied after the last (to `last_hidden_state` only).
    pub layer_norm: LayerNorm<B>,
    pub layers: Vec<EncoderLayer<B>>,
    pub stable_layer_norm: bool,
    /// The epsilon of every layer norm here (see [`EncoderLayer::layer_norm_eps`]).
    pub layer_norm_eps: f64,
}

/// Builds an [`Encoder`] from a checked [`BackboneConfig`].
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    pub backbone: BackboneConfig,
}

impl EncoderConfig {
    /// Randomly initialised encoder.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Encoder<B> {
        let c = &self.backbone;
        let eps = c.layer_norm_eps;
        let ln = |device: &B::Device| LayerNormConfig::new(c.hidden_size).with_epsilon(eps).init(device);
        let layers = (0..c.num_hidden_layers)
            .map(|i| EncoderLayer {
                attention: AttentionConfig {
                    embed_dim: c.hidden_size,
                    num_heads: c.num_attention_heads,
                    gated_relative_position: c.model_type == ModelType::Wavlm,
                    has_relative_position_bias: i == 0,
                    num_buckets: c.num_buckets,
                    max_distance: c.max_bucket_distance,
                }
                .init(device),
                layer_norm: ln(device),
                feed_forward: FeedForward {
                    intermediate_dense: LinearConfig::new(c.hidden_size, c.intermediate_size).init(device),
                    output_dense: LinearConfig::new(c.intermediate_size, c.hidden_size).init(device),
                },
                final_layer_norm: ln(device),
                stable_layer_norm: c.do_stable_layer_norm,
                layer_norm_eps: eps,
            })
            .collect();
        Encoder {
            pos_conv_embed: PositionalConvEmbeddingConfig {
                hidden_size: c.hidden_size,
                num_conv_pos_embeddings: c.num_conv_pos_embeddings,
                num_conv_pos_embedding_groups: c.num_conv_pos_embedding_groups,
            }
            .init(device),
            layer_norm: ln(device),
            layers,
            stable_layer_norm: c.do_stable_layer_norm,
            layer_norm_eps: eps,
        }
    }
}

impl<B: Backend> Encoder<B> {
    /// The input of the first layer, `hidden_states[0]`: `[batch, frames, hidden]` projected features →
    /// `[batch, frames, hidden]`.
    pub fn embed(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.pos_conv_embed.forward(x);
        if self.stable_layer_norm {
            x
        } else {
            layer_norm(&self.layer_norm, x, self.layer_norm_eps)
        }
    }

    /// WavLM's relative position bias `[1, heads, frames, frames]` (from the first layer), computed once per
    /// forward and shared by all layers; `None` for HuBERT and wav2vec 2.0.
    pub fn position_bias(&self, frames: usize, device: &B::Device) -> Option<Tensor<B, 4>> {
        self.layers
            .first()
            .and_then(|l| l.attention.position_bias(frames, device))
    }

    /// HF's `last_hidden_state` from the last entry of `hidden_states`: the final `layer_norm` for pre-LN models,
    /// the identity for post-LN ones. `[batch, frames, hidden]` → same.
    pub fn last_hidden_state(&self, last: Tensor<B, 3>) -> Tensor<B, 3> {
        if self.stable_layer_norm {
            layer_norm(&self.layer_norm, last, self.layer_norm_eps)
        } else {
            last
        }
    }

    /// All hidden states (`num_hidden_layers + 1`, each `[batch, frames, hidden]`) from projected features
    /// `[batch, frames, hidden]`.
    pub fn forward<H: LayerHooks<B>>(&self, x: Tensor<B, 3>, hooks: &H) -> Vec<Tensor<B, 3>> {
        let [_, frames, _] = x.dims();
        let bias = self.position_bias(frames, &x.device());
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        let mut x = self.embed(x);
        for (i, layer) in self.layers.iter().enumerate() {
            states.push(x.clone());
            x = layer.forward(x, bias.as_ref(), i, hooks);
        }
        states.push(x);
        states
    }
}
