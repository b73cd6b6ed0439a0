//! Bottleneck adapters: the small trainable branches the framework adds beside a frozen backbone.
//!
//! [`BottleneckAdapter`] is the block itself (used both inside Transformer layers, through the backbone's hooks,
//! and between layers). The framework's two kinds live here side by side: [`inner::AdapterSet`] holds what sits
//! *inside* each Transformer layer (the inner-layer parallel adapters beside MHSA / FFN, and the baselines that
//! hook in the same place: Houlsby serial adapters, LoRA and prefix tuning from [`crate::model::petl`]);
//! [`InterLayerAdapters`] puts one adapter on every hidden state before the layer aggregation.
//!
//! | file         | what                                                                        |
//! |--------------|-----------------------------------------------------------------------------|
//! | `bottleneck` | down-projection, activation, up-projection, scale: `[B, T, H] → [B, T, H]`  |
//! | `inner`      | the per-layer set implementing the backbone's `LayerHooks`                  |
//! | `inter`      | one adapter per hidden state `h_0..h_L`, before the aggregation              |

mod bottleneck;
pub mod inner;
mod inter;

pub use bottleneck::{BottleneckAdapter, BottleneckAdapterConfig};
pub use inner::AdapterSet;
pub use inter::{InterLayerAdapters, InterLayerAdaptersConfig};
