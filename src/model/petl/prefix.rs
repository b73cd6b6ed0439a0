//! Prefix tuning (Li & Liang, 2021) for speech Transformers: each selected layer gets `P` learned key and value
//! vectors, in the projected space, prepended to the keys and values its attention computes. Queries attend to
//! them like to any frame; WavLM's relative position bias is zero for them. Initialised from N(0, 0.02²).

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

#[derive(Module, Debug)]
pub struct PrefixKv<B: Backend> {
    /// `[1, P, H]`.
    pub keys: Param<Tensor<B, 3>>,
    /// `[1, P, H]`.
    pub values: Param<Tensor<B, 3>>,
}

impl<B: Backend> PrefixKv<B> {
    pub fn new(length: usize, hidden: usize, device: &B::Device) -> Self {
        let init = || {
            Param::from_tensor(Tensor::random(
                [1, length, hidden],
                Distribution::Normal(0.0, 0.02),
                device,
            ))
        };
        Self {
            keys: init(),
            values: init(),
        }
    }
}
