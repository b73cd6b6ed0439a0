//! The whole speaker-verification model of one experiment: backbone (frozen or not), adapters inside its layers,
//! inter-layer adapters, layer aggregation, speaker head and margin classifier, with the method's choice of what
//! trains applied to the parameters.
//!
//! ```text
//! wave [B, S] → CNN → projection → layers (+ AdapterSet hooks) → h_0..h_L [B, T, H]
//!   → inter adapters (h_i + a_i(h_i)) → aggregation (Σ softmax(w)_i h_i) / MHFA reads the stack
//!   → head → embedding [B, E] → AAM/AM-softmax over training speakers → loss
//! ```
//!
//! Frozen means frozen and cheap: frozen parameters do not require gradients; when nothing inside the
//! Transformer trains, [`SpeakerModel::train_hidden_states`] runs the backbone on the inner (non-autodiff)
//! backend, and the CNN feature encoder runs there whenever it is frozen, so no graph is built for them. Such a
//! backbone may also run in bf16 (`optim.backbone_dtype`, `backbone::precision`); its hidden states come back
//! in f32.

use burn::module::{AutodiffModule, Module, ModuleMapper, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{FloatDType, Int, Tensor};

use super::adapters::{InterLayerAdapters, InterLayerAdaptersConfig};
use super::backbone::{BackboneConfig, LayerHooks, SslBackbone};
use super::build::build_backbone;
use super::heads::{SpeakerHead, SpeakerHeadConfig};
use super::loss::{MarginSoftmax, MarginSoftmaxConfig, MarginSoftmaxOutput};
use super::adapters::AdapterSet;
use super::{LayerAggregation, LayerAggregationConfig, ModelError};
use crate::config::{BackboneDType, ExperimentConfig, Method, ValidConfig};

/// What trains inside the backbone, decided by the method.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPlan {
    pub method: Method,
    /// The CNN feature encoder trains (full fine-tuning with `freeze_feature_encoder = false`).
    pub feature_encoder: bool,
    /// Anything inside the Transformer trains (weights, biases, or adapters in its layers).
    pub transformer: bool,
}

#[derive(Module, Debug)]
pub struct SpeakerModel<B: Backend> {
    pub backbone: SslBackbone<B>,
    pub adapters: AdapterSet<B>,
    pub inter: Option<InterLayerAdapters<B>>,
    pub aggregation: LayerAggregation<B>,
    pub head: SpeakerHead<B>,
    pub classifier: MarginSoftmax<B>,
    #[module(skip)]
    pub plan: TrainPlan,
}

impl<B: Backend> SpeakerModel<B> {
    /// Builds the model of `config` for `num_speakers` training speakers (the classifier's classes).
    pub fn from_config(config: &ValidConfig, num_speakers: usize, device: &B::Device) -> Result<Self, ModelError> {
        let backbone = build_backbone::<B>(&config.model, device)?;
        Self::with_backbone(backbone, config, num_speakers, device)
    }

    /// As [`SpeakerModel::from_config`] around an already built backbone.
    pub fn with_backbone(
        backbone: SslBackbone<B>,
        config: &ValidConfig,
        num_speakers: usize,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        let bc: &BackboneConfig = &backbone.config;
        let (hidden, layers) = (bc.hidden_size, bc.num_hidden_layers);
        let adaptation = &config.adaptation;
        let adapters = AdapterSet::from_config(adaptation, bc, device)?;
        let inter = if adaptation.inter_enabled() {
            Some(
                InterLayerAdaptersConfig::from_experiment(&adaptation.inter.as_adapter(), hidden, layers)
                    .init(device)?,
            )
        } else {
            None
        };
        let aggregation = LayerAggregationConfig::from_experiment(&config.aggregation, layers).init(device)?;
        let head = SpeakerHeadConfig::from_experiment(&config.head, hidden, layers).init(device)?;
        let classifier =
            MarginSoftmaxConfig::from_experiment(&config.loss, config.head.embedding_dim, num_speakers).init(device)?;
        let method = adaptation.method;
        let plan = TrainPlan {
            method,
            feature_encoder: method == Method::FullFinetune && !adaptation.freeze_feature_encoder,
            transformer: matches!(method, Method::FullFinetune | Method::PartialFinetune | Method::Bitfit)
                || !adapters.is_empty(),
        };
        let mut model = Self {
            backbone,
            adapters,
            inter,
            aggregation,
            head,
            classifier,
            plan,
        };
        model.backbone = freeze_backbone(model.backbone, config);
        // Reduced precision only for a backbone whose states never change (validation says so for the config).
        if config.optim.backbone_dtype == BackboneDType::Bf16 && !model.plan.transformer {
            model.backbone = model.backbone.cast_params(FloatDType::BF16);
        }
        Ok(model)
    }

    /// All hidden states with adapters: `[B, samples]` → `L + 1` tensors `[B, T, H]`, inter adapters applied.
    pub fn hidden_states(&self, wave: Tensor<B, 2>) -> Vec<Tensor<B, 3>> {
        let states = self.backbone.forward_with_hooks(wave, &self.adapters);
        self.after_backbone(states)
    }

    fn after_backbone(&self, states: Vec<Tensor<B, 3>>) -> Vec<Tensor<B, 3>> {
        match &self.inter {
            Some(inter) => inter.forward(states),
            None => states,
        }
    }

