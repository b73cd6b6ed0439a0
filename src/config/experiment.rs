//! The serde types of an experiment config, one struct per TOML table, each field documented with its unit.
//!
//! Every table rejects unknown keys. Defaults are those of the proposed framework (inner+inter parallel
//! adapters, softmax-weighted layer aggregation, x-vector head, AAM-softmax), so a minimal file only names the
//! model and the data. Enum values are written in kebab-case (`method = "full-finetune"`).

use super::LayerSelection;
pub use crate::data::{AugmentConfig, CorpusLayout};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One experiment: what model, how it is adapted, on what data, how it is optimised, where it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Short name, used in the run folder name (`<UTC timestamp>-<name>`): letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Free text shown in the run list.
    #[serde(default)]
    pub description: String,
    /// The sweep that made this run (`adaptsv sweep`, the app's "Compare methods"): written by the sweep, so
    /// Compare's sweep view can gather its runs; absent for a run launched on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    /// Seed for initialisation, data order and augmentation.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `cpu`, `wgpu:N` (adapter N of wgpu's enumeration: `adaptsv devices`) or `cuda:N`. Chosen explicitly: never
    /// silently changed.
    #[serde(default = "default_device")]
    pub device: String,
    /// Parent folder of run folders.
    #[serde(default = "default_output_dir")]
    pub output_dir: PathBuf,
    pub model: ModelConfig,
    #[serde(default)]
    pub adaptation: AdaptationConfig,
    #[serde(default)]
    pub aggregation: AggregationConfig,
    #[serde(default)]
    pub head: HeadConfig,
    #[serde(default)]
    pub loss: LossConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub optim: OptimConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    /// Present: this run pre-trains the backbone itself (HuBERT's masked prediction of clustered MFCC frames)
    /// instead of training a speaker model; adaptation, aggregation, head, loss and evaluation do not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<PretrainConfig>,
    /// How the run (or a sweep over it) is submitted to a Slurm cluster (`adaptsv train --slurm`, the app's
    /// "Run on: Slurm"); ignored when it trains on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmConfig>,
    /// Data-parallel training over several devices, and several machines (nodes); absent: one peer on `device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<ParallelConfig>,
}

/// Data-parallel training with Burn's collective all-reduce: one peer per device, each with its shard of every
/// batch (`optim.batch_size` stays the global batch, so it and the learning rates mean what they mean on one
/// device), gradients averaged over all peers before each optimiser step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelConfig {
    /// This node's devices, one peer each: `["cuda:0", "cuda:1"]`, `["wgpu:0", "wgpu:1"]`, or `["cpu", "cpu"]`
    /// (CPU peers share the cores, `cpu_threads` each). All of one kind. Empty: `device` alone.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Threads of each CPU peer (0: this machine's cores shared evenly among the peers).
    #[serde(default)]
    pub cpu_threads: usize,
    /// Machines (one process each) the run spans; every node has the same `devices`.
    #[serde(default = "one_node")]
    pub nodes: u32,
    /// `host:port` of the global orchestrator the nodes meet at (node 0 starts it). Empty: from the environment
    /// (`ADAPTSV_ORCHESTRATOR`, which the Slurm batch script sets to its first node), else `127.0.0.1:<port>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub orchestrator: String,
    /// The port of the orchestrator when `orchestrator` names none; each node serves its tensors on
    /// `port + 1 + rank`.
    #[serde(default = "default_collective_port")]
    pub port: u16,
    /// Seconds a step waits for every peer before the run fails naming those that did not answer. On several
    /// nodes it must exceed an evaluation's time (node 0 evaluates while the others wait).
    #[serde(default = "default_peer_timeout")]
    pub timeout_seconds: u64,
}

fn one_node() -> u32 {
    1
}

fn default_collective_port() -> u16 {
    41000
}

fn default_peer_timeout() -> u64 {
    900
}

impl Default for ParallelConfig {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            cpu_threads: 0,
            nodes: 1,
            orchestrator: String::new(),
            port: default_collective_port(),
            timeout_seconds: default_peer_timeout(),
        }
    }
}

