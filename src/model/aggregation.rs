//! How the backbone's hidden states `h_0..h_L` become the one sequence the speaker head reads.
//!
//! `weighted-sum` follows s3prl's `Featurizer` (`s3prl/upstream/interfaces.py`): one learnable logit per hidden
//! state, zero at start so the softmax weights are uniform, optionally a LayerNorm *without* affine parameters on
//! each state first (`F.layer_norm(h, (H,))`), then `Σ_i softmax(w)_i · h_i`. `last` takes `h_L`; `mean` averages
//! all states. [`LayerAggregation::weights`] reads the current weights back cheaply for live plots.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::config::{AggregationConfig, AggregationKind};
use crate::model::error::{positive, ModelError};

/// `F.layer_norm`'s default epsilon.
const LAYER_NORM_EPS: f64 = 1e-5;

/// Builds a [`LayerAggregation`].
#[derive(Config, Debug)]
pub struct LayerAggregationConfig {
    /// Number of hidden states `L + 1`.
    pub num_states: usize,
    #[config(default = "AggregationKind::WeightedSum")]
    pub kind: AggregationKind,
    /// LayerNorm (no affine) on each hidden state before combining them (`weighted-sum` and `mean`).
    #[config(default = false)]
    pub layer_norm: bool,
}

impl LayerAggregationConfig {
    /// From the `[aggregation]` table for a backbone with `num_layers` Transformer layers.
    pub fn from_experiment(aggregation: &AggregationConfig, num_layers: usize) -> Self {
        Self::new(num_layers + 1)
            .with_kind(aggregation.kind)
            .with_layer_norm(aggregation.layer_norm)
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<LayerAggregation<B>, ModelError> {
        let n = positive("aggregation: number of hidden states", self.num_states)?;
        Ok(LayerAggregation {
            logits: (self.kind == AggregationKind::WeightedSum).then(|| Param::from_tensor(Tensor::zeros([n], device))),
            kind: self.kind,
            layer_norm: self.layer_norm,
            num_states: n,
        })
    }
}

/// Combines `L + 1` hidden states `[B, T, H]` into one `[B, T, H]`.
#[derive(Module, Debug)]
pub struct LayerAggregation<B: Backend> {
    /// s3prl's `weights`: one logit per hidden state `[L + 1]` (only for `weighted-sum`).
    pub logits: Option<Param<Tensor<B, 1>>>,
    pub kind: AggregationKind,
    pub layer_norm: bool,
    pub num_states: usize,
}

impl<B: Backend> LayerAggregation<B> {
    /// `hidden_states`: `L + 1` tensors `[B, T, H]` (index 0 = the input embedding). Returns `[B, T, H]`.
    ///
    /// Panics when the number of states differs from `num_states` (a wiring bug: both come from the backbone).
    pub fn forward(&self, hidden_states: &[Tensor<B, 3>]) -> Tensor<B, 3> {
        assert_eq!(
            hidden_states.len(),
            self.num_states,
            "LayerAggregation built for {} hidden states, given {}",
            self.num_states,
            hidden_states.len()
        );
        let prepare = |h: &Tensor<B, 3>| {
            if self.layer_norm {
                layer_norm_no_affine(h.clone())
            } else {
                h.clone()
            }
        };
        match self.kind {
            AggregationKind::Last => hidden_states[self.num_states - 1].clone(),
            AggregationKind::Mean => {
                let sum = hidden_states.iter().map(prepare).reduce(|a, b| a + b);
                sum.map(|s| s.div_scalar(self.num_states as f64))
                    .unwrap_or_else(|| hidden_states[0].clone())
            }
            AggregationKind::WeightedSum => {
                let weights = match &self.logits {
                    Some(logits) => softmax(logits.val(), 0), // [L + 1]
                    None => return hidden_states[self.num_states - 1].clone(),
                };
                weighted_sum(hidden_states.iter().map(prepare), weights).unwrap_or_else(|| hidden_states[0].clone())
                // unreachable: num_states >= 1
            }
        }
    }

    /// The learned weights `[num_states]` on the device, detached; `None` unless the kind is a weighted sum.
    pub fn weights_tensor(&self) -> Option<Tensor<B, 1>> {
        match (&self.logits, self.kind) {
            (Some(logits), AggregationKind::WeightedSum) => Some(softmax(logits.val().detach(), 0)),
            _ => None,
        }
    }

