//! Layer norm over the last dimension as one autodiff node on the CPU training backend.
//!
//! Burn 0.21 differentiates `layer_norm` through its default decomposition (mean, centre, square, mean, add
//! epsilon, square root, divide, scale, shift: nine ops, each with its own backward and buffers, and the scale's
//! and shift's gradients as sums over every row). Here the forward is one parallel pass over rows and the backward
//! another, which recomputes each row's mean and deviation the same way (two passes over the row: a residual
//! stream's large mean costs no precision) and makes the gradients of x, γ and β together:
//! `dx = (g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)) / σ`, `dγ = Σ g·x̂`, `dβ = Σ g`.
//!
//! Elsewhere (Flex without autodiff, where the module calls Flex's fused kernel; other backends; a norm
//! without β; the environment variable `ADAPTSV_BURN_LAYER_NORM` set, to measure the difference) it is Burn's
//! `LayerNorm::forward`.

use std::any::TypeId;
use std::sync::OnceLock;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::nn::LayerNorm;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::device::host::{cast, flex_tensor, lane_sum, row_major, simd_kernel, values};
use crate::device::CpuBackend as Cpu;

/// The training backend on the CPU.
type CpuAd = Autodiff<Cpu>;

/// `norm.forward(x)` for `x` `[..., d_model]`; `eps` is the epsilon the norm was built with (Burn keeps its own
/// private).
pub(crate) fn layer_norm<B: Backend, const D: usize>(norm: &LayerNorm<B>, x: Tensor<B, D>, eps: f64) -> Tensor<B, D> {
    static OFF: OnceLock<bool> = OnceLock::new();
    let on_host = TypeId::of::<B>() == TypeId::of::<CpuAd>()
        && x.dtype() == DType::F32
        && !*OFF.get_or_init(|| std::env::var_os("ADAPTSV_BURN_LAYER_NORM").is_some());
    let Some(beta) = norm.beta.as_ref().filter(|_| on_host) else {
        return norm.forward(x);
    };
    let prim = |t: Tensor<B, 1>| cast::<_, Tensor<CpuAd, 1>>(t).into_primitive().tensor();
    let x = cast::<_, Tensor<CpuAd, D>>(x).into_primitive().tensor();
    let out = layer_norm_autodiff(x, prim(norm.gamma.val()), prim(beta.val()), eps as f32);
    cast(Tensor::<CpuAd, D>::from_primitive(TensorPrimitive::Float(out)))
}

/// What the backward needs: the input (row-major) and γ.
#[derive(Debug, Clone)]
struct Saved {
    x: FlexTensor,
    gamma: FlexTensor,
    eps: f32,
}

/// Parents x, γ, β.
#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Cpu, 3> for LayerNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let g = row_major(grads.consume::<Cpu>(&ops.node));
        let Saved { x, gamma, eps } = ops.state;
        let shape = x.layout().shape().clone();
        let (dx, dgamma, dbeta) = gradients(values(&x), values(&gamma), values(&g), eps);
        let d_model = Shape::new([dgamma.len()]);
        let all = [(dx, shape), (dgamma, d_model.clone()), (dbeta, d_model)];
        for (node, (grad, shape)) in ops.parents.into_iter().zip(all) {
            if let Some(node) = node {
                grads.register::<Cpu>(node.id, flex_tensor(grad, shape));
            }
        }
    }
}

fn layer_norm_autodiff(
    x: FloatTensor<CpuAd>,
    gamma: FloatTensor<CpuAd>,
    beta: FloatTensor<CpuAd>,
    eps: f32,
) -> FloatTensor<CpuAd> {
    let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
    let (x, gamma, beta) = (
        row_major(x.primitive),
        row_major(gamma.primitive),
        row_major(beta.primitive),
    );
    let out = forward(&x, &gamma, &beta, eps);
    match LayerNormBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Saved { x, gamma, eps }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// `(x − mean) / √(var + eps) · γ + β` per row, with the mean and the (biased) variance of each row computed as the
/// backward recomputes them (two passes over the row, so a large mean costs no precision).
fn forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, eps: f32) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let (x, gamma, beta) = (values(x), values(gamma), values(beta));
    let d = gamma.len();
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(ROWS * d)
        .zip(x.par_chunks(ROWS * d))
        .for_each(|(y, x)| rows_forward(y, x, gamma, beta, eps));
    flex_tensor(y, shape)
}

simd_kernel! {
    /// The forward of a block of rows.
    fn rows_forward(y: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) => rows_forward_any
}

#[inline(always)]
fn rows_forward_any(y: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let d = gamma.len();
    for (y, x) in y.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
        let (mean, rstd) = row_stats(x, eps);
        for (((y, &v), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
            *y = (v - mean) * rstd * g + b;
        }
    }
}

