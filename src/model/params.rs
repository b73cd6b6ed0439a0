//! Parameter accounting: how many parameters a module (or each part of it) has, and how many of them train.
//!
//! "Parameters" are what PyTorch's `model.parameters()` would list: every float tensor a module holds *except*
//! BatchNorm's running mean and variance, which Burn stores as module state (and which `Module::num_params`
//! does count). "Trainable" are those that require a gradient, which only an autodiff backend tracks: on a plain
//! backend (`Flex`) the trainable count is always 0, so count on the training module (`Autodiff<…>`).
//!
//! The numbers feed the "5.x % trainable" line and the run summary; [`count_params_by_group`] gives the split
//! per sub-module (backbone / adapters / aggregation / head / loss) without the caller listing them.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// Counts of scalar parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParamCount {
    /// All parameters (BatchNorm running statistics excluded).
    pub total: usize,
    /// Parameters that require a gradient (0 on a non-autodiff backend).
    pub trainable: usize,
    /// BatchNorm running statistics (state, not parameters; reported for completeness).
    pub buffers: usize,
}

impl ParamCount {
    /// `trainable / total` in percent (0 for an empty module).
    pub fn trainable_percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * self.trainable as f64 / self.total as f64
        }
    }

    fn add(&mut self, other: ParamCount) {
        self.total += other.total;
        self.trainable += other.trainable;
        self.buffers += other.buffers;
    }
}

impl std::ops::Add for ParamCount {
    type Output = ParamCount;
    fn add(mut self, other: ParamCount) -> ParamCount {
        ParamCount::add(&mut self, other);
        self
    }
}

/// Parameter counts of `module` as a whole.
pub fn count_params<B: Backend, M: Module<B>>(module: &M) -> ParamCount {
    count_params_by_group(module, 0)
        .into_iter()
        .map(|(_, c)| c)
        .fold(ParamCount::default(), |a, b| a + b)
}

/// Parameter counts grouped by the first `depth` components of each parameter's path (field names, `Vec`
/// indices and enum variant names joined by `.`), in the order the groups are first met. `depth = 1` on a model
/// struct gives one group per field (`"backbone"`, `"inter_adapters"`, `"head"`, …); `depth = 0` one group `""`.
/// Groups with no parameters at all (e.g. an absent `Option`) do not appear.
pub fn count_params_by_group<B: Backend, M: Module<B>>(module: &M, depth: usize) -> Vec<(String, ParamCount)> {
    let mut visitor = Counter {
        depth,
        path: Vec::new(),
        groups: Vec::new(),
    };
    module.visit(&mut visitor);
    visitor.groups
}

/// Walks the module tree keeping the current path.
struct Counter {
    depth: usize,
    /// `(field name, container type)` from the root to the current tensor.
    path: Vec<(String, String)>,
    groups: Vec<(String, ParamCount)>,
}

impl Counter {
    fn record(&mut self, count: ParamCount) {
        let key = self
            .path
            .iter()
            .take(self.depth)
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        match self.groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, c)) => c.add(count),
            None => self.groups.push((key, count)),
        }
    }

    /// Burn's `BatchNorm` keeps its running statistics in `running_mean` / `running_var` fields.
    fn in_running_stat(&self) -> bool {
        self.path.last().is_some_and(|(name, container)| {
            container == "Struct:BatchNorm" && (name == "running_mean" || name == "running_var")
        })
    }
}

impl<B: Backend> ModuleVisitor<B> for Counter {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let n = param.lazy_shape().num_elements();
        let count = if self.in_running_stat() {
            ParamCount {
                buffers: n,
                ..Default::default()
            }
        } else {
            let trainable = if param.val().is_require_grad() { n } else { 0 };
            ParamCount {
                total: n,
                trainable,
                buffers: 0,
            }
        };
        self.record(count);
    }
}

/// One parameter's place, values and trainability: what [`snapshot_params`] records.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSnapshot {
    /// Dotted path in the module tree, e.g. `adapters.inner_mhsa.3.up.weight`.
    pub path: String,
    pub values: Vec<f32>,
    pub trainable: bool,
}