    /// Speaker embeddings `[B, E]` of waves `[B, samples]` (inference; no loss).
    pub fn embed(&self, wave: Tensor<B, 2>) -> Tensor<B, 2> {
        let states = self.hidden_states(wave);
        self.head.forward(&states, &self.aggregation)
    }

    /// The current softmax layer weights (index 0 = CNN/projection output), for plots.
    pub fn layer_weights(&self) -> Vec<f32> {
        self.aggregation.weights()
    }

    /// The softmax layer weights `[L + 1]` on the device, detached (no readback); `None` unless the aggregation is
    /// a learned weighted sum.
    pub fn layer_weights_tensor(&self) -> Option<Tensor<B, 1>> {
        self.aggregation.weights_tensor()
    }
}

/// Runs `f` layers from `hooks` over embedded features; the same steps as the backbone's own forward.
fn run_layers<B: Backend, H: LayerHooks<B>>(
    backbone: &SslBackbone<B>,
    embedded: Tensor<B, 3>,
    hooks: &H,
) -> Vec<Tensor<B, 3>> {
    let [_, frames, _] = embedded.dims();
    let bias = backbone.position_bias(frames, &embedded.device());
    let mut states = Vec::with_capacity(backbone.num_layers() + 1);
    let mut x = embedded;
    states.push(x.clone());
    for i in 0..backbone.num_layers() {
        x = backbone.forward_layer(i, x, bias.as_ref(), hooks);
        states.push(x.clone());
    }
    states
}

impl<B: AutodiffBackend> SpeakerModel<B> {
    /// Hidden states for a training step, building an autodiff graph only for what trains.
    pub fn train_hidden_states(&self, wave: Tensor<B, 2>) -> Vec<Tensor<B, 3>> {
        if !self.plan.transformer {
            // Nothing inside the backbone trains: run it entirely outside autodiff.
            let inner = self.backbone.valid();
            let states = inner.forward(wave.inner());
            return self.after_backbone(states.into_iter().map(Tensor::from_inner).collect());
        }
        let features = if self.plan.feature_encoder {
            self.backbone.extract_features(wave)
        } else {
            Tensor::from_inner(self.backbone.feature_extractor.valid().forward(wave.inner()))
        };
        let embedded = self.backbone.embed(self.backbone.project_features(features));
        let states = run_layers(&self.backbone, embedded, &self.adapters);
        self.after_backbone(states)
    }

    /// As [`SpeakerModel::train_step_output`] from the backbone's `L + 1` hidden states `[B, T, H]` computed
    /// elsewhere (the engine's cache of a frozen backbone, `engine::state_cache`); only when nothing inside the
    /// backbone trains (`plan.transformer` is false).
    pub fn train_step_output_from_states(
        &self,
        states: Vec<Tensor<B, 3>>,
        labels: Tensor<B, 1, Int>,
    ) -> MarginSoftmaxOutput<B> {
        let states = self.after_backbone(states);
        let embeddings = self.head.forward(&states, &self.aggregation);
        self.classifier.forward(embeddings, labels)
    }

    /// Loss and accuracy of a batch: waves `[B, samples]`, speaker labels `[B]`.
    pub fn train_step_output(&self, wave: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> MarginSoftmaxOutput<B> {
        let states = self.train_hidden_states(wave);
        let embeddings = self.head.forward(&states, &self.aggregation);
        self.classifier.forward(embeddings, labels)
    }
}

/// Sets `require_grad` on the backbone's parameters as the method says; everything else keeps the default
/// (trainable).
fn freeze_backbone<B: Backend>(backbone: SslBackbone<B>, config: &ExperimentConfig) -> SslBackbone<B> {
    let a = &config.adaptation;
    let layers = backbone.num_layers();
    let rule = match a.method {
        Method::FullFinetune => Rule::All {
            feature_encoder: !a.freeze_feature_encoder,
        },
        Method::PartialFinetune => Rule::TopLayers {
            from: layers.saturating_sub(a.partial_top_k),
        },
        Method::Bitfit => Rule::Biases,
        _ => Rule::None,
    };
    backbone.map(&mut RequireGrad { rule, path: Vec::new() })
}

#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Nothing in the backbone trains.
    None,
    /// Everything trains, the CNN feature encoder only if asked.
    All { feature_encoder: bool },
    /// Transformer layers `from..` train.
    TopLayers { from: usize },
    /// Only bias vectors train (BitFit), outside the CNN feature encoder.
    Biases,
}

/// A path-aware mapper: decides per parameter from its place in the module tree.
struct RequireGrad {
    rule: Rule,
    path: Vec<String>,
}

impl RequireGrad {
    fn trains(&self) -> bool {
        let in_cnn = self.path.first().is_some_and(|p| p == "feature_extractor");
        match self.rule {
            Rule::None => false,
            Rule::All { feature_encoder } => feature_encoder || !in_cnn,
            Rule::TopLayers { from } => {
                // encoder.layers.<i>.…
                self.path.len() >= 3
                    && self.path[0] == "encoder"
                    && self.path[1] == "layers"
                    && self.path[2].parse::<usize>().is_ok_and(|i| i >= from)
            }
            Rule::Biases => !in_cnn && self.path.last().is_some_and(|p| p == "bias"),
        }
    }
}

impl<B: Backend> ModuleMapper<B> for RequireGrad {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        param.set_require_grad(self.trains())
    }
}