impl ExperimentConfig {
    /// The devices of this node's peers: `parallel.devices`, or `device` alone.
    pub fn peer_devices(&self) -> Vec<String> {
        match &self.parallel {
            Some(p) if !p.devices.is_empty() => p.devices.clone(),
            _ => vec![self.device.clone()],
        }
    }

    /// Peers over all nodes: the number of shards of every batch.
    pub fn peer_count(&self) -> usize {
        let nodes = self.parallel.as_ref().map_or(1, |p| p.nodes.max(1)) as usize;
        self.peer_devices().len() * nodes
    }

    /// The rows of a batch each peer computes (`optim.batch_size / peers`).
    pub fn per_peer_batch(&self) -> usize {
        self.optim.batch_size / self.peer_count().max(1)
    }
}

/// Slurm settings: each one becomes an `#SBATCH` line of the batch script (`crate::slurm::script`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition` (empty: the cluster's default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub partition: String,
    /// `--account` (empty: the user's default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// `--time`: the time limit in Slurm's forms (`90`, `4:00:00`, `1-12:00:00`); empty: the partition's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time: String,
    /// `--cpus-per-task` (0: Slurm's default, one).
    #[serde(default)]
    pub cpus: usize,
    /// `--mem`, e.g. `32G` (empty: the cluster's default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mem: String,
    /// `--gres`, e.g. `gpu:1` or `gpu:a100:1` (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gres: String,
    /// A sweep's job array runs at most this many tasks at once (`--array=…%K`; 0: no limit).
    #[serde(default)]
    pub parallel: usize,
    /// More `sbatch` options, one per entry, as on its command line (`--qos=high`, `--constraint=a100`); empty
    /// entries are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Runs every scheduler command through this prefix, for an app that is not on a submit host (e.g.
    /// `ssh login-node`; the run folders must then be on a filesystem both see, at the same path).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// Seconds before the time limit at which the job is told to stop (`--signal=B:USR1@N`): enough to finish
    /// a step and write a checkpoint.
    #[serde(default = "default_signal_seconds")]
    pub signal_seconds: u64,
    /// A job stopped by that warning requeues itself and resumes from its checkpoint, so a run longer than the
    /// time limit completes over several jobs.
    #[serde(default)]
    pub requeue: bool,
    /// The `adaptsv` program the nodes run (empty: this one, which must then be on a filesystem they see).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub program: String,
}

fn default_signal_seconds() -> u64 {
    120
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            partition: String::new(),
            account: String::new(),
            time: String::new(),
            cpus: 0,
            mem: String::new(),
            gres: String::new(),
            parallel: 0,
            extra: Vec::new(),
            prefix: String::new(),
            signal_seconds: default_signal_seconds(),
            requeue: false,
            program: String::new(),
        }
    }
}

/// Self-supervised pre-training as HuBERT's first iteration: targets are k-means clusters of MFCC frames (one
/// per CNN frame), spans of frames are masked and the model predicts the masked frames' clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// What the k-means targets cluster: `mfcc` (13 cepstra + deltas, HuBERT's first iteration) or `log-mel`
    /// (the 40 log-mel energies, which keep the spectral detail cepstra smooth away).
    #[serde(default)]
    pub targets: TargetFeatures,
    /// k-means clusters (HuBERT's first iteration: 100).
    #[serde(default = "default_clusters")]
    pub clusters: usize,
    /// Probability that a frame starts a masked span (HuBERT: 0.08).
    #[serde(default = "default_mask_prob")]
    pub mask_prob: f64,
    /// Frames per masked span (HuBERT: 10).
    #[serde(default = "default_mask_length")]
    pub mask_length: usize,
    /// Weight of the prediction loss on unmasked frames (HuBERT's α; 0 = masked frames only, the paper's
    /// choice for long runs; a short run learns faster with some weight here).
    #[serde(default)]
    pub unmasked_weight: f64,
    /// MFCC frames k-means is fitted on (drawn from the training audio with the run's seed).
    #[serde(default = "default_kmeans_frames")]
    pub kmeans_frames: usize,
    #[serde(default = "default_kmeans_iterations")]
    pub kmeans_iterations: usize,
    /// Where the finished backbone is written as a HuggingFace folder (`config.json` + `model.safetensors`);
    /// it is always also written into the run folder as `backbone/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<PathBuf>,
    /// Weights written as `f32` or `f16` (half the size).
    #[serde(default = "default_export_dtype")]
    pub export_dtype: String,
}

