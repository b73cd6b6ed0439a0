//! Adapter hooks: the points where parameter-efficient adapters plug into a transformer layer without the
//! backbone knowing about them.
//!
//! A layer calls its [`LayerHooks`] at fixed points; every method has a no-op default, so an implementation
//! overrides only what it needs and [`NoHooks`] is the plain HF forward pass. The hooks are a generic parameter
//! (monomorphised, no dynamic dispatch, no closures), so `NoHooks` costs nothing.
//!
//! Where each hook acts, for layer `i` (post-LN "Base" layer shown; the pre-LN "Large" layer is the same with
//! its layer norms moved in front of the sub-blocks):
//!
//! ```text
//! a_in = x                                   (pre-LN: a_in = layer_norm(x))
//! a    = MHSA(a_in)  [+ beside_projection(i, Query|Key|Value|Out, …) inside]  [+ attention_prefix(i) keys/values]
//! a    = a + beside_attention(i, a_in)       ← parallel branch beside MHSA ("inner" adapter)
//! a    = after_attention(i, a)               ← serial adapter on the MHSA output (Houlsby)
//! x    = layer_norm(x + a)                   (pre-LN: x = x + a)
//! f_in = x                                   (pre-LN: f_in = final_layer_norm(x))
//! f    = FFN(f_in) + beside_feed_forward(i, f_in)   ← parallel branch beside the FFN
//!        (inside the FFN: dense1 + beside_ffn_in, gelu, dense2 + beside_ffn_out: LoRA on the FFN)
//! f    = after_feed_forward(i, f)            ← serial adapter on the FFN output (Houlsby)
//! x    = final_layer_norm(x + f)             (pre-LN: x = x + f)
//! out  = after_layer(i, x)                   ← on the layer output ("inter" adapter); this is hidden_states[i+1]
//! ```
//!
//! All tensors are `[batch, frames, hidden]`. A branch returns the *delta* to add (e.g. `up(act(down(input)))`),
//! never the sum, so "no adapter" and "adapter initialised to zero" give the same output.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Which linear map of an attention block a [`LayerHooks::beside_projection`] call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    Query,
    Key,
    Value,
    Out,
}

/// Points where adapters add parallel branches to layer `layer` (0-based). See the module docs for the diagram.
pub trait LayerHooks<B: Backend> {
    /// Delta added to the MHSA output, computed from the MHSA input `input` `[batch, frames, hidden]`.
    fn beside_attention(&self, _layer: usize, _input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        None
    }

    /// Delta added to the FFN output, computed from the FFN input `input` `[batch, frames, hidden]`.
    fn beside_feed_forward(&self, _layer: usize, _input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        None
    }

    /// Maps the MHSA output `[batch, frames, hidden]` before the residual (Houlsby serial adapter:
    /// `a + adapter(a)`). Applied after [`LayerHooks::beside_attention`]'s delta is added.
    fn after_attention(&self, _layer: usize, output: Tensor<B, 3>) -> Tensor<B, 3> {
        output
    }

    /// Maps the FFN output `[batch, frames, hidden]` before the residual (Houlsby serial adapter).
    fn after_feed_forward(&self, _layer: usize, output: Tensor<B, 3>) -> Tensor<B, 3> {
        output
    }

    /// Delta added to the FFN's first projection (`intermediate_dense`, `[batch, frames, intermediate]`) from the
    /// FFN input `[batch, frames, hidden]` (LoRA on `ffn-in`).
    fn beside_ffn_in(&self, _layer: usize, _input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        None
    }

    /// Delta added to the FFN's second projection (`output_dense`, `[batch, frames, hidden]`) from its input, the
    /// activated intermediate `[batch, frames, intermediate]` (LoRA on `ffn-out`).
    fn beside_ffn_out(&self, _layer: usize, _hidden: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        None
    }

    /// Delta added to the output of one attention projection (LoRA: `B·A·input`), from that projection's input
    /// `[batch, frames, hidden]`; returns `[batch, frames, hidden]`.
    fn beside_projection(&self, _layer: usize, _projection: Projection, _input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        None
    }

    /// Prefix keys and values (prefix tuning), each `[batch or 1, prefix_len, hidden]` in the projected space,
    /// put in front of the layer's keys and values; WavLM's position bias is zero for them.
    fn attention_prefix(&self, _layer: usize) -> Option<(Tensor<B, 3>, Tensor<B, 3>)> {
        None
    }

    /// Maps the layer output `[batch, frames, hidden]` (an "inter" adapter returns `output + adapter(output)`).
    fn after_layer(&self, _layer: usize, output: Tensor<B, 3>) -> Tensor<B, 3> {
        output
    }
}

/// `x` plus a hook's delta, or `x` itself when the hook adds nothing.
pub fn with_delta<B: Backend>(x: Tensor<B, 3>, delta: Option<Tensor<B, 3>>) -> Tensor<B, 3> {
    match delta {
        Some(delta) => x + delta,
        None => x,
    }
}

/// No adapters: the HF forward pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl<B: Backend> LayerHooks<B> for NoHooks {}
