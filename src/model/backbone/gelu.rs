//! GELU, `0.5·x·(1 + erf(x/√2))`, fast on the CPU backend.
//!
//! Burn Flex computes GELU (and its derivative) one element at a time with libm's `erff` on one thread; in WavLM
//! Base+ that is about 10 M elements per 3-second utterance in the CNN feature encoder and 5.5 M in the
//! Transformer's FFNs. Here, when the backend is Flex (`CpuBackend`) or Flex under autodiff (the training
//! backend) and the tensor is f32, values and derivatives are computed on the host in parallel chunks (rayon,
//! Flex's own pool) by loops the compiler vectorises: erf from Abramowitz & Stegun 7.1.26 (absolute error
//! ≤ 1.5·10⁻⁷, below f32's resolution of `1 + erf`) with a polynomial `exp` (Cephes `expf`), compiled for AVX-512
//! or AVX2 when the CPU has them. Under autodiff the op is one node with its own backward
//! (`Φ(x) + x·φ(x)` times the incoming gradient), as Burn's backend-extension guide does for fused kernels.
//! Any other backend (CUDA) uses Burn's own `gelu`, and so does every backend when the environment variable
//! `ADAPTSV_BURN_GELU` is set (to measure the difference: `adaptsv bench` before and after).

use std::any::Any;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::activation;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use crate::device::host::{cast, flex_tensor, host_values, simd_kernel, CHUNK};
use crate::device::CpuBackend as Cpu;

/// The training backend on the CPU.
type CpuAd = Autodiff<Cpu>;


/// `gelu(x)` for any shape; exact GELU (erf form) on every backend, fast on Flex.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    static BURNS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if x.dtype() != DType::F32 || *BURNS.get_or_init(|| std::env::var_os("ADAPTSV_BURN_GELU").is_some()) {
        return activation::gelu(x);
    }
    let x: Box<dyn Any> = Box::new(x);
    let x = match x.downcast::<Tensor<Cpu, D>>() {
        Ok(t) => {
            return cast(Tensor::<Cpu, D>::from_primitive(TensorPrimitive::Float(gelu_host(
                float(*t),
            ))))
        }
        Err(x) => x,
    };
    let x = match x.downcast::<Tensor<CpuAd, D>>() {
        Ok(t) => {
            return cast(Tensor::<CpuAd, D>::from_primitive(TensorPrimitive::Float(
                gelu_autodiff(float(*t)),
            )))
        }
        Err(x) => x,
    };
    match x.downcast::<Tensor<B, D>>() {
        Ok(t) => activation::gelu(*t),
        Err(_) => unreachable!("a Tensor<B, D> downcasts to itself"),
    }
}

fn float<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// GELU of a Flex tensor on the host.
fn gelu_host(x: FloatTensor<Cpu>) -> FloatTensor<Cpu> {
    let (mut values, shape) = host_values(x);
    gelu_in_place(&mut values);
    flex_tensor(values, shape)
}

/// `grad · gelu'(x)` on the host.
fn gelu_backward_host(x: FloatTensor<Cpu>, grad: FloatTensor<Cpu>) -> FloatTensor<Cpu> {
    use rayon::prelude::*;
    let (x, _) = host_values(x);
    let (mut g, shape) = host_values(grad);
    g.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(g, x)| backward_kernel(g, x));
    flex_tensor(g, shape)
}

/// GELU as one autodiff node on the CPU training backend.
fn gelu_autodiff(x: FloatTensor<CpuAd>) -> FloatTensor<CpuAd> {
    #[derive(Debug)]
    struct GeluBackward;

    impl Backward<Cpu, 1> for GeluBackward {
        type State = FloatTensor<Cpu>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let input = ops.state;
            unary::<Cpu, _>(ops.parents, ops.node, grads, |grad| gelu_backward_host(input, grad));
        }
    }

    match GeluBackward
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let out = gelu_host(x.primitive.clone());
            prep.finish(x.primitive, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(gelu_host(x.primitive)),
    }
}

/// GELU of every value, in parallel chunks.
pub fn gelu_in_place(values: &mut [f32]) {
    use rayon::prelude::*;
    if values.len() <= CHUNK {
        kernel(values);
    } else {
        values.par_chunks_mut(CHUNK).for_each(kernel);
    }
}

simd_kernel! {
    /// [`gelu_slice`], compiled for the widest vectors this CPU has.
    fn kernel(values: &mut [f32]) => gelu_slice
}

