//! The backbone's compute precision: a frozen backbone may run in bf16 (the GPU lever of the performance issue;
//! Burn 0.21 has no autocast, so the parameters are cast once and the wave on entry).
//!
//! Only a backbone whose parameters never change and that carries no adapter hooks may be cast: the frozen and
//! inter-only methods (`AdaptationConfig::backbone_states_frozen`). [`SslBackbone::forward`] then casts the wave
//! `[B, S]` to the parameters' dtype and every hidden state `[B, T, H]` back to f32, so inter adapters,
//! aggregation, head, loss and optimiser state stay in f32. Every op of the forward runs in bf16 (layer and group
//! norms and the attention softmax included; autocast would keep those in f32), hence a small bf16 error on every
//! hidden state, measured in the tests below.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor};

use super::model::SslBackbone;

impl<B: Backend> SslBackbone<B> {
    /// Every float parameter cast to `dtype`; `require_grad` kept as it was.
    pub fn cast_params(self, dtype: FloatDType) -> Self {
        self.map(&mut CastParams { dtype })
    }

    /// The dtype of the parameters (all share one: see [`SslBackbone::cast_params`]).
    pub fn param_dtype(&self) -> DType {
        self.feature_projection.projection.weight.val().dtype()
    }
}

struct CastParams {
    dtype: FloatDType,
}

impl<B: Backend> ModuleMapper<B> for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let require_grad = param.is_require_grad();
        let dtype = self.dtype;
        param.map(|t| t.cast(dtype)).set_require_grad(require_grad)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, FloatDType, Tensor};

    use burn::backend::Flex;

    use crate::model::backbone::{BackboneConfig, BackbonePreset};

    /// A preset's architecture at toy size (group-norm post-LN Base, layer-norm pre-LN Large).
    fn small(preset: BackbonePreset) -> BackboneConfig {
        let mut c = preset.config();
        (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) = (32, 3, 4, 64);
        c.conv_dim = vec![32; 7];
        (c.num_conv_pos_embeddings, c.num_conv_pos_embedding_groups) = (16, 4);
        c
    }

    /// The largest |a - b| relative to the largest |a| of two hidden states.
    fn relative_error(a: &Tensor<Flex, 3>, b: &Tensor<Flex, 3>) -> f32 {
        let scale = a.clone().abs().max().into_scalar();
        let diff = (a.clone() - b.clone()).abs().max().into_scalar();
        diff / scale
    }

    #[test]
    fn a_bf16_backbone_gives_f32_hidden_states_close_to_the_f32_ones() {
        for preset in [BackbonePreset::WavlmBasePlus, BackbonePreset::WavlmLarge, BackbonePreset::HubertBase] {
            let config = small(preset);
            let device = Default::default();
            let f32_model = config.init::<Flex>(&device);
            let wave = Tensor::<Flex, 2>::random([2, 4000], Distribution::Normal(0.0, 0.3), &device);
            // First (parameters are initialised lazily: a clone made before would draw its own).
            let reference = f32_model.forward(wave.clone());
            let bf16_model = f32_model.clone().cast_params(FloatDType::BF16);
            assert_eq!(bf16_model.param_dtype(), burn::tensor::DType::BF16);
            let states = bf16_model.forward(wave);
            assert_eq!(states.len(), reference.len());
            for (i, (s, r)) in states.iter().zip(&reference).enumerate() {
                assert_eq!(s.dtype(), burn::tensor::DType::F32, "{preset:?} state {i}");
                assert_eq!(s.dims(), r.dims());
                let err = relative_error(r, s);
                // bf16 keeps 8 significant bits (relative step 2^-8 = 0.4 %); three layers make it 0.7-1.4 % here.
                assert!(err < 0.03, "{preset:?} state {i}: relative error {err}");
                assert!(err > 0.0, "{preset:?} state {i}: identical to f32, so bf16 did not run");
            }
        }
    }
}