    /// The weight of each hidden state now, summing to 1: softmax of the logits for `weighted-sum`, uniform for
    /// `mean`, one-hot on the last state for `last`. Reads `L + 1` numbers back from the device.
    pub fn weights(&self) -> Vec<f32> {
        let n = self.num_states;
        match (&self.logits, self.kind) {
            (Some(logits), AggregationKind::WeightedSum) => {
                softmax(logits.val().detach(), 0).into_data().iter::<f32>().collect()
            }
            (_, AggregationKind::Last) => (0..n).map(|i| if i + 1 == n { 1.0 } else { 0.0 }).collect(),
            _ => vec![1.0 / n as f32; n],
        }
    }
}

/// `Σ_i weights[i] · states[i]` for states `[B, T, H]` and `weights` `[N]` (`N` = number of states); `None` for
/// no states. A loop rather than a stack, so no `[N, B, T, H]` copy is made.
pub(crate) fn weighted_sum<B: Backend>(
    states: impl Iterator<Item = Tensor<B, 3>>,
    weights: Tensor<B, 1>,
) -> Option<Tensor<B, 3>> {
    states
        .enumerate()
        .map(|(i, h)| h * weights.clone().narrow(0, i, 1).reshape([1, 1, 1]))
        .reduce(|a, b| a + b)
}

/// `F.layer_norm(x, (H,))`: zero mean, unit (biased) variance over the last dimension, no affine. `[.., H]`.
pub fn layer_norm_no_affine<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let (var, mean) = x.clone().var_mean_bias(D - 1);
    (x - mean) / var.add_scalar(LAYER_NORM_EPS).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tolerance};

    type B = Flex;

    fn states(n: usize) -> Vec<Tensor<B, 3>> {
        let device = Default::default();
        (0..n)
            .map(|_| Tensor::random([2, 4, 5], Distribution::Normal(0.0, 2.0), &device))
            .collect()
    }

    #[test]
    fn weighted_sum_starts_uniform_and_equals_the_mean() {
        let device = Default::default();
        let hs = states(4);
        for layer_norm in [false, true] {
            let agg = LayerAggregationConfig::new(4)
                .with_layer_norm(layer_norm)
                .init::<B>(&device)
                .unwrap();
            assert_eq!(agg.weights(), vec![0.25f32; 4]);
            let mean = LayerAggregationConfig::new(4)
                .with_kind(AggregationKind::Mean)
                .with_layer_norm(layer_norm)
                .init::<B>(&device)
                .unwrap();
            // The plain mean computed here, independently of the module.
            let normed: Vec<_> = hs
                .iter()
                .map(|h| {
                    if layer_norm {
                        layer_norm_no_affine(h.clone())
                    } else {
                        h.clone()
                    }
                })
                .collect();
            let by_hand = Tensor::stack::<4>(normed, 0).mean_dim(0).squeeze_dim::<3>(0);
            let out = agg.forward(&hs);
            assert_eq!(out.dims(), [2, 4, 5]);
            out.into_data()
                .assert_approx_eq::<f32>(&by_hand.clone().into_data(), Tolerance::absolute(1e-6));
            mean.forward(&hs)
                .into_data()
                .assert_approx_eq::<f32>(&by_hand.into_data(), Tolerance::absolute(1e-6));
        }
    }

    #[test]
    fn weighted_sum_uses_softmax_of_the_logits() {
        let device = Default::default();
        let hs = states(3);
        let mut agg = LayerAggregationConfig::new(3).init::<B>(&device).unwrap();
        agg.logits = Some(Param::from_tensor(Tensor::from_floats([0.0, 1.0, 2.0], &device)));
        let z: f32 = 1.0 + 1f32.exp() + 2f32.exp();
        let w = [1.0 / z, 1f32.exp() / z, 2f32.exp() / z];
        let got = agg.weights();
        for (g, e) in got.iter().zip(w) {
            assert!((g - e).abs() < 1e-6, "{got:?} vs {w:?}");
        }
        let by_hand = hs[0].clone().mul_scalar(w[0]) + hs[1].clone().mul_scalar(w[1]) + hs[2].clone().mul_scalar(w[2]);
        agg.forward(&hs)
            .into_data()
            .assert_approx_eq::<f32>(&by_hand.into_data(), Tolerance::absolute(1e-5));
    }

    #[test]
    fn last_takes_the_top_state_and_has_no_parameters() {
        let device = Default::default();
        let hs = states(3);
        let agg = LayerAggregationConfig::new(3)
            .with_kind(AggregationKind::Last)
            .init::<B>(&device)
            .unwrap();
        assert_eq!(agg.forward(&hs).into_data(), hs[2].clone().into_data());
        assert_eq!(agg.weights(), vec![0.0, 0.0, 1.0]);
        assert_eq!(crate::model::count_params(&agg).total, 0);
        let ws = LayerAggregationConfig::new(3).init::<B>(&device).unwrap();
        assert_eq!(crate::model::count_params(&ws).total, 3);
    }

    #[test]
    fn layer_norm_no_affine_normalises_each_frame() {
        let x = states(1).remove(0);
        let y = layer_norm_no_affine(x);
        let (var, mean) = y.var_mean_bias(2);
        assert!(mean.abs().max().into_scalar() < 1e-5);
        assert!(var.sub_scalar(1.0).abs().max().into_scalar() < 1e-3);
    }
}
