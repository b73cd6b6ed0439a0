//! `SslBackbone`: the whole self-supervised speech model (HF `WavLMModel`, `HubertModel`, `Wav2Vec2Model`
//! without heads), wave in, all hidden states out, with its pieces callable one by one so that adapters can be
//! placed between them.
//!
//! The wave is used as given: HF's feature extractors for WavLM/HuBERT Base do not normalise (`do_normalize`
//! false) while wav2vec 2.0 Large ones do (zero mean, unit variance per utterance); normalising is the caller's
//! configuration, not the backbone's. No dropout, SpecAugment masking or layer drop: this is the inference path,
//! also used for training adapters on a frozen backbone.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor};

use super::config::BackboneConfig;
use super::encoder::{Encoder, EncoderConfig};
use super::error::BackboneError;
use super::feature_encoder::{FeatureEncoder, FeatureEncoderConfig};
use super::feature_projection::{FeatureProjection, FeatureProjectionConfig};
use super::hooks::{LayerHooks, NoHooks};

/// WavLM / HuBERT / wav2vec 2.0 backbone (HF `*Model`).
#[derive(Module, Debug)]
pub struct SslBackbone<B: Backend> {
    /// `feature_extractor`: the conv stack.
    pub feature_extractor: FeatureEncoder<B>,
    /// `feature_projection`: layer norm + linear to the transformer width.
    pub feature_projection: FeatureProjection<B>,
    /// `encoder`: positional conv + transformer layers.
    pub encoder: Encoder<B>,
    /// The HF config the model was built from.
    #[module(skip)]
    pub config: BackboneConfig,
}

impl BackboneConfig {
    /// A randomly initialised backbone of this architecture (the loader then overwrites every weight).
    /// The config must have passed [`BackboneConfig::check`].
    pub fn init<B: Backend>(&self, device: &B::Device) -> SslBackbone<B> {
        SslBackbone {
            feature_extractor: FeatureEncoderConfig::from_backbone(self).init(device),
            feature_projection: FeatureProjectionConfig {
                conv_dim_last: self.conv_dim.last().copied().unwrap_or(1),
                hidden_size: self.hidden_size,
                layer_norm: self.feat_proj_layer_norm,
                layer_norm_eps: self.layer_norm_eps,
            }
            .init(device),
            encoder: EncoderConfig { backbone: self.clone() }.init(device),
            config: self.clone(),
        }
    }
}

impl<B: Backend> SslBackbone<B> {
    /// Number of transformer layers (hidden states are one more).
    pub fn num_layers(&self) -> usize {
        self.encoder.layers.len()
    }

    /// Checks that `samples` samples give at least one frame.
    pub fn check_input_len(&self, samples: usize) -> Result<(), BackboneError> {
        let needed = self.config.min_samples();
        if samples < needed {
            return Err(BackboneError::InputTooShort {
                samples,
                needed,
                ms: needed.div_ceil(16),
            });
        }
        Ok(())
    }

    /// HF's `extract_features`: the conv feature encoder. `[batch, samples]` → `[batch, frames, conv_dim[-1]]`.
    pub fn extract_features(&self, wave: Tensor<B, 2>) -> Tensor<B, 3> {
        self.feature_extractor.forward(wave)
    }

    /// Feature projection: `[batch, frames, conv_dim[-1]]` → `[batch, frames, hidden]`.
    pub fn project_features(&self, features: Tensor<B, 3>) -> Tensor<B, 3> {
        self.feature_projection.forward(features)
    }

    /// `hidden_states[0]` from projected features: positional conv (and, post-LN, the encoder layer norm).
    /// `[batch, frames, hidden]` → same.
    pub fn embed(&self, projected: Tensor<B, 3>) -> Tensor<B, 3> {
        self.encoder.embed(projected)
    }

    /// WavLM's shared position bias `[1, heads, frames, frames]` for [`SslBackbone::forward_layer`]; `None` for
    /// HuBERT and wav2vec 2.0.
    pub fn position_bias(&self, frames: usize, device: &B::Device) -> Option<Tensor<B, 4>> {
        self.encoder.position_bias(frames, device)
    }

    /// Layer `i` (0-based) with adapter hooks: `[batch, frames, hidden]` → `hidden_states[i + 1]`, same shape.
    /// `position_bias` is [`SslBackbone::position_bias`] for this many frames.
    ///
    /// # Panics
    /// If `i >= num_layers()` (a programming error, not a user input).
    pub fn forward_layer<H: LayerHooks<B>>(
        &self,
        i: usize,
        x: Tensor<B, 3>,
        position_bias: Option<&Tensor<B, 4>>,
        hooks: &H,
    ) -> Tensor<B, 3> {
        self.encoder.layers[i].forward(x, position_bias, i, hooks)
    }

    /// All `num_layers + 1` hidden states as HF `output_hidden_states=True` (transformers 5.x), each
    /// `[batch, frames, hidden]`, from a wave `[batch, samples]` used as given (see the module docs).
    /// The wave must be at least [`BackboneConfig::min_samples`] long ([`SslBackbone::check_input_len`]);
    /// shorter input is a programming error that the conv layers reject with a panic.
    pub fn forward(&self, wave: Tensor<B, 2>) -> Vec<Tensor<B, 3>> {
        self.forward_with_hooks(wave, &NoHooks)
    }

    /// [`SslBackbone::forward`] with adapter hooks in every layer.
    /// A backbone cast to bf16 ([`SslBackbone::cast_params`]) takes the wave in any float dtype and returns f32
    /// hidden states.
    pub fn forward_with_hooks<H: LayerHooks<B>>(&self, wave: Tensor<B, 2>, hooks: &H) -> Vec<Tensor<B, 3>> {
        let dtype = self.param_dtype();
        let features = self.extract_features(wave.cast(dtype));
        let projected = self.project_features(features);
        let states = self.encoder.forward(projected, hooks);
        if dtype == DType::F32 {
            return states;
        }
        states.into_iter().map(|s| s.cast(FloatDType::F32)).collect()
    }

    /// HF's `last_hidden_state` from the last hidden state (adds the final layer norm of pre-LN models).
    pub fn last_hidden_state(&self, last: Tensor<B, 3>) -> Tensor<B, 3> {
        self.encoder.last_hidden_state(last)
    }

    /// Converts [`SslBackbone::forward`]'s hidden states to the `transformers` 4.x convention, where the last
    /// entry of pre-LN models already carries the encoder's final layer norm (s3prl-style layer weighting of
    /// WavLM/HuBERT/wav2vec 2.0 Large was usually done on these). No change for post-LN models.
    pub fn with_final_layer_norm(&self, mut states: Vec<Tensor<B, 3>>) -> Vec<Tensor<B, 3>> {
        if let Some(last) = states.pop() {
            states.push(self.last_hidden_state(last));
        }
        states
    }
}
