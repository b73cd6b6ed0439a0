//! A parallel bottleneck adapter `x ↦ scale · up(act(down(norm?(x))))` (Houlsby et al. 2019; He et al. 2022's
//! parallel form, as used by Sang & Hansen 2024).
//!
//! The up-projection starts at exactly zero (weight and bias), so a freshly built adapter returns an all-zero
//! branch and the adapted model starts bit-identical to the frozen one; training then moves the branch away from
//! zero. [`BottleneckAdapter::forward`] returns only the branch: the caller adds it where it belongs (beside MHSA or
//! the FFN inside a layer, or onto a hidden state between layers).

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, relu};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::config::{Activation, AdapterConfig};
use crate::model::error::{positive, ModelError};

/// Builds a [`BottleneckAdapter`].
#[derive(Config, Debug)]
pub struct BottleneckAdapterConfig {
    /// Width of the features the adapter reads and writes (the backbone's hidden size `H`).
    pub d_model: usize,
    /// Width of the bottleneck `b` (hidden units).
    pub bottleneck: usize,
    /// Non-linearity between the two projections.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Output scale; with `learnable_scale` its initial value.
    #[config(default = 1.0)]
    pub scale: f64,
    /// Train the scale as a scalar parameter.
    #[config(default = false)]
    pub learnable_scale: bool,
    /// LayerNorm (with affine parameters) on the adapter input.
    #[config(default = false)]
    pub layer_norm: bool,
}

impl BottleneckAdapterConfig {
    /// The adapter described by an `[adaptation.inner]` or `[adaptation.inter]` table, for a backbone of width
    /// `d_model`. The table's `enabled`, `layers` and `position` say *where* adapters go; they are the caller's.
    pub fn from_experiment(adapter: &AdapterConfig, d_model: usize) -> Self {
        Self::new(d_model, adapter.bottleneck)
            .with_activation(adapter.activation)
            .with_scale(adapter.scale)
            .with_learnable_scale(adapter.learnable_scale)
            .with_layer_norm(adapter.layer_norm)
    }

    /// A fresh adapter: `down` as PyTorch's `nn.Linear` default (Kaiming-uniform), `up` all zeros.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<BottleneckAdapter<B>, ModelError> {
        let d_model = positive("adapter d_model (backbone hidden_size)", self.d_model)?;
        let bottleneck = positive("adaptation.<inner|inter>.bottleneck", self.bottleneck)?;
        Ok(BottleneckAdapter {
            norm: self.layer_norm.then(|| LayerNormConfig::new(d_model).init(device)),
            down: LinearConfig::new(d_model, bottleneck).init(device),
            up: LinearConfig::new(bottleneck, d_model)
                .with_initializer(Initializer::Zeros)
                .init(device),
            learned_scale: self
                .learnable_scale
                .then(|| Param::from_tensor(Tensor::from_floats([self.scale as f32], device))),
            fixed_scale: self.scale,
            activation: self.activation,
        })
    }
}

/// `scale · up(act(down(norm?(x))))`; see the module docs.
#[derive(Module, Debug)]
pub struct BottleneckAdapter<B: Backend> {
    /// Optional input LayerNorm over the last dimension.
    pub norm: Option<LayerNorm<B>>,
    /// `H → b`.
    pub down: Linear<B>,
    /// `b → H`, zero at initialisation.
    pub up: Linear<B>,
    /// The scale `[1]` when it is learnable.
    pub learned_scale: Option<Param<Tensor<B, 1>>>,
    /// The scale when it is fixed (ignored when `learned_scale` is present).
    pub fixed_scale: f64,
    pub activation: Activation,
}