/// Every float parameter of `module` with its path (BatchNorm running statistics excluded), to check what an
/// optimiser step changed.
pub fn snapshot_params<B: Backend, M: Module<B>>(module: &M) -> Vec<ParamSnapshot> {
    let mut v = Snapshotter {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

struct Snapshotter {
    path: Vec<(String, String)>,
    out: Vec<ParamSnapshot>,
}

impl<B: Backend> ModuleVisitor<B> for Snapshotter {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let running = self.path.last().is_some_and(|(name, container)| {
            container == "Struct:BatchNorm" && (name == "running_mean" || name == "running_var")
        });
        if running {
            return;
        }
        let tensor = param.val();
        let trainable = tensor.is_require_grad();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        let path = self.path.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".");
        self.out.push(ParamSnapshot {
            path,
            values,
            trainable,
        });
    }
}

/// The gradient of every parameter of `module` that has one in `grads`, by path (as [`snapshot_params`] names
/// them), read back as f32: to compare one training step across backends.
pub fn snapshot_grads<B: burn::tensor::backend::AutodiffBackend, M: Module<B>>(
    module: &M,
    grads: &burn::optim::GradientsParams,
) -> Vec<(String, Vec<f32>)> {
    struct Grads<'a> {
        grads: &'a burn::optim::GradientsParams,
        path: Vec<String>,
        out: Vec<(String, Vec<f32>)>,
    }
    impl<B: burn::tensor::backend::AutodiffBackend> ModuleVisitor<B> for Grads<'_> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let values = g.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default();
                self.out.push((self.path.join("."), values));
            }
        }
    }
    let mut v = Grads {
        grads,
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Toy<B: Backend> {
        frozen: Linear<B>,
        trained: Vec<Linear<B>>,
        norm: BatchNorm<B>,
    }

    fn toy<B: Backend>(device: &B::Device) -> Toy<B> {
        Toy {
            frozen: LinearConfig::new(3, 4).init(device).no_grad(),
            trained: vec![
                LinearConfig::new(4, 2).init(device),
                LinearConfig::new(2, 2).with_bias(false).init(device),
            ],
            norm: BatchNormConfig::new(5).init(device),
        }
    }

    #[test]
    fn totals_exclude_running_stats_and_trainable_follows_require_grad() {
        let device = Default::default();
        let model = toy::<Autodiff<Flex>>(&device);
        let all = count_params(&model);
        let (frozen, trained, norm) = (3 * 4 + 4, (4 * 2 + 2) + 2 * 2, 2 * 5);
        assert_eq!(
            all,
            ParamCount {
                total: frozen + trained + norm,
                trainable: trained + norm,
                buffers: 10
            }
        );
        assert_eq!(model.num_params(), frozen + trained + norm + 10);
        let groups = count_params_by_group(&model, 1);
        let names: Vec<_> = groups.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["frozen", "trained", "norm"]);
        assert_eq!(groups[0].1.trainable, 0);
        assert_eq!(
            groups[1].1,
            ParamCount {
                total: trained,
                trainable: trained,
                buffers: 0
            }
        );
        let deeper = count_params_by_group(&model, 2);
        let keys: Vec<_> = deeper.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "frozen.weight",
                "frozen.bias",
                "trained.0",
                "trained.1",
                "norm.gamma",
                "norm.beta",
                "norm.running_mean",
                "norm.running_var"
            ]
        );
        assert_eq!(
            deeper[2].1,
            ParamCount {
                total: 10,
                trainable: 10,
                buffers: 0
            }
        );
        assert_eq!(
            deeper[6].1,
            ParamCount {
                total: 0,
                trainable: 0,
                buffers: 5
            }
        );
        assert!((all.trainable_percent() - 100.0 * 24.0 / 40.0).abs() < 1e-9);
    }

    #[test]
    fn plain_backend_has_no_trainable_parameters() {
        let model = toy::<Flex>(&Default::default());
        let all = count_params(&model);
        assert_eq!((all.total, all.trainable), (40, 0));
    }
}
