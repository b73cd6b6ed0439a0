//! Everything that adapts the inside of the Transformer, as one module implementing the backbone's
//! [`LayerHooks`]: inner-layer parallel adapters (the proposed framework), Houlsby serial adapters, LoRA and
//! prefix tuning. Each is a per-layer `Vec<Option<…>>`, so a layer without an adapter costs nothing and the
//! parameter tree names where every adapter sits (`inner_mhsa.3.down.weight`).
//!
//! Inter-layer adapters, the aggregation and the head act *between* layers and live in [`crate::model::SpeakerModel`] ([`super::InterLayerAdapters`] beside this file).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::bottleneck::{BottleneckAdapter, BottleneckAdapterConfig};
use crate::model::backbone::{BackboneConfig, LayerHooks, Projection};
use crate::model::ModelError;
use crate::config::{AdaptationConfig, AdapterPosition, LoraTarget, Method};
use crate::model::petl::lora::{LayerLora, LoraBranch};
use crate::model::petl::prefix::PrefixKv;

/// Adapters inside the Transformer layers; every vector has one entry per layer.
#[derive(Module, Debug)]
pub struct AdapterSet<B: Backend> {
    /// Inner-layer parallel adapters beside MHSA: `a + adapter(a_in)`.
    pub inner_mhsa: Vec<Option<BottleneckAdapter<B>>>,
    /// Inner-layer parallel adapters beside the FFN: `f + adapter(f_in)`.
    pub inner_ffn: Vec<Option<BottleneckAdapter<B>>>,
    /// Houlsby serial adapters after MHSA: `a + adapter(a)`.
    pub houlsby_mhsa: Vec<Option<BottleneckAdapter<B>>>,
    /// Houlsby serial adapters after the FFN: `f + adapter(f)`.
    pub houlsby_ffn: Vec<Option<BottleneckAdapter<B>>>,
    pub lora: Vec<Option<LayerLora<B>>>,
    pub prefix: Vec<Option<PrefixKv<B>>>,
}

fn none<T>(n: usize) -> Vec<Option<T>> {
    (0..n).map(|_| None).collect()
}

impl<B: Backend> AdapterSet<B> {
    /// The adapters `adaptation` asks for, sized for `backbone`. Layer selections are resolved against the
    /// model's depth here, so a checkpoint's real depth is used.
    pub fn from_config(
        adaptation: &AdaptationConfig,
        backbone: &BackboneConfig,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let layers = backbone.num_hidden_layers;
        let hidden = backbone.hidden_size;
        let resolve = |key: &str, sel: &crate::config::LayerSelection| {
            sel.resolve(layers).map_err(|reason| ModelError::Config {
                key: key.to_string(),
                reason,
            })
        };
        let mut set = Self {
            inner_mhsa: none(layers),
            inner_ffn: none(layers),
            houlsby_mhsa: none(layers),
            houlsby_ffn: none(layers),
            lora: none(layers),
            prefix: none(layers),
        };
        if adaptation.inner_enabled() {
            let config = BottleneckAdapterConfig::from_experiment(&adaptation.inner, hidden);
            let position = adaptation.inner.position;
            for i in resolve("adaptation.inner.layers", &adaptation.inner.layers)? {
                if matches!(position, AdapterPosition::Mhsa | AdapterPosition::Both) {
                    set.inner_mhsa[i] = Some(config.init(device)?);
                }
                if matches!(position, AdapterPosition::Ffn | AdapterPosition::Both) {
                    set.inner_ffn[i] = Some(config.init(device)?);
                }
            }
        }
        match adaptation.method {
            Method::Houlsby => {
                let config = BottleneckAdapterConfig::new(hidden, adaptation.houlsby.bottleneck)
                    .with_activation(crate::config::Activation::Gelu);
                for i in resolve("adaptation.houlsby.layers", &adaptation.houlsby.layers)? {
                    set.houlsby_mhsa[i] = Some(config.init(device)?);
                    set.houlsby_ffn[i] = Some(config.init(device)?);
                }
            }
            Method::Lora => {
                let c = &adaptation.lora;
                let inter = backbone.intermediate_size;
                let branch = |target: LoraTarget, d_in: usize, d_out: usize| {
                    c.targets
                        .contains(&target)
                        .then(|| LoraBranch::new(d_in, d_out, c.rank, c.alpha, device))
                };
                for i in resolve("adaptation.lora.layers", &c.layers)? {
                    set.lora[i] = Some(LayerLora {
                        q: branch(LoraTarget::Q, hidden, hidden),
                        k: branch(LoraTarget::K, hidden, hidden),
                        v: branch(LoraTarget::V, hidden, hidden),
                        out: branch(LoraTarget::Out, hidden, hidden),
                        ffn_in: branch(LoraTarget::FfnIn, hidden, inter),
                        ffn_out: branch(LoraTarget::FfnOut, inter, hidden),
                    });
                }
            }
            Method::Prefix => {
                for i in resolve("adaptation.prefix.layers", &adaptation.prefix.layers)? {
                    set.prefix[i] = Some(PrefixKv::new(adaptation.prefix.length, hidden, device));
                }
            }
            _ => {}
        }
        Ok(set)
    }

