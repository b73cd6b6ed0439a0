//! The trainable, backbone-independent blocks of the adaptation framework (Sang & Hansen, ICASSP 2024) and the
//! speaker-verification parts around them.
//!
//! Data flow for one batch, with `H` the backbone width and `L` its number of Transformer layers:
//!
//! ```text
//! backbone (frozen, inner adapters via its hooks) → hidden states h_0..h_L, each [B, T, H]
//!   → InterLayerAdapters       h_i + adapter_i(h_i)                      (adapters::inter)
//!   → LayerAggregation         Σ softmax(w)_i · h_i → [B, T, H]         (aggregation)      ┐ MHFA reads the
//!   → SpeakerHead              x-vector / ECAPA-TDNN → [B, E]           (heads)            ┘ stack itself
//!   → MarginSoftmax            AAM / AM-softmax loss and accuracy        (loss)
//! ```
//!
//! | module        | job                                                                                  |
//! |---------------|--------------------------------------------------------------------------------------|
//! | `adapters`    | [`BottleneckAdapter`] (a zero-initialised parallel branch); inner-layer ([`AdapterSet`]) and inter-layer ([`InterLayerAdapters`]) placement |
//! | `aggregation` | [`LayerAggregation`]: s3prl's softmax-weighted sum of hidden states, last, or mean   |
//! | `heads`       | [`SpeakerHead`]: x-vector TDNN, ECAPA-TDNN, MHFA; attentive statistics pooling      |
//! | `loss`        | [`MarginSoftmax`] (ArcFace / CosFace) and the margin warm-up [`margin_at`]           |
//! | `param_report`| [`param_report::count`]: an experiment's counts, share and checkpoint size  |
//! | `params`      | [`count_params`]: total and trainable parameter counts, per group                    |
//! | `petl`        | the other PETL baselines that hook inside the layers: LoRA, prefix tuning            |
//! | `pretrain_model` | [`PretrainModel`]: backbone + mask embedding + cluster head, for HuBERT-style pre-training |
//! | `speaker_model` | [`SpeakerModel`]: backbone, adapters, aggregation, head and loss as one module       |
//!
//! Every block has an `XConfig` (a Burn `Config`, so it serialises) with an `init(device)`, and a
//! `from_experiment` constructor taking the matching table of `crate::config::ExperimentConfig`.

pub mod adapters;
pub mod aggregation;
pub mod backbone;
pub mod build;
mod error;
pub mod heads;
pub mod loss;
pub mod param_report;
pub mod params;
pub mod petl;
pub mod pretrain_model;
pub mod speaker_model;

pub use adapters::{AdapterSet, BottleneckAdapter, BottleneckAdapterConfig, InterLayerAdapters, InterLayerAdaptersConfig};
pub use aggregation::{LayerAggregation, LayerAggregationConfig};
pub use error::ModelError;
pub use heads::{SpeakerHead, SpeakerHeadConfig};
pub use loss::{margin_at, MarginSoftmax, MarginSoftmaxConfig, MarginSoftmaxOutput};
pub use params::{count_params, count_params_by_group, snapshot_grads, snapshot_params, ParamCount, ParamSnapshot};
pub use pretrain_model::PretrainModel;
pub use speaker_model::{SpeakerModel, TrainPlan};
