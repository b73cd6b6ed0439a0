//! The optimiser of a training run: one Burn [`SimpleOptimizer`] per (parameter group, decay) pair, stepped by a
//! path-aware module mapper, with global-norm gradient clipping and a state keyed by parameter path.
//!
//! Parameter groups come from the first component of a parameter's path in [`crate::model::SpeakerModel`]:
//!
//! | group         | paths                          | learning rate    |
//! |---------------|--------------------------------|------------------|
//! | `backbone`    | `backbone.…`                   | `lr_backbone`    |
//! | `adapters`    | `adapters.…` (inner, Houlsby, LoRA, prefix), `inter.…` | `lr_adapters` |
//! | `aggregation` | `aggregation.…`                | `lr_adapters`    |
//! | `head`        | `head.…`, `classifier.…`       | `lr_head`        |
//!
//! Weight decay applies to matrices and kernels only: parameters of rank ≤ 1 (biases, norm gains, scales, the
//! aggregation logits) get none. AdamW is Burn's arithmetic (`epsilon` 1e-8 as PyTorch), in one pass per parameter on
//! the CPU ([`super::host_adamw`]); SGD is PyTorch's (momentum without
//! dampening, L2 penalty added to the gradient), written here because Burn's momentum state is private and so
//! could not be saved exactly.
//!
//! Burn's own adaptor keys optimiser state by `ParamId`, which a model rebuilt from its config does not keep;
//! here the state is keyed by the parameter's path (`adapters.inner_mhsa.3.up.weight`), so saved moments always
//! find their parameter again. [`GroupedOptimizer::save`] writes them as f32 safetensors (bit-exact).

use super::EngineError;
use crate::config::{OptimConfig, OptimizerKind};
use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::optim::record::AdaptorRecord;
use super::host_adamw::HostAdamW;
use burn::optim::{AdaptiveMomentumState, GradientsParams, SimpleOptimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const FORMAT: &str = "adaptsv-optimizer-1";

/// The learning-rate groups of a speaker model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParamGroup {
    Backbone,
    Adapters,
    Aggregation,
    Head,
}

impl ParamGroup {
    pub const ALL: [ParamGroup; 4] = [Self::Backbone, Self::Adapters, Self::Aggregation, Self::Head];

    /// The group of a parameter path.
    pub fn of(path: &str) -> Self {
        match path.split('.').next().unwrap_or("") {
            "backbone" => Self::Backbone,
            "adapters" | "inter" => Self::Adapters,
            "aggregation" => Self::Aggregation,
            _ => Self::Head,
        }
    }