impl<B: Backend> BottleneckAdapter<B> {
    /// The branch for `x` `[..., H]`, shape `[..., H]` (any rank `D >= 1`). Add it to the tensor it sits beside.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        let hidden = self.down.forward(x); // [..., b]
        let hidden = match self.activation {
            Activation::Relu => relu(hidden),
            Activation::Gelu => gelu(hidden),
        };
        let branch = self.up.forward(hidden); // [..., H]
        match &self.learned_scale {
            Some(scale) => branch.mul(scale.val().reshape([1; D])),
            None => branch.mul_scalar(self.fixed_scale),
        }
    }

    /// The current scale (reads the learnable one back from the device).
    pub fn scale(&self) -> f64 {
        match &self.learned_scale {
            Some(scale) => scale.val().into_data().iter::<f64>().next().unwrap_or(self.fixed_scale),
            None => self.fixed_scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type B = Flex;

    #[test]
    fn fresh_adapter_branch_is_exactly_zero_and_residual_is_identity() {
        let device = Default::default();
        for (activation, norm, learnable) in [
            (Activation::Relu, false, false),
            (Activation::Gelu, true, true),
            (Activation::Relu, true, false),
        ] {
            let adapter = BottleneckAdapterConfig::new(12, 4)
                .with_activation(activation)
                .with_layer_norm(norm)
                .with_learnable_scale(learnable)
                .with_scale(0.5)
                .init::<B>(&device)
                .unwrap();
            let h = Tensor::<B, 3>::random([2, 5, 12], Distribution::Normal(0.0, 3.0), &device);
            let branch = adapter.forward(h.clone());
            assert_eq!(branch.dims(), [2, 5, 12]);
            assert!(branch.clone().into_data().iter::<f32>().all(|v| v == 0.0));
            let h_bits: Vec<u32> = h.clone().into_data().iter::<f32>().map(f32::to_bits).collect();
            let out_bits: Vec<u32> = (h + branch).into_data().iter::<f32>().map(f32::to_bits).collect();
            assert_eq!(h_bits, out_bits);
        }
    }

    #[test]
    fn branch_follows_the_formula_once_up_is_nonzero() {
        let device = Default::default();
        let mut adapter = BottleneckAdapterConfig::new(3, 2)
            .with_scale(2.0)
            .init::<B>(&device)
            .unwrap();
        // Known weights: down = [[1, -1], [0, 1], [1, 0]] (stored [in, out]), bias (0.5, 0); up = I-ish.
        adapter.down.weight = Param::from_tensor(Tensor::from_floats([[1.0, -1.0], [0.0, 1.0], [1.0, 0.0]], &device));
        adapter.down.bias = Some(Param::from_tensor(Tensor::from_floats([0.5, 0.0], &device)));
        adapter.up.weight = Param::from_tensor(Tensor::from_floats([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]], &device));
        adapter.up.bias = Some(Param::from_tensor(Tensor::from_floats([0.0, 0.0, 1.0], &device)));
        let x = Tensor::<B, 2>::from_floats([[1.0, 2.0, 3.0], [-4.0, 0.0, 1.0]], &device);
        // Row 1: down = (1+3+0.5, -1+2) = (4.5, 1); relu → (4.5, 1); up = (4.5, 1, 9+1) ; ×2 → (9, 2, 20).
        // Row 2: down = (-4+1+0.5, 4) = (-2.5, 4); relu → (0, 4); up = (0, 4, 1); ×2 → (0, 8, 2).
        let out: Vec<f32> = adapter.forward(x).into_data().iter::<f32>().collect();
        assert_eq!(out, vec![9.0, 2.0, 20.0, 0.0, 8.0, 2.0]);
    }

    #[test]
    fn parameter_count_matches_layer_shapes() {
        let device = Default::default();
        let (h, b) = (10usize, 3usize);
        for (norm, learnable) in [(false, false), (true, false), (false, true), (true, true)] {
            let adapter = BottleneckAdapterConfig::new(h, b)
                .with_layer_norm(norm)
                .with_learnable_scale(learnable)
                .init::<B>(&device)
                .unwrap();
            let expected = (h * b + b) + (b * h + h) + if norm { 2 * h } else { 0 } + usize::from(learnable);
            assert_eq!(crate::model::count_params(&adapter).total, expected);
        }
    }

    #[test]
    fn zero_sizes_are_rejected_with_the_key() {
        let err = BottleneckAdapterConfig::new(8, 0)
            .init::<B>(&Default::default())
            .unwrap_err();
        assert!(err.to_string().contains("bottleneck = 0"), "{err}");
    }
}
