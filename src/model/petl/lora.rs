//! LoRA (Hu et al., 2021): a frozen linear map `W` gets a trainable low-rank update, `y = W·x + (α/r)·B·A·x`,
//! with `A` `[d_in → r]` Kaiming-initialised and `B` `[r → d_out]` zero, so training starts from the frozen model.

use burn::module::{Initializer, Module};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// The low-rank branch of one adapted linear map.
#[derive(Module, Debug)]
pub struct LoraBranch<B: Backend> {
    /// `d_in → r`, no bias.
    pub a: Linear<B>,
    /// `r → d_out`, no bias, zero at start.
    pub b: Linear<B>,
    /// `alpha / rank`.
    #[module(skip)]
    pub scaling: f64,
}

impl<B: Backend> LoraBranch<B> {
    pub fn new(d_in: usize, d_out: usize, rank: usize, alpha: f64, device: &B::Device) -> Self {
        Self {
            a: LinearConfig::new(d_in, rank).with_bias(false).init(device),
            b: LinearConfig::new(rank, d_out)
                .with_bias(false)
                .with_initializer(Initializer::Zeros)
                .init(device),
            scaling: alpha / rank as f64,
        }
    }

    /// `[.., d_in]` → the update `[.., d_out]` to add to the frozen map's output.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.b.forward(self.a.forward(x)) * self.scaling
    }
}

/// The LoRA branches of one Transformer layer (`None` where the target is not adapted).
#[derive(Module, Debug)]
pub struct LayerLora<B: Backend> {
    pub q: Option<LoraBranch<B>>,
    pub k: Option<LoraBranch<B>>,
    pub v: Option<LoraBranch<B>>,
    pub out: Option<LoraBranch<B>>,
    /// FFN `intermediate_dense` (`H → I`).
    pub ffn_in: Option<LoraBranch<B>>,
    /// FFN `output_dense` (`I → H`).
    pub ffn_out: Option<LoraBranch<B>>,
}
