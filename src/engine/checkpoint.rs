//! Checkpoints hold what cannot be rebuilt from the config, as safetensors files keyed by the parameter's path in
//! the module tree (`adapters.inner_mhsa.3.up.weight`):
//!
//! - `checkpoints/step-<step, 8 digits>.safetensors`: what training changes. For every method except full
//!   fine-tuning that is the trainable parameters, everything outside the backbone (aggregation, head,
//!   classifier, batch-norm statistics) and nothing of the frozen backbone: an adapter checkpoint is a few MB
//!   next to a 95M-parameter model (`contents = trainable`). Full fine-tuning saves the whole model (`full`).
//! - `checkpoints/frozen.safetensors`: the frozen rest of a backbone drawn at random from a preset (Burn draws
//!   lazily, so it cannot be redrawn), written once at the start. A backbone loaded from a HuggingFace folder is
//!   re-read from there instead.
//!
//! Metadata: `format = adaptsv-checkpoint-1`, `step`. [`load_run_model`] rebuilds a run's model from its config,
//! the frozen file and a step checkpoint.

use super::EngineError;
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

const FORMAT: &str = "adaptsv-checkpoint-1";

/// The file name of the checkpoint of `step`.
pub fn file_name(step: u64) -> String {
    format!("step-{step:08}.safetensors")
}

/// Steps with a model checkpoint (`step-<N>.safetensors`) in `dir`, ascending.
pub fn checkpoint_steps(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut steps: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("step-")?.strip_suffix(".safetensors")?.parse().ok()
        })
        .collect();
    steps.sort_unstable();
    steps
}

/// The checkpoint with the highest step in `dir`, if any.
pub fn latest(dir: &Path) -> Option<(u64, PathBuf)> {
    let step = *checkpoint_steps(dir).last()?;
    Some((step, dir.join(file_name(step))))
}

fn is_running_stat(path: &[String]) -> bool {
    path.last().is_some_and(|n| n == "running_mean" || n == "running_var")
}

/// Which parameters a checkpoint keeps.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    /// These paths (e.g. the trainable parameters) plus batch-norm running statistics.
    Paths(HashSet<String>),
}

/// Paths of the parameters of `module` that require gradients (meaningful on an autodiff backend).
pub fn trainable_paths<B: Backend, M: Module<B>>(module: &M) -> HashSet<String> {
    struct Trainable {
        path: Vec<String>,
        out: HashSet<String>,
    }
    impl<B: Backend> ModuleVisitor<B> for Trainable {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if param.val().is_require_grad() {
                self.out.insert(self.path.join("."));
            }
        }
    }
    let mut t = Trainable {
        path: Vec::new(),
        out: HashSet::new(),
    };
    module.visit(&mut t);
    t.out
}

struct Collect<'a> {
    path: Vec<String>,
    selection: &'a Selection,
    out: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let name = self.path.join(".");
        let keep = match self.selection {
            Selection::All => true,
            Selection::Paths(paths) => paths.contains(&name) || is_running_stat(&self.path),
        };
        if !keep {
            return;
        }
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        self.out.push((name, shape, values));
    }
}

/// The file of the frozen part of a preset's random backbone.
pub const FROZEN_FILE: &str = "frozen.safetensors";

/// Whether a step checkpoint of `config` holds the whole model (`full`) or what trains (`trainable`).
pub fn contents(config: &crate::config::ExperimentConfig) -> &'static str {
    if config.adaptation.method == crate::config::Method::FullFinetune {
        "full"
    } else {
        "trainable"
    }
}

/// Paths of every parameter of `module`.
pub fn all_paths<B: Backend, M: Module<B>>(module: &M) -> HashSet<String> {
    struct All {
        path: Vec<String>,
        out: HashSet<String>,
    }
    impl<B: Backend> ModuleVisitor<B> for All {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<B, D>>) {
            self.out.insert(self.path.join("."));
        }
    }
    let mut a = All {
        path: Vec::new(),
        out: HashSet::new(),
    };
    module.visit(&mut a);
    a.out
}

/// What a step checkpoint of `model` keeps (see the module docs).
pub fn step_selection<B: AutodiffBackend>(
    model: &crate::model::SpeakerModel<B>,
    config: &crate::config::ExperimentConfig,
) -> Selection {
    if contents(config) == "full" {
        return Selection::All;
    }
    let mut keep = trainable_paths(model);
    keep.extend(all_paths(model).into_iter().filter(|p| !p.starts_with("backbone.")));
    Selection::Paths(keep)
}

/// Writes the step checkpoint of a speaker model training from `config` (see the module docs). Returns the bytes
/// written.
///
/// Values are read from the inference view of the model (`valid()`), which carries the batch-norm running
/// statistics as last updated; which parameters train is read from the autodiff model.
pub fn save_model<B: AutodiffBackend>(
    model: &crate::model::SpeakerModel<B>,
    config: &crate::config::ExperimentConfig,
    path: &Path,
    step: u64,
) -> Result<u64, EngineError> {
    save(&model.valid(), path, step, &step_selection(model, config))
}

