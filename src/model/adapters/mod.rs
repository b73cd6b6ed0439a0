//! Bottleneck adapters: the small trainable branches the framework adds beside a frozen backbone.
//!
//! [`BottleneckAdapter`] is the block itself (used both inside Transformer layers, through the backbone's hooks,
//! and between layers); [`InterLayerAdapters`] puts one on every hidden state before the layer aggregation.

mod bottleneck;
mod inter;

pub use bottleneck::{BottleneckAdapter, BottleneckAdapterConfig};
pub use inter::{InterLayerAdapters, InterLayerAdaptersConfig};