/// Frame features the pre-training targets are k-means clusters of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TargetFeatures {
    #[default]
    Mfcc,
    LogMel,
}

impl TargetFeatures {
    /// Values per frame.
    pub fn dim(self) -> usize {
        match self {
            Self::Mfcc => crate::data::mfcc::DIM,
            Self::LogMel => crate::data::mfcc::LOG_MEL_DIM,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Mfcc => "MFCC",
            Self::LogMel => "log-mel",
        }
    }
}

fn default_clusters() -> usize {
    100
}
fn default_mask_prob() -> f64 {
    0.08
}
fn default_mask_length() -> usize {
    10
}
fn default_kmeans_frames() -> usize {
    50_000
}
fn default_kmeans_iterations() -> usize {
    15
}
fn default_export_dtype() -> String {
    "f32".into()
}

fn default_seed() -> u64 {
    42
}
fn default_device() -> String {
    "cpu".into()
}
fn default_output_dir() -> PathBuf {
    PathBuf::from("experiments/runs")
}

/// Where the pre-trained backbone comes from: exactly one of `checkpoint` and `preset`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A HuggingFace model folder holding `config.json` and `model.safetensors` or `pytorch_model.bin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<PathBuf>,
    /// A named architecture with random initialisation (for dry runs and benchmarks), e.g. `wavlm-base-plus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

/// How the pre-trained model is adapted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Every backbone parameter is trained (the CNN feature encoder too unless `freeze_feature_encoder`).
    FullFinetune,
    /// Backbone frozen; only the layer aggregation and the head train (the SUPERB protocol).
    Frozen,
    /// Only the top `partial_top_k` Transformer layers train.
    PartialFinetune,
    /// Serial bottleneck adapters after MHSA and after FFN (Houlsby et al., 2019).
    Houlsby,
    /// Low-rank updates of chosen projections (Hu et al., 2021).
    Lora,
    /// Learned key/value prefixes per layer (Li & Liang, 2021).
    Prefix,
    /// Only the backbone's biases train (Ben Zaken et al., 2021).
    Bitfit,
    /// The proposed framework: inner-layer and/or inter-layer parallel adapters (Sang & Hansen, ICASSP 2024).
    #[default]
    Adapters,
}

impl Method {
    pub const ALL: [Method; 8] = [
        Method::FullFinetune,
        Method::Frozen,
        Method::PartialFinetune,
        Method::Houlsby,
        Method::Lora,
        Method::Prefix,
        Method::Bitfit,
        Method::Adapters,
    ];

    /// The name as written in TOML.
    pub fn name(self) -> &'static str {
        match self {
            Method::FullFinetune => "full-finetune",
            Method::Frozen => "frozen",
            Method::PartialFinetune => "partial-finetune",
            Method::Houlsby => "houlsby",
            Method::Lora => "lora",
            Method::Prefix => "prefix",
            Method::Bitfit => "bitfit",
            Method::Adapters => "adapters",
        }
    }
}

/// The adaptation method and the options of every method (only those of the chosen one are used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptationConfig {
    #[serde(default)]
    pub method: Method,
    /// With `full-finetune`: keep the convolutional feature encoder frozen (the usual choice).
    #[serde(default = "yes")]
    pub freeze_feature_encoder: bool,
    /// With `partial-finetune`: how many of the top Transformer layers train.
    #[serde(default = "default_top_k")]
    pub partial_top_k: usize,
    #[serde(default)]
    pub inner: AdapterConfig,
    #[serde(default)]
    pub inter: InterAdapterConfig,
    #[serde(default)]
    pub houlsby: HoulsbyConfig,
    #[serde(default)]
    pub lora: LoraConfig,
    #[serde(default)]
    pub prefix: PrefixConfig,
}