    /// The name used in events (`lrs`) and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Backbone => "backbone",
            Self::Adapters => "adapters",
            Self::Aggregation => "aggregation",
            Self::Head => "head",
        }
    }

    /// The group's base learning rate in `optim`.
    pub fn base_lr(self, optim: &OptimConfig) -> f64 {
        match self {
            Self::Backbone => optim.lr_backbone,
            Self::Adapters | Self::Aggregation => optim.lr_adapters,
            Self::Head => optim.lr_head,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// SGD with momentum as PyTorch's `torch.optim.SGD(momentum=μ, dampening=0, weight_decay=λ)`:
/// `g ← g + λθ; v ← μv + g (v₁ = g); θ ← θ − lr·v`.
#[derive(Clone, Debug)]
pub struct SgdMomentum {
    pub momentum: f64,
    pub weight_decay: f64,
}

/// The velocity of one parameter.
#[derive(burn::record::Record, Clone)]
pub struct VelocityState<B: Backend, const D: usize> {
    pub velocity: Tensor<B, D>,
}

impl<B: Backend> SimpleOptimizer<B> for SgdMomentum {
    type State<const D: usize> = VelocityState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        mut grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        if self.weight_decay != 0.0 {
            grad = grad + tensor.clone().mul_scalar(self.weight_decay);
        }
        let velocity = match (state, self.momentum != 0.0) {
            (Some(s), true) => s.velocity.mul_scalar(self.momentum) + grad,
            _ => grad,
        };
        (
            tensor - velocity.clone().mul_scalar(lr),
            Some(VelocityState { velocity }),
        )
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        VelocityState {
            velocity: state.velocity.to_device(device),
        }
    }
}

/// How an optimiser's per-parameter state becomes named tensors (and back), so it can be saved exactly.
pub trait ExportState<B: Backend>: SimpleOptimizer<B> {
    /// Named tensors and the step counter (0 where the optimiser keeps none).
    fn export<const D: usize>(state: &Self::State<D>) -> (Vec<(&'static str, Tensor<B, D>)>, u64);
    /// The inverse of [`ExportState::export`]; `None` when a tensor is missing.
    fn import<const D: usize>(tensors: &mut HashMap<&'static str, Tensor<B, D>>, time: u64) -> Option<Self::State<D>>;
    /// The names [`ExportState::export`] writes.
    const NAMES: &'static [&'static str];
}

impl<B: Backend> ExportState<B> for HostAdamW {
    const NAMES: &'static [&'static str] = &["moment_1", "moment_2"];
    fn export<const D: usize>(state: &Self::State<D>) -> (Vec<(&'static str, Tensor<B, D>)>, u64) {
        let m = &state.momentum;
        (
            vec![("moment_1", m.moment_1.clone()), ("moment_2", m.moment_2.clone())],
            m.time as u64,
        )
    }
    fn import<const D: usize>(tensors: &mut HashMap<&'static str, Tensor<B, D>>, time: u64) -> Option<Self::State<D>> {
        let m1 = tensors.remove("moment_1")?;
        let m2 = tensors.remove("moment_2")?;
        Some(burn::optim::AdamWState {
            momentum: AdaptiveMomentumState::new(time as usize, m1, m2),
        })
    }
}

impl<B: Backend> ExportState<B> for SgdMomentum {
    const NAMES: &'static [&'static str] = &["velocity"];
    fn export<const D: usize>(state: &Self::State<D>) -> (Vec<(&'static str, Tensor<B, D>)>, u64) {
        (vec![("velocity", state.velocity.clone())], 0)
    }
    fn import<const D: usize>(tensors: &mut HashMap<&'static str, Tensor<B, D>>, _time: u64) -> Option<Self::State<D>> {
        Some(VelocityState {
            velocity: tensors.remove("velocity")?,
        })
    }
}

/// One optimiser kind over all groups: `optims[group * 2 + decay]`, state by parameter path.
pub struct PathOptimizer<O, B>
where
    B: AutodiffBackend,
    O: SimpleOptimizer<B::InnerBackend>,
{
    optims: Vec<O>,
    states: HashMap<String, AdaptorRecord<O, B>>,
}

/// The optimiser of a run: AdamW or SGD, chosen by `optim.optimizer`.
pub enum GroupedOptimizer<B: AutodiffBackend> {
    AdamW(PathOptimizer<HostAdamW, B>),
    Sgd(PathOptimizer<SgdMomentum, B>),
}

/// Whether a parameter of this path and rank takes weight decay.
pub fn decays(rank: usize) -> bool {
    rank >= 2
}

impl<B: AutodiffBackend> GroupedOptimizer<B> {
    pub fn new(optim: &OptimConfig) -> Self {
        let wd = |decay: bool| if decay { optim.weight_decay } else { 0.0 };
        match optim.optimizer {
            OptimizerKind::Adamw => Self::AdamW(PathOptimizer {
                optims: ParamGroup::ALL
                    .iter()
                    .flat_map(|_| [false, true])
                    .map(|decay| HostAdamW::new(1e-8, wd(decay) as f32))
                    .collect(),
                states: HashMap::new(),
            }),
            OptimizerKind::Sgd => Self::Sgd(PathOptimizer {
                optims: ParamGroup::ALL
                    .iter()
                    .flat_map(|_| [false, true])
                    .map(|decay| SgdMomentum {
                        momentum: optim.momentum,
                        weight_decay: wd(decay),
                    })
                    .collect(),
                states: HashMap::new(),
            }),
        }
    }

    /// Applies one update to every parameter of `model` that has a gradient in `grads`, with the learning rate
    /// of its group (`lrs` indexed like [`ParamGroup::ALL`]) and its gradient scaled by `grad_scale` (clipping).
    pub fn step<M: AutodiffModule<B>>(
        &mut self,
        model: M,
        grads: GradientsParams,
        lrs: [f64; 4],
        grad_scale: f64,
    ) -> M {
        match self {
            Self::AdamW(o) => o.step(model, grads, lrs, grad_scale),
            Self::Sgd(o) => o.step(model, grads, lrs, grad_scale),
        }
    }

    /// Parameters with a saved state.
    pub fn len(&self) -> usize {
        match self {
            Self::AdamW(o) => o.states.len(),
            Self::Sgd(o) => o.states.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state as named f32 values (`<path>::moment_1`, …) with the step counter, for comparisons.
    pub fn state_values<M: AutodiffModule<B>>(&self, model: &M) -> BTreeMap<String, (Vec<f32>, u64)> {
        let tensors = match self {
            Self::AdamW(o) => o.export(model),
            Self::Sgd(o) => o.export(model),
        };
        tensors.into_iter().map(|(n, _, v, t)| (n, (v, t))).collect()
    }

    /// Writes the state of every parameter of `model` that has one, atomically. Returns the bytes written.
    pub fn save<M: AutodiffModule<B>>(&self, model: &M, path: &Path) -> Result<u64, EngineError> {
        let (kind, tensors) = match self {
            Self::AdamW(o) => ("adamw", o.export(model)),
            Self::Sgd(o) => ("sgd", o.export(model)),
        };
        write_tensors(path, kind, tensors)
    }

    /// Restores the state saved by [`GroupedOptimizer::save`] for the parameters of `model`. A file of another
    /// optimiser kind, or whose tensors name no parameter of `model` or have other shapes, is refused.
    pub fn load<M: AutodiffModule<B>>(
        &mut self,
        model: &M,
        path: &Path,
        device: &B::Device,
    ) -> Result<(), EngineError> {
        let err = |message: String| EngineError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let saved = read_tensors(path)?;
        let want = match self {
            Self::AdamW(_) => "adamw",
            Self::Sgd(_) => "sgd",
        };
        if saved.kind != want {
            return Err(err(format!(
                "optimiser state of {:?}, but the config says optimizer = {want:?}",
                saved.kind
            )));
        }
        let problems = match self {
            Self::AdamW(o) => o.import(model, saved, device),
            Self::Sgd(o) => o.import(model, saved, device),
        };
        if problems.is_empty() {
            Ok(())
        } else {
            Err(err(problems.join("; ")))
        }
    }
}

impl<O, B> PathOptimizer<O, B>
where
    B: AutodiffBackend,
    O: SimpleOptimizer<B::InnerBackend> + ExportState<B::InnerBackend>,
{
    fn step<M: AutodiffModule<B>>(&mut self, model: M, mut grads: GradientsParams, lrs: [f64; 4], scale: f64) -> M {
        let mut mapper = StepMapper {
            optims: &self.optims,
            states: &mut self.states,
            grads: &mut grads,
            lrs,
            scale,
            path: Vec::new(),
        };
        model.map(&mut mapper)
    }

    fn export<M: AutodiffModule<B>>(&self, model: &M) -> Vec<(String, Vec<usize>, Vec<f32>, u64)> {
        struct Export<'a, O: SimpleOptimizer<B::InnerBackend>, B: AutodiffBackend> {
            states: &'a HashMap<String, AdaptorRecord<O, B>>,
            path: Vec<String>,
            out: Vec<(String, Vec<usize>, Vec<f32>, u64)>,
        }
        impl<O, B> ModuleVisitor<B> for Export<'_, O, B>
        where
            B: AutodiffBackend,
            O: SimpleOptimizer<B::InnerBackend> + ExportState<B::InnerBackend>,
        {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.pop();
            }
            fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<B, D>>) {
                let path = self.path.join(".");
                let Some(record) = self.states.get(&path) else { return };
                let state: O::State<D> = record.clone().into_state();
                let (tensors, time) = O::export(&state);
                for (name, t) in tensors {
                    let shape = t.dims().to_vec();
                    let values = t.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default();
                    self.out.push((format!("{path}::{name}"), shape, values, time));
                }
            }
        }
        let mut e = Export {
            states: &self.states,
            path: Vec::new(),
            out: Vec::new(),
        };
        model.visit(&mut e);
        e.out
    }

    fn import<M: AutodiffModule<B>>(&mut self, model: &M, mut saved: SavedTensors, device: &B::Device) -> Vec<String> {
        struct Import<'a, O: SimpleOptimizer<B::InnerBackend>, B: AutodiffBackend> {
            states: &'a mut HashMap<String, AdaptorRecord<O, B>>,
            saved: &'a mut SavedTensors,
            device: &'a B::Device,
            path: Vec<String>,
            problems: Vec<String>,
        }
        impl<O, B> ModuleVisitor<B> for Import<'_, O, B>
        where
            B: AutodiffBackend,
            O: SimpleOptimizer<B::InnerBackend> + ExportState<B::InnerBackend>,
        {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.path.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.pop();
            }
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                let path = self.path.join(".");
                let shape = param.lazy_shape().to_vec();
                let mut tensors = HashMap::new();
                let mut time = 0;
                for name in O::NAMES {
                    let key = format!("{path}::{name}");
                    let Some((s, values, t)) = self.saved.tensors.remove(&key) else {
                        continue;
                    };
                    if s != shape {
                        self.problems
                            .push(format!("{key}: saved shape {s:?}, parameter shape {shape:?}"));
                        continue;
                    }
                    time = t;
                    let tensor = Tensor::<B::InnerBackend, D>::from_data(TensorData::new(values, s), self.device);
                    tensors.insert(*name, tensor);
                }
                if tensors.is_empty() {
                    return;
                }
                match O::import(&mut tensors, time) {
                    Some(state) => {
                        self.states.insert(path, AdaptorRecord::from_state(state));
                    }
                    None => self.problems.push(format!("{path}: incomplete optimiser state")),
                }
            }
        }
        self.states.clear();
        let mut i = Import {
            states: &mut self.states,
            saved: &mut saved,
            device,
            path: Vec::new(),
            problems: Vec::new(),
        };
        model.visit(&mut i);
        let mut problems = i.problems;
        let mut unused: Vec<_> = saved.tensors.keys().cloned().collect();
        unused.sort();
        problems.extend(
            unused
                .into_iter()
                .map(|k| format!("{k}: no such parameter in the model built from the run's config")),
        );
        problems
    }
}

