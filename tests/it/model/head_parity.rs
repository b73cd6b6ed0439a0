//! The three heads against PyTorch: `tests/fixtures/model/make_heads.py` builds them from WeSpeaker's and
//! Wespeaker_SSL's structure with random weights (BatchNorm statistics included), runs them in eval mode and saves
//! weights, input and output under the Burn field paths. Here the Burn heads load those weights (every fixture
//! tensor must be used, every Burn tensor must be found) and must give the same embeddings. Plain `Flex`, so the
//! BatchNorms use their running statistics as PyTorch's eval mode does.

use std::collections::HashMap;

use adaptsv::model::heads::{EcapaHeadConfig, MhfaHeadConfig, XvectorHeadConfig};
use burn::backend::Flex;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData, Tolerance};
use safetensors::SafeTensors;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/model/heads.safetensors");
const H: usize = 8;
const C: usize = 16;
const E: usize = 5;
const STATES: usize = 4;

/// Fixture tensors by name: (f32 values, shape).
fn fixture() -> HashMap<String, (Vec<f32>, Vec<usize>)> {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, (values, view.shape().to_vec()))
        })
        .collect()
}

/// Replaces every float tensor of a module by the fixture tensor at `prefix.` + its field path.
struct Loader<'a> {
    tensors: &'a HashMap<String, (Vec<f32>, Vec<usize>)>,
    prefix: String,
    path: Vec<String>,
    used: Vec<String>,
}

impl ModuleMapper<Flex> for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<Flex, D>>) -> Param<Tensor<Flex, D>> {
        let key = format!("{}.{}", self.prefix, self.path.join("."));
        let (values, shape) = self.tensors.get(&key).unwrap_or_else(|| panic!("fixture has no {key}"));
        let (id, tensor, mapper) = param.consume();
        assert_eq!(tensor.dims().to_vec(), *shape, "shape of {key}");
        let loaded = Tensor::from_data(TensorData::new(values.clone(), shape.clone()), &tensor.device());
        self.used.push(key);
        Param::from_mapped_value(id, loaded, mapper)
    }
}

fn load<M: Module<Flex>>(module: M, prefix: &str, tensors: &HashMap<String, (Vec<f32>, Vec<usize>)>) -> M {
    let mut loader = Loader {
        tensors,
        prefix: prefix.to_string(),
        path: Vec::new(),
        used: Vec::new(),
    };
    let module = module.map(&mut loader);
    let mut expected: Vec<_> = tensors
        .keys()
        .filter(|k| k.starts_with(&format!("{prefix}.")) && !k.ends_with(".output"))
        .cloned()
        .collect();
    expected.sort();
    loader.used.sort();
    assert_eq!(
        loader.used, expected,
        "every {prefix} fixture tensor is loaded exactly once"
    );
    module
}

fn tensor<const D: usize>(tensors: &HashMap<String, (Vec<f32>, Vec<usize>)>, key: &str) -> Tensor<Flex, D> {
    let (values, shape) = &tensors[key];
    Tensor::from_data(TensorData::new(values.clone(), shape.clone()), &Default::default())
}

#[test]
fn heads_match_pytorch() {
    let device = Default::default();
    let tensors = fixture();
    let stack: Tensor<Flex, 4> = tensor(&tensors, "input.states"); // [STATES, B, T, H]
    let states: Vec<Tensor<Flex, 3>> = (0..STATES)
        .map(|i| stack.clone().narrow(0, i, 1).squeeze_dim::<3>(0))
        .collect();
    let tolerance = Tolerance::absolute(2e-4);

    let xvector = XvectorHeadConfig::new(H)
        .with_channels(C)
        .with_stats_channels(3 * C)
        .with_embedding_dim(E);
    let xvector = load(xvector.init::<Flex>(&device).unwrap(), "xvector", &tensors);
    let expected: Tensor<Flex, 2> = tensor(&tensors, "xvector.output");
    xvector
        .forward(states[STATES - 1].clone())
        .into_data()
        .assert_approx_eq::<f32>(&expected.into_data(), tolerance);

    let ecapa = EcapaHeadConfig::new(H).with_channels(C).with_embedding_dim(E);
    let ecapa = load(ecapa.init::<Flex>(&device).unwrap(), "ecapa", &tensors);
    let expected: Tensor<Flex, 2> = tensor(&tensors, "ecapa.output");
    ecapa
        .forward(states[STATES - 1].clone())
        .into_data()
        .assert_approx_eq::<f32>(&expected.into_data(), tolerance);

    let mhfa = MhfaHeadConfig::new(H, STATES)
        .with_heads(3)
        .with_compression(4)
        .with_embedding_dim(E);
    let mhfa = load(mhfa.init::<Flex>(&device).unwrap(), "mhfa", &tensors);
    let expected: Tensor<Flex, 2> = tensor(&tensors, "mhfa.output");
    mhfa.forward(&states)
        .into_data()
        .assert_approx_eq::<f32>(&expected.into_data(), tolerance);
}