simd_kernel! {
    /// [`backward_slice`], compiled for the widest vectors this CPU has.
    fn backward_kernel(grad: &mut [f32], x: &[f32]) => backward_slice
}

/// `grad ← grad · (Φ(x) + x·φ(x))`.
#[inline(always)]
fn backward_slice(grad: &mut [f32], x: &[f32]) {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    for (g, &x) in grad.iter_mut().zip(x) {
        let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        let pdf = INV_SQRT_2PI * exp_neg(-0.5 * x * x);
        *g *= cdf + x * pdf;
    }
}

#[inline(always)]
fn gelu_slice(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = gelu_one(*v);
    }
}

/// One GELU value; branch-free so that loops over it vectorise.
#[inline(always)]
pub fn gelu_one(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), branch-free.
#[inline(always)]
fn erf(z: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let a = f32::from_bits(z.to_bits() & 0x7fff_ffff);
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5))));
    let r = 1.0 - poly * exp_neg(-(a * a));
    f32::from_bits(r.to_bits() | (z.to_bits() & 0x8000_0000))
}

/// `exp(y)` for `y ≤ 0` (Cephes `expf`: range reduction by ln 2, degree-6 polynomial; relative error ~1e-7),
/// `exp(−87)` ≈ 1.6e−38 below −87; a NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_neg(y: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer
    // Not `y.max(-87.0)`, which would turn a NaN into exp(-87) and hide it.
    let y = if y < -87.0 { -87.0 } else { y };
    let shifted = y * LOG2E + MAGIC;
    let n = shifted - MAGIC; // round(y / ln 2), in [-126, 0]
    let r = y - n * C1 - n * C2;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    // 2ⁿ from the rounded value's low mantissa bits (wrapping: overflow checks would stop vectorisation).
    let bits = shifted.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127) << 23;
    e * f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference GELU in f64 with libm's erf.
    fn reference(x: f32) -> f64 {
        let x = x as f64;
        0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
    }

    #[test]
    fn matches_the_exact_gelu_to_f32_precision() {
        let mut worst = 0.0f64;
        let xs: Vec<f32> = (-200_000..=200_000)
            .map(|i| i as f32 * 1e-4)
            .chain([-100.0, -30.0, 30.0, 100.0])
            .collect();
        let mut ys = xs.clone();
        gelu_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let err = (*y as f64 - reference(*x)).abs() / (1.0f64).max((*x as f64).abs());
            worst = worst.max(err);
        }
        assert!(worst < 3e-7, "worst error {worst:e}");
        assert_eq!(ys[ys.len() - 1], 100.0);
        assert_eq!(ys[ys.len() - 3], -0.0);
    }

    #[test]
    fn the_fast_path_equals_burns_gelu_on_flex() {
        use burn::backend::Flex;
        use burn::tensor::{Distribution, Tolerance};
        let device = Default::default();
        let x = Tensor::<Flex, 3>::random([2, 70, 1000], Distribution::Normal(0.0, 3.0), &device);
        let fast = gelu(x.clone());
        let slow = activation::gelu(x);
        fast.into_data()
            .assert_approx_eq::<f32>(&slow.into_data(), Tolerance::absolute(1e-6));
    }

    #[test]
    fn the_autodiff_path_has_burns_value_and_gradient() {
        use burn::backend::{Autodiff, Flex};
        use burn::tensor::{Distribution, Tolerance};
        type A = Autodiff<Flex>;
        let device = Default::default();
        let x0 = Tensor::<Flex, 2>::random([300, 400], Distribution::Normal(0.0, 3.0), &device);
        let w = Tensor::<Flex, 2>::random([300, 400], Distribution::Normal(0.0, 1.0), &device);
        let run = |fast: bool| {
            let x = Tensor::<A, 2>::from_inner(x0.clone()).require_grad();
            let y = if fast {
                gelu(x.clone())
            } else {
                activation::gelu(x.clone())
            };
            let loss = (y.clone() * Tensor::<A, 2>::from_inner(w.clone())).sum();
            let grads = loss.backward();
            (
                y.inner().into_data(),
                x.grad(&grads).expect("x requires grad").into_data(),
            )
        };
        let (y_fast, g_fast) = run(true);
        let (y_slow, g_slow) = run(false);
        y_fast.assert_approx_eq::<f32>(&y_slow, Tolerance::absolute(1e-6));
        g_fast.assert_approx_eq::<f32>(&g_slow, Tolerance::absolute(2e-6));
    }
}