/// A row's mean and `1 / √(var + eps)`, the variance biased and centred.
#[inline(always)]
fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = lane_sum(x, x, x, |v, _, _| v) / n;
    let var = lane_sum(x, x, x, |v, _, _| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Rows per parallel task of the backward.
const ROWS: usize = 32;

/// `(dx, dγ, dβ)` from `x` `[rows, d_model]`, γ `[d_model]` and the output's gradient `g` `[rows, d_model]`.
fn gradients(x: &[f32], gamma: &[f32], g: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    let mut dx = vec![0.0f32; x.len()];
    let zero = || (vec![0.0f32; d], vec![0.0f32; d]);
    let (dgamma, dbeta) = dx
        .par_chunks_mut(ROWS * d)
        .zip(x.par_chunks(ROWS * d).zip(g.par_chunks(ROWS * d)))
        .fold(zero, |(mut dgamma, mut dbeta), (dx, (x, g))| {
            rows_backward(dx, x, g, gamma, eps, &mut dgamma, &mut dbeta);
            (dgamma, dbeta)
        })
        .reduce(zero, |(mut ga, mut ba), (gb, bb)| {
            ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
            ba.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
            (ga, ba)
        });
    (dx, dgamma, dbeta)
}

simd_kernel! {
    /// The backward of a block of rows, γ's and β's gradients added to `dgamma`, `dbeta`.
    fn rows_backward(
        dx: &mut [f32],
        x: &[f32],
        g: &[f32],
        gamma: &[f32],
        eps: f32,
        dgamma: &mut [f32],
        dbeta: &mut [f32],
    ) => rows_backward_any
}

#[inline(always)]
fn rows_backward_any(
    dx: &mut [f32],
    x: &[f32],
    g: &[f32],
    gamma: &[f32],
    eps: f32,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let d = gamma.len();
    let n = d as f32;
    for ((dx, x), g) in dx.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(g.chunks_exact(d)) {
        let (mean, rstd) = row_stats(x, eps);
        // mean(g·γ) and mean(g·γ·x̂).
        let a = lane_sum(g, gamma, x, |g, c, _| g * c) / n;
        let c = lane_sum(g, gamma, x, |g, c, v| g * c * (v - mean)) * rstd / n;
        for ((((dx, &v), &g), &gm), (dg, db)) in dx
            .iter_mut()
            .zip(x)
            .zip(g)
            .zip(gamma)
            .zip(dgamma.iter_mut().zip(dbeta.iter_mut()))
        {
            let xhat = (v - mean) * rstd;
            *dx = rstd * (g * gm - a - xhat * c);
            *dg += g * xhat;
            *db += g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LayerNormConfig;
    use burn::tensor::Distribution;

    #[test]
    fn matches_burns_layer_norm_and_its_gradients() {
        let device = Default::default();
        let d = 37;
        let mut norm = LayerNormConfig::new(d).with_epsilon(1e-5).init::<CpuAd>(&device);
        norm.gamma = norm.gamma.map(|g| {
            (g + Tensor::random([d], Distribution::Normal(0.0, 0.5), &device))
                .detach()
                .require_grad()
        });
        norm.beta = norm.beta.map(|b| {
            b.map(|b| {
                (b + Tensor::random([d], Distribution::Normal(0.0, 0.5), &device))
                    .detach()
                    .require_grad()
            })
        });
        let x = (Tensor::<CpuAd, 3>::random([3, 70, d], Distribution::Normal(0.0, 2.0), &device) + 1.0).require_grad();
        let w = Tensor::<CpuAd, 3>::random([3, 70, d], Distribution::Normal(0.0, 1.0), &device);
        let ours = layer_norm(&norm, x.clone(), 1e-5);
        let theirs = norm.forward(x.clone());
        let g1 = (ours.clone() * w.clone()).sum().backward();
        let g2 = (theirs.clone() * w).sum().backward();
        let close = |a: Vec<f32>, b: Vec<f32>, what: &str| {
            let worst = a.iter().zip(&b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst < 1e-4, "{what}: largest difference {worst}");
        };
        let v = |t: Tensor<Cpu, 3>| t.into_data().to_vec::<f32>().unwrap();
        let v1 = |t: Tensor<Cpu, 1>| t.into_data().to_vec::<f32>().unwrap();
        close(
            ours.inner().into_data().to_vec().unwrap(),
            theirs.inner().into_data().to_vec().unwrap(),
            "y",
        );
        close(v(x.grad(&g1).unwrap()), v(x.grad(&g2).unwrap()), "dx");
        close(
            v1(norm.gamma.val().grad(&g1).unwrap()),
            v1(norm.gamma.val().grad(&g2).unwrap()),
            "dgamma",
        );
        let beta = norm.beta.as_ref().unwrap().val();
        close(v1(beta.grad(&g1).unwrap()), v1(beta.grad(&g2).unwrap()), "dbeta");
    }
}