/// Writes `checkpoints/frozen.safetensors` when the backbone is a preset's random initialisation and step
/// checkpoints leave part of it out. Returns the bytes written (`None` when no file is needed).
pub fn save_frozen<B: AutodiffBackend>(
    model: &crate::model::SpeakerModel<B>,
    config: &crate::config::ExperimentConfig,
    checkpoints_dir: &Path,
) -> Result<Option<u64>, EngineError> {
    let Selection::Paths(step) = step_selection(model, config) else {
        return Ok(None);
    };
    if config.model.checkpoint.is_some() {
        return Ok(None);
    }
    let frozen: HashSet<String> = all_paths(model).into_iter().filter(|p| !step.contains(p)).collect();
    let bytes = save(
        &model.valid(),
        &checkpoints_dir.join(FROZEN_FILE),
        0,
        &Selection::Paths(frozen),
    )?;
    Ok(Some(bytes))
}

/// The model of a run: built from `config` for `classes` speakers, with the run's frozen file (if any) and the
/// step checkpoint `step` (already read) put onto it.
pub fn load_run_model<B: Backend>(
    config: &crate::config::ValidConfig,
    checkpoints_dir: &Path,
    step: &Checkpoint,
    classes: usize,
    device: &B::Device,
) -> Result<crate::model::SpeakerModel<B>, EngineError> {
    let mut model = crate::model::SpeakerModel::<B>::from_config(config, classes, device)?;
    let frozen = checkpoints_dir.join(FROZEN_FILE);
    if frozen.is_file() {
        model = Checkpoint::read(&frozen)?.load_into(model)?;
    }
    step.load_into(model)
}

/// Writes the parameters of `module` that `selection` names, atomically. Returns the bytes written.
pub fn save<B: Backend, M: Module<B>>(
    module: &M,
    path: &Path,
    step: u64,
    selection: &Selection,
) -> Result<u64, EngineError> {
    let mut c = Collect {
        path: Vec::new(),
        selection,
        out: Vec::new(),
    };
    module.visit(&mut c);
    let meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("step".to_string(), step.to_string()),
    ]);
    super::tensor_file::write_f32(path, &c.out, meta)
}

/// A checkpoint read into memory: tensors by path.
pub struct Checkpoint {
    pub path: PathBuf,
    pub step: u64,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Checkpoint {
    pub fn read(path: &Path) -> Result<Self, EngineError> {
        let file = super::tensor_file::read_f32(path, FORMAT, "an adaptsv checkpoint")?;
        let step = file.metadata.get("step").and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok(Self {
            path: path.to_path_buf(),
            step,
            tensors: file.tensors,
        })
    }

    /// The shape of a saved tensor.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|(s, _)| s.as_slice())
    }

    /// Puts every saved tensor onto `module`. Each must name a parameter of the same shape; all mismatches are
    /// reported together.
    pub fn load_into<B: Backend, M: Module<B>>(&self, module: M) -> Result<M, EngineError> {
        let mut loader = Load {
            path: Vec::new(),
            checkpoint: self,
            used: Vec::new(),
            problems: Vec::new(),
        };
        let module = module.map(&mut loader);
        let mut unused: Vec<&String> = self.tensors.keys().filter(|k| !loader.used.contains(k)).collect();
        unused.sort();
        loader.problems.extend(
            unused
                .iter()
                .map(|k| format!("{k}: no such parameter in the model built from the run's config")),
        );
        if loader.problems.is_empty() {
            Ok(module)
        } else {
            Err(EngineError::Checkpoint {
                path: self.path.clone(),
                message: loader.problems.join("; "),
            })
        }
    }
}

struct Load<'a> {
    path: Vec<String>,
    checkpoint: &'a Checkpoint,
    used: Vec<String>,
    problems: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for Load<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let name = self.path.join(".");
        let Some((shape, values)) = self.checkpoint.tensors.get(&name) else {
            return param;
        };
        self.used.push(name.clone());
        let (id, tensor, mapper) = param.consume();
        if tensor.dims().as_slice() != shape.as_slice() {
            self.problems.push(format!(
                "{name}: checkpoint shape {shape:?}, model shape {:?}",
                tensor.dims()
            ));
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let grad = tensor.is_require_grad();
        // Saved as f32; a bf16 backbone (`optim.backbone_dtype`) takes its values back in bf16.
        let mut loaded = Tensor::<B, D>::from_data(TensorData::new(values.clone(), shape.clone()), &tensor.device())
            .cast(tensor.dtype());
        if grad {
            loaded = loaded.require_grad();
        }
        Param::from_mapped_value(id, loaded, mapper)
    }
}