fn yes() -> bool {
    true
}
fn default_top_k() -> usize {
    2
}

impl Default for AdaptationConfig {
    fn default() -> Self {
        Self {
            method: Method::default(),
            freeze_feature_encoder: true,
            partial_top_k: default_top_k(),
            inner: AdapterConfig::default(),
            inter: InterAdapterConfig::default(),
            houlsby: HoulsbyConfig::default(),
            lora: LoraConfig::default(),
            prefix: PrefixConfig::default(),
        }
    }
}

/// Where an inner-layer adapter sits, beside which Transformer sub-block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdapterPosition {
    Mhsa,
    Ffn,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    Relu,
    Gelu,
}

/// The inner-layer parallel bottleneck adapters `x ↦ scale · up(act(down(norm?(x))))`, added beside MHSA and/or
/// the FFN inside the selected Transformer layers (`[adaptation.inner]`).
///
/// `enabled` unset means "as the method says": on for `method = "adapters"`, off for every other method, so a
/// baseline never gets adapters it did not ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdapterConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Which Transformer layers get inner adapters: `"all"`, `"4-9"` (1-based, inclusive), `"top-6"`, or `[1, 5]`.
    #[serde(default)]
    pub layers: LayerSelection,
    #[serde(default = "default_position")]
    pub position: AdapterPosition,
    /// Width of the bottleneck (hidden units).
    pub bottleneck: usize,
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Initial value of the output scale.
    #[serde(default = "one")]
    pub scale: f64,
    /// Train the scale as a scalar parameter.
    #[serde(default)]
    pub learnable_scale: bool,
    /// LayerNorm on the adapter input.
    #[serde(default)]
    pub layer_norm: bool,
}

fn default_position() -> AdapterPosition {
    AdapterPosition::Both
}
fn default_activation() -> Activation {
    Activation::Relu
}
fn one() -> f64 {
    1.0
}

impl Default for AdapterConfig {
    /// Keys missing from a written `[adaptation.inner]` table (or the whole table) take these values.
    fn default() -> Self {
        Self {
            enabled: None,
            layers: LayerSelection::All,
            position: AdapterPosition::Both,
            bottleneck: 64,
            activation: Activation::Relu,
            scale: 1.0,
            learnable_scale: false,
            layer_norm: false,
        }
    }
}

/// The inter-layer adapters (`[adaptation.inter]`): one bottleneck adapter on the output embedding of every layer
/// (and on the CNN/projection output), before the layer aggregation. `enabled` unset: as the method says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InterAdapterConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Width of the bottleneck (hidden units).
    pub bottleneck: usize,
    pub activation: Activation,
    /// Initial value of the output scale.
    pub scale: f64,
    /// Train the scale as a scalar parameter.
    pub learnable_scale: bool,
    /// LayerNorm on the adapter input.
    pub layer_norm: bool,
}

impl Default for InterAdapterConfig {
    /// Keys missing from a written `[adaptation.inter]` table (or the whole table) take these values.
    fn default() -> Self {
        Self {
            enabled: None,
            bottleneck: 128,
            activation: Activation::Relu,
            scale: 1.0,
            learnable_scale: false,
            layer_norm: false,
        }
    }
}

impl InterAdapterConfig {
    /// The adapter shape as an inner-adapter table (placement fields unused).
    pub fn as_adapter(&self) -> AdapterConfig {
        AdapterConfig {
            enabled: self.enabled,
            bottleneck: self.bottleneck,
            activation: self.activation,
            scale: self.scale,
            learnable_scale: self.learnable_scale,
            layer_norm: self.layer_norm,
            ..AdapterConfig::default()
        }
    }
}

