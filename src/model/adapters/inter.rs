//! Inter-layer adapters: one [`BottleneckAdapter`] on every hidden state `h_0..h_L` of the backbone, applied as a
//! residual `h_i + adapter_i(h_i)` before the layer aggregation (Sang & Hansen 2024, "inter-layer adapters").
//!
//! Index `i` is the hidden-state index as HF counts `hidden_states`: 0 is the (projected) CNN feature sequence
//! that enters the first Transformer layer, `i >= 1` is the output of layer `i`. The adapted states only feed the
//! aggregation (and MHFA); they do not flow into the next Transformer layer.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::bottleneck::{BottleneckAdapter, BottleneckAdapterConfig};
use crate::config::AdapterConfig;
use crate::model::error::{positive, ModelError};

/// Builds [`InterLayerAdapters`].
#[derive(Config, Debug)]
pub struct InterLayerAdaptersConfig {
    /// Number of hidden states `L + 1` (Transformer layers plus the input embedding).
    pub num_states: usize,
    /// The adapter put on each of them.
    pub adapter: BottleneckAdapterConfig,
}

impl InterLayerAdaptersConfig {
    /// From the `[adaptation.inter]` table, for a backbone of width `d_model` with `num_layers` Transformer layers.
    pub fn from_experiment(inter: &AdapterConfig, d_model: usize, num_layers: usize) -> Self {
        Self::new(num_layers + 1, BottleneckAdapterConfig::from_experiment(inter, d_model))
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<InterLayerAdapters<B>, ModelError> {
        let n = positive("inter-layer adapters: number of hidden states", self.num_states)?;
        let adapters = (0..n)
            .map(|_| self.adapter.init(device))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InterLayerAdapters { adapters })
    }
}

/// One residual bottleneck adapter per hidden state.
#[derive(Module, Debug)]
pub struct InterLayerAdapters<B: Backend> {
    /// `adapters[i]` adapts hidden state `h_i`.
    pub adapters: Vec<BottleneckAdapter<B>>,
}

impl<B: Backend> InterLayerAdapters<B> {
    /// Number of hidden states this was built for (`L + 1`).
    pub fn num_states(&self) -> usize {
        self.adapters.len()
    }

    /// `h_i + adapter_i(h_i)` for every state; each `[B, T, H]` in and out.
    ///
    /// Panics when `hidden_states.len() != self.num_states()`: both come from the same backbone config, so a
    /// mismatch is a wiring bug, not a user error.
    pub fn forward(&self, hidden_states: Vec<Tensor<B, 3>>) -> Vec<Tensor<B, 3>> {
        assert_eq!(
            hidden_states.len(),
            self.adapters.len(),
            "InterLayerAdapters built for {} hidden states, given {}",
            self.adapters.len(),
            hidden_states.len()
        );
        hidden_states
            .into_iter()
            .zip(&self.adapters)
            .map(|(h, adapter)| h.clone() + adapter.forward(h))
            .collect()
    }

    /// `h + adapter_index(h)` for one state `[B, T, H]`; `None` when `index >= num_states()`.
    pub fn forward_one(&self, index: usize, h: Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        let adapter = self.adapters.get(index)?;
        Some(h.clone() + adapter.forward(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type B = Flex;

    #[test]
    fn one_adapter_per_state_and_identity_at_start() {
        let device = Default::default();
        let inter = InterLayerAdaptersConfig::new(4, BottleneckAdapterConfig::new(6, 2))
            .init::<B>(&device)
            .unwrap();
        assert_eq!(inter.num_states(), 4);
        let states: Vec<_> = (0..4)
            .map(|_| Tensor::<B, 3>::random([2, 3, 6], Distribution::Default, &device))
            .collect();
        let out = inter.forward(states.clone());
        assert_eq!(out.len(), 4);
        for (a, b) in states.iter().zip(&out) {
            assert_eq!(a.clone().into_data(), b.clone().into_data());
        }
        assert!(inter.forward_one(4, states[0].clone()).is_none());
        assert_eq!(crate::model::count_params(&inter).total, 4 * (6 * 2 + 2 + 2 * 6 + 6));
    }
}