struct StepMapper<'a, O, B>
where
    B: AutodiffBackend,
    O: SimpleOptimizer<B::InnerBackend>,
{
    optims: &'a [O],
    states: &'a mut HashMap<String, AdaptorRecord<O, B>>,
    grads: &'a mut GradientsParams,
    lrs: [f64; 4],
    scale: f64,
    path: Vec<String>,
}

impl<O, B> ModuleMapper<B> for StepMapper<'_, O, B>
where
    B: AutodiffBackend,
    O: SimpleOptimizer<B::InnerBackend>,
{
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(mut grad) = self.grads.remove::<B::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        if self.scale != 1.0 {
            grad = grad.mul_scalar(self.scale);
        }
        let path = self.path.join(".");
        let group = ParamGroup::of(&path);
        let optim = &self.optims[group.index() * 2 + usize::from(decays(D))];
        let device = grad.device();
        let state = self
            .states
            .remove(&path)
            .map(|r| O::to_device(r.into_state::<D>(), &device));
        let (updated, state) = optim.step(self.lrs[group.index()], tensor.inner(), grad, state);
        if let Some(state) = state {
            self.states.insert(path, AdaptorRecord::from_state(state));
        }
        Param::from_mapped_value(id, Tensor::from_inner(updated).require_grad(), mapper)
    }
}