    /// Whether any adapter sits inside the Transformer (if not, the backbone can run outside autodiff).
    pub fn is_empty(&self) -> bool {
        let empty = |v: &[Option<BottleneckAdapter<B>>]| v.iter().all(Option::is_none);
        empty(&self.inner_mhsa)
            && empty(&self.inner_ffn)
            && empty(&self.houlsby_mhsa)
            && empty(&self.houlsby_ffn)
            && self.lora.iter().all(Option::is_none)
            && self.prefix.iter().all(Option::is_none)
    }
}

fn branch<B: Backend>(slot: Option<&Option<BottleneckAdapter<B>>>, x: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
    slot?.as_ref().map(|a| a.forward(x.clone()))
}

fn serial<B: Backend>(slot: Option<&Option<BottleneckAdapter<B>>>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    match slot.and_then(Option::as_ref) {
        Some(a) => x.clone() + a.forward(x),
        None => x,
    }
}

impl<B: Backend> LayerHooks<B> for AdapterSet<B> {
    fn beside_attention(&self, layer: usize, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        branch(self.inner_mhsa.get(layer), input)
    }

    fn beside_feed_forward(&self, layer: usize, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        branch(self.inner_ffn.get(layer), input)
    }

    fn after_attention(&self, layer: usize, output: Tensor<B, 3>) -> Tensor<B, 3> {
        serial(self.houlsby_mhsa.get(layer), output)
    }

    fn after_feed_forward(&self, layer: usize, output: Tensor<B, 3>) -> Tensor<B, 3> {
        serial(self.houlsby_ffn.get(layer), output)
    }

    fn beside_projection(&self, layer: usize, projection: Projection, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        let lora = self.lora.get(layer)?.as_ref()?;
        let branch = match projection {
            Projection::Query => &lora.q,
            Projection::Key => &lora.k,
            Projection::Value => &lora.v,
            Projection::Out => &lora.out,
        };
        branch.as_ref().map(|b| b.forward(input.clone()))
    }

    fn beside_ffn_in(&self, layer: usize, input: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        let b = self.lora.get(layer)?.as_ref()?.ffn_in.as_ref()?;
        Some(b.forward(input.clone()))
    }

    fn beside_ffn_out(&self, layer: usize, hidden: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
        let b = self.lora.get(layer)?.as_ref()?.ffn_out.as_ref()?;
        Some(b.forward(hidden.clone()))
    }

    fn attention_prefix(&self, layer: usize) -> Option<(Tensor<B, 3>, Tensor<B, 3>)> {
        let p = self.prefix.get(layer)?.as_ref()?;
        Some((p.keys.val(), p.values.val()))
    }
}