impl AdaptationConfig {
    /// Whether inner-layer adapters are built: only for `method = "adapters"`, unless switched off.
    pub fn inner_enabled(&self) -> bool {
        self.method == Method::Adapters && self.inner.enabled.unwrap_or(true)
    }
    /// Whether inter-layer adapters are built: only for `method = "adapters"`, unless switched off.
    pub fn inter_enabled(&self) -> bool {
        self.method == Method::Adapters && self.inter.enabled.unwrap_or(true)
    }
    /// Whether the backbone's hidden states stay those of the frozen backbone: nothing inside it trains
    /// (method `frozen`, or inter adapters alone). The condition of `optim.backbone_cache_mib`.
    pub fn backbone_states_frozen(&self) -> bool {
        match self.method {
            Method::Frozen => true,
            Method::Adapters => !self.inner_enabled(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoulsbyConfig {
    #[serde(default)]
    pub layers: LayerSelection,
    #[serde(default = "default_houlsby_bottleneck")]
    pub bottleneck: usize,
}
fn default_houlsby_bottleneck() -> usize {
    64
}
impl Default for HoulsbyConfig {
    fn default() -> Self {
        Self {
            layers: LayerSelection::All,
            bottleneck: default_houlsby_bottleneck(),
        }
    }
}

/// Which projections LoRA adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoraTarget {
    Q,
    K,
    V,
    Out,
    FfnIn,
    FfnOut,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    #[serde(default)]
    pub layers: LayerSelection,
    #[serde(default = "default_lora_targets")]
    pub targets: Vec<LoraTarget>,
    #[serde(default = "default_lora_rank")]
    pub rank: usize,
    /// The update is scaled by `alpha / rank`.
    #[serde(default = "default_lora_alpha")]
    pub alpha: f64,
}
fn default_lora_targets() -> Vec<LoraTarget> {
    vec![LoraTarget::Q, LoraTarget::V]
}
fn default_lora_rank() -> usize {
    8
}
fn default_lora_alpha() -> f64 {
    16.0
}
impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            layers: LayerSelection::All,
            targets: default_lora_targets(),
            rank: default_lora_rank(),
            alpha: default_lora_alpha(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixConfig {
    #[serde(default)]
    pub layers: LayerSelection,
    /// Number of learned key/value vectors prepended in each selected layer.
    #[serde(default = "default_prefix_length")]
    pub length: usize,
}
fn default_prefix_length() -> usize {
    16
}
impl Default for PrefixConfig {
    fn default() -> Self {
        Self {
            layers: LayerSelection::All,
            length: default_prefix_length(),
        }
    }
}

/// How the hidden states of all layers become one sequence for the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AggregationKind {
    /// Learned softmax weights over all hidden states, uniform at start (s3prl's weighted sum).
    #[default]
    WeightedSum,
    /// The last layer only.
    Last,
    /// Plain mean of all hidden states.
    Mean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AggregationConfig {
    #[serde(default)]
    pub kind: AggregationKind,
    /// LayerNorm (no affine) on each hidden state before the sum.
    #[serde(default)]
    pub layer_norm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HeadKind {
    /// x-vector TDNN with attentive statistics pooling.
    #[default]
    Xvector,
    /// ECAPA-TDNN.
    Ecapa,
    /// Multi-head factorized attentive pooling over the layer stack (Peng et al., 2022).
    Mhfa,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadConfig {
    #[serde(default)]
    pub kind: HeadKind,
    /// Speaker embedding size.
    #[serde(default = "default_embedding_dim")]
    pub embedding_dim: usize,
    /// TDNN / ECAPA channel width.
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// MHFA: number of attention heads.
    #[serde(default = "default_mhfa_heads")]
    pub mhfa_heads: usize,
    /// MHFA: compressed value dimension.
    #[serde(default = "default_mhfa_compression")]
    pub mhfa_compression: usize,
}
fn default_embedding_dim() -> usize {
    256
}
fn default_channels() -> usize {
    512
}
fn default_mhfa_heads() -> usize {
    64
}
fn default_mhfa_compression() -> usize {
    128
}
impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            kind: HeadKind::default(),
            embedding_dim: default_embedding_dim(),
            channels: default_channels(),
            mhfa_heads: default_mhfa_heads(),
            mhfa_compression: default_mhfa_compression(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Additive angular margin softmax (ArcFace).
    #[default]
    AamSoftmax,
    /// Additive margin softmax (CosFace).
    AmSoftmax,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    #[serde(default)]
    pub kind: LossKind,
    /// Margin (radians for AAM, cosine units for AM).
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// Logit scale.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// The margin rises linearly from 0 to `margin` over this many epochs (0 = full margin from the start).
    #[serde(default)]
    pub margin_warmup_epochs: f64,
}
fn default_margin() -> f64 {
    0.2
}
fn default_scale() -> f64 {
    30.0
}
impl Default for LossConfig {
    fn default() -> Self {
        Self {
            kind: LossKind::default(),
            margin: default_margin(),
            scale: default_scale(),
            margin_warmup_epochs: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// The built-in synthetic speaker corpus (`data.synthetic`), generated into the run folder.
    #[default]
    Synthetic,
    /// A corpus on disk (`data.corpus`).
    Corpus,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    #[serde(default)]
    pub source: DataSource,
    /// Training corpus root (source = corpus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<PathBuf>,
    #[serde(default)]
    pub layout: CorpusLayout,
    /// Trial list (VoxCeleb `1 a.wav b.wav` or Kaldi `a b target`); for the synthetic corpus it is generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<PathBuf>,
    /// Root the trial list's paths are relative to (default: `corpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_corpus: Option<PathBuf>,
    #[serde(default)]
    pub synthetic: SyntheticConfig,
    /// Training-time augmentation (noise, reverberation, speed); off by default.
    #[serde(default)]
    pub augment: AugmentConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Training speakers.
    #[serde(default = "default_speakers")]
    pub speakers: usize,
    /// Held-out speakers used only in the trial list.
    #[serde(default = "default_test_speakers")]
    pub test_speakers: usize,
    /// Utterances per speaker.
    #[serde(default = "default_utterances")]
    pub utterances: usize,
    /// Utterance length in seconds.
    #[serde(default = "default_seconds")]
    pub seconds: f64,
    #[serde(default = "default_synth_seed")]
    pub seed: u64,
    /// Trials per test utterance (half target, half non-target; the target half is capped by the utterances
    /// of a speaker). More trials measure the EER more precisely: about 2 × test_speakers × utterances × this/2.
    #[serde(default = "default_trials_per_utterance")]
    pub trials_per_utterance: usize,
}
fn default_speakers() -> usize {
    32
}
fn default_test_speakers() -> usize {
    8
}
fn default_utterances() -> usize {
    12
}
fn default_seconds() -> f64 {
    2.0
}
fn default_synth_seed() -> u64 {
    7
}
fn default_trials_per_utterance() -> usize {
    4
}
impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            speakers: default_speakers(),
            test_speakers: default_test_speakers(),
            utterances: default_utterances(),
            seconds: default_seconds(),
            seed: default_synth_seed(),
            trials_per_utterance: default_trials_per_utterance(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// Linear warm-up over `warmup_steps`, then cosine decay to `min_lr_ratio`.
    #[default]
    WarmupCosine,
    /// Linear warm-up, then exponential decay reaching `min_lr_ratio` at the last step (WeSpeaker's default).
    WarmupExponential,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    pub epochs: usize,
    /// Stop after this many steps even if epochs remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Utterance crops per batch.
    pub batch_size: usize,
    /// Crop length in seconds.
    pub segment_seconds: f64,
    /// Learning rate of backbone parameters that train (fine-tuning, BitFit, partial).
    pub lr_backbone: f64,
    /// Learning rate of adapters, LoRA, prefixes and the layer aggregation.
    pub lr_adapters: f64,
    /// Learning rate of the speaker head and classifier.
    pub lr_head: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub warmup_steps: usize,
    /// Final learning rate as a fraction of the initial one.
    pub min_lr_ratio: f64,
    /// Clip the global gradient norm (0 = off).
    pub grad_clip: f64,
    /// Background threads preparing batches.
    pub loader_workers: usize,
    /// `adamw` (decoupled weight decay) or `sgd` (with `momentum`, PyTorch semantics: no dampening).
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    pub momentum: f64,
    /// Batches whose gradients are summed into one optimiser step (effective batch = batch_size × this).
    pub grad_accum_steps: usize,
    /// Step checkpoints kept besides the best one by EER (older ones are deleted).
    pub keep_checkpoints: usize,
    /// Memory (MiB) for a cache of the frozen backbone's hidden states per training crop, when nothing inside
    /// the backbone trains (method `frozen`, or inter adapters only) and augmentation is off; 0 = off. Exact
    /// (keyed by the crop's samples), but every epoch then takes the same crop of each utterance.
    pub backbone_cache_mib: usize,
    /// Precision of a backbone whose states do not train (the same methods as `backbone_cache_mib`): `f32`, or
    /// `bf16` (parameters cast once, hidden states returned in f32; for GPUs, where it halves the backbone's
    /// memory traffic; on the CPU it is slower). Adapters, head and optimiser state stay f32.
    pub backbone_dtype: BackboneDType,
}

/// See [`OptimConfig::backbone_dtype`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackboneDType {
    #[default]
    F32,
    Bf16,
}

impl BackboneDType {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    #[default]
    Adamw,
    Sgd,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            max_steps: None,
            batch_size: 64,
            segment_seconds: 3.0,
            lr_backbone: 5e-5,
            lr_adapters: 1e-3,
            lr_head: 1e-3,
            weight_decay: 1e-4,
            schedule: Schedule::default(),
            warmup_steps: 500,
            min_lr_ratio: 0.01,
            grad_clip: 5.0,
            loader_workers: 4,
            optimizer: OptimizerKind::Adamw,
            momentum: 0.9,
            grad_accum_steps: 1,
            keep_checkpoints: 2,
            backbone_cache_mib: 0,
            backbone_dtype: BackboneDType::F32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreNorm {
    #[default]
    None,
    SNorm,
    AsNorm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate on the trial list after every this many epochs (0 = only at the end).
    #[serde(default = "one_usize")]
    pub every_epochs: usize,
    /// Embed whole utterances (absent) or average the embeddings of chunks of this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_seconds: Option<f64>,
    /// Target priors for minDCF.
    #[serde(default = "default_p_targets")]
    pub p_targets: Vec<f64>,
    #[serde(default)]
    pub score_norm: ScoreNorm,
    /// AS-norm cohort size.
    #[serde(default = "default_cohort_top_n")]
    pub cohort_top_n: usize,
    /// Report the layer-aggregation weights every this many steps (and at every epoch end).
    #[serde(default = "default_layer_weights_every")]
    pub layer_weights_every_steps: usize,
    /// Further trial lists evaluated with the run's own at every evaluation (VoxCeleb1-E and -H beside -O), each
    /// reported under its label, never mixed with the run's own list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lists: Vec<TrialListConfig>,
}

/// A trial list other than the run's own, evaluated during training (`[[eval.lists]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialListConfig {
    /// The name shown in Compare and `adaptsv runs` (e.g. `vox1-E`).
    pub label: String,
    /// The trial list: VoxCeleb (`1 a.wav b.wav`) or Kaldi (`a b target`).
    pub trials: PathBuf,
    /// The folder its utterance ids are relative to (default: the run's evaluation root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<PathBuf>,
}
fn default_layer_weights_every() -> usize {
    10
}
fn one_usize() -> usize {
    1
}
fn default_p_targets() -> Vec<f64> {
    vec![0.01, 0.05]
}
fn default_cohort_top_n() -> usize {
    300
}
impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            every_epochs: 1,
            chunk_seconds: None,
            p_targets: default_p_targets(),
            score_norm: ScoreNorm::None,
            cohort_top_n: default_cohort_top_n(),
            layer_weights_every_steps: default_layer_weights_every(),
            lists: Vec::new(),
        }
    }
}