/// The factor gradients are scaled by for global-norm clipping at `clip` (PyTorch's `clip_grad_norm_`:
/// `clip / (norm + 1e-6)` above the bound, else 1; `clip <= 0` turns clipping off).
pub fn clip_scale(norm: f64, clip: f64) -> f64 {
    if clip > 0.0 && norm > clip {
        clip / (norm + 1e-6)
    } else {
        1.0
    }
}

/// Global L2 norm of all gradients in `grads` for the parameters of `model`, squared, `[1]` on the device (read
/// back with the step's other figures by `super::readback`); `None` when nothing has a gradient. Non-finite if any
/// gradient is.
pub(super) fn global_grad_norm_sq<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
) -> Option<Tensor<B::InnerBackend, 1>> {
    struct Norm<'a, B: AutodiffBackend> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<B::InnerBackend, 1>>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Norm<'_, B> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let s = g.square().sum();
                self.sum = Some(match self.sum.take() {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
    }
    let mut n = Norm::<B> { grads, sum: None };
    model.visit(&mut n);
    n.sum
}

/// Tensors of an optimiser-state file: name → (shape, values, step counter).
struct SavedTensors {
    kind: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>, u64)>,
}

fn write_tensors(
    path: &Path,
    kind: &str,
    tensors: Vec<(String, Vec<usize>, Vec<f32>, u64)>,
) -> Result<u64, EngineError> {
    // Step counters (AdamW's bias correction) go into the metadata, one per parameter that has one.
    let times: BTreeMap<&str, u64> = tensors
        .iter()
        .filter(|(_, _, _, t)| *t > 0)
        .map(|(n, _, _, t)| (n.split("::").next().unwrap_or(n), *t))
        .collect();
    let meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("optimizer".to_string(), kind.to_string()),
        (
            "times".to_string(),
            serde_json::to_string(&times).expect("a map of numbers serialises"),
        ),
    ]);
    let named: Vec<_> = tensors.into_iter().map(|(n, s, v, _)| (n, s, v)).collect();
    super::tensor_file::write_f32(path, &named, meta)
}

