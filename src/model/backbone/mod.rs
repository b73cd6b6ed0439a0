//! Self-supervised speech backbones (WavLM, HuBERT, wav2vec 2.0) in Burn, loading HuggingFace checkpoints at
//! numerical parity with `transformers`.
//!
//! The module tree mirrors HF's: [`feature_encoder`] (`feature_extractor`), [`feature_projection`],
//! [`positional`] (`encoder.pos_conv_embed`), [`encoder`] (layers, feed-forward), [`attention`] (including WavLM's
//! gated relative position bias). [`model::SslBackbone`] ties them together; [`hooks`] defines where adapters
//! plug in; [`load`] is the one place that maps checkpoint keys to fields ([`export`] writes them back as an HF
//! folder); [`presets`] names real architectures.
//!
//! Typical use:
//! ```ignore
//! let model = load_backbone::<B>(Path::new("wavlm-base-plus"), &device)?; // config.json + weights
//! model.check_input_len(wave.dims()[1])?;
//! let hidden_states = model.forward(wave);          // num_layers + 1 tensors [batch, frames, hidden]
//! let with_adapters = model.forward_with_hooks(wave, &my_adapters); // my_adapters: impl LayerHooks<B>
//! ```
//!
//! Hidden states follow `transformers` 5.x `output_hidden_states=True`: index 0 is the input of the first
//! layer, index `i` the output of layer `i`; for pre-LN (Large) models the encoder's final layer norm is applied
//! only by [`SslBackbone::last_hidden_state`] (see [`encoder`]).

pub mod attention;
pub mod config;
pub mod encoder;
pub mod error;
pub mod export;
pub mod feature_encoder;
pub mod feature_projection;
pub mod gelu;
pub mod hooks;
mod host_attention;
mod host_conv;
mod host_norm;
pub mod load;
pub mod model;
mod ops;
pub mod positional;
pub mod precision;
pub mod presets;
mod torch_pickle;
mod torch_zip;
mod weights;

pub use config::{BackboneConfig, FeatExtractNorm, ModelType};
pub use error::BackboneError;
pub use export::{save_hf_folder, ExportDtype};
pub use hooks::{LayerHooks, NoHooks, Projection};
pub use load::{load_backbone, load_backbone_with_report, LoadReport};
pub use model::SslBackbone;
pub use presets::BackbonePreset;