/// Reads an optimiser state file whole, to tell whether a resume could use it.
pub(super) fn check_readable(path: &Path) -> Result<(), EngineError> {
    read_tensors(path).map(|_| ())
}

fn read_tensors(path: &Path) -> Result<SavedTensors, EngineError> {
    let file = super::tensor_file::read_f32(path, FORMAT, "an adaptsv optimiser state")?;
    let kind = file.metadata.get("optimizer").cloned().unwrap_or_default();
    let times: BTreeMap<String, u64> = match file.metadata.get("times") {
        Some(text) => serde_json::from_str(text).map_err(|e| EngineError::Checkpoint {
            path: path.to_path_buf(),
            message: format!("metadata times: {e}"),
        })?,
        None => BTreeMap::new(),
    };
    let tensors = file
        .tensors
        .into_iter()
        .map(|(name, (shape, values))| {
            let param = name.split("::").next().unwrap_or(&name);
            let time = times.get(param).copied().unwrap_or(0);
            (name, (shape, values, time))
        })
        .collect();
    Ok(SavedTensors { kind, tensors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_model_tree() {
        assert_eq!(
            ParamGroup::of("backbone.encoder.layers.3.attention.q_proj.weight"),
            ParamGroup::Backbone
        );
        assert_eq!(ParamGroup::of("adapters.inner_mhsa.0.up.weight"), ParamGroup::Adapters);
        assert_eq!(ParamGroup::of("inter.adapters.4.down.bias"), ParamGroup::Adapters);
        assert_eq!(ParamGroup::of("aggregation.weights"), ParamGroup::Aggregation);
        assert_eq!(ParamGroup::of("classifier.weight"), ParamGroup::Head);
        assert_eq!(ParamGroup::of("head.pooling.linear.weight"), ParamGroup::Head);
        assert!(decays(2) && decays(3) && !decays(1));
    }
}
