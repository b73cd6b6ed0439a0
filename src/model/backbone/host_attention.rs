//! Attention's core on the CPU backend, `softmax(q·kᵀ/√head_dim + gate ⊙ bias)·v` for every head at once, read
//! from and written to the projections' own layout `[batch, frames, heads·head_dim]`, with WavLM's gated
//! position bias (`gate` `[batch, heads, frames]`, one value per query frame; `bias` `[heads, frames, frames]`)
//! added to the scores.
//!
//! Under autodiff Burn builds this from a dozen ops (the head split and merge copies, two batched matmuls, the
//! gate spread over keys and its product with the bias, a numerically safe softmax of five passes), each with
//! its own backward and its own buffers. Here it is one node: the forward keeps the probabilities
//! `[batch, heads, frames, frames]`, and the backward makes every gradient (q, k, v, gate, bias) in one parallel
//! pass over the heads, each product a single-threaded `gemm` call on strided views of the projections (no head
//! is copied out). Flex without autodiff (extraction, frozen backbones) runs the same forward without keeping
//! the probabilities.
//!
//! The caller uses it where [`available`] says so (Flex or Flex under autodiff, f32); elsewhere, and for every
//! backend when the environment variable `ADAPTSV_BURN_ATTENTION` is set (to measure the difference), it runs
//! Burn's `attention`.

use std::any::TypeId;
use std::sync::OnceLock;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::gelu::exp_neg;
use crate::device::host::{cast, flex_tensor, lane_sum, row_major, simd_kernel, values, SendPtr};
use crate::device::CpuBackend as Cpu;

/// The training backend on the CPU.
type CpuAd = Autodiff<Cpu>;

/// Whether [`attention`] runs on backend `B` for tensors of `dtype`.
pub(crate) fn available<B: Backend>(dtype: DType) -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    let backend = TypeId::of::<B>();
    dtype == DType::F32
        && (backend == TypeId::of::<Cpu>() || backend == TypeId::of::<CpuAd>())
        && !*OFF.get_or_init(|| std::env::var_os("ADAPTSV_BURN_ATTENTION").is_some())
}

/// `q`, `k`, `v`: `[batch, frames, heads·head_dim]`; `gated_bias`: WavLM's gate `[batch, heads, frames]` and
/// position bias `[heads, frames, frames]`. Returns `[batch, frames, heads·head_dim]`, heads side by side as the
/// output projection reads them. Only where [`available`] is true.
pub(crate) fn attention<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    gated_bias: Option<(Tensor<B, 3>, Tensor<B, 3>)>,
) -> Tensor<B, 3> {
    let [b, t, d] = q.dims();
    // The gemm views below read these shapes without further checks.
    assert!(
        heads > 0 && d % heads == 0,
        "attention: width {d} is not a multiple of {heads} heads"
    );
    assert!(
        k.dims() == [b, t, d] && v.dims() == [b, t, d],
        "attention: q, k, v must share one shape"
    );
    if let Some((g, bias)) = &gated_bias {
        assert!(
            g.dims() == [b, heads, t] && bias.dims() == [heads, t, t],
            "attention: gate or bias shape"
        );
    }
    let dims = Dims {
        b,
        t,
        h: heads,
        hd: d / heads,
    };
    if TypeId::of::<B>() == TypeId::of::<CpuAd>() {
        let prim = |t: Tensor<B, 3>| cast::<_, Tensor<CpuAd, 3>>(t).into_primitive().tensor();
        let gated_bias = gated_bias.map(|(g, bias)| (prim(g), prim(bias)));
        let out = attention_autodiff(prim(q), prim(k), prim(v), gated_bias, dims);
        return cast(Tensor::<CpuAd, 3>::from_primitive(TensorPrimitive::Float(out)));
    }
    let prim = |t: Tensor<B, 3>| row_major(cast::<_, Tensor<Cpu, 3>>(t).into_primitive().tensor());
    let (q, k, v) = (prim(q), prim(k), prim(v));
    let gated_bias = gated_bias.map(|(g, bias)| (prim(g), prim(bias)));
    let out = forward_only(&q, &k, &v, gated_bias.as_ref(), dims);
    cast(Tensor::<Cpu, 3>::from_primitive(TensorPrimitive::Float(out)))
}

/// The sizes of one call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    h: usize,
    hd: usize,
}

impl Dims {
    fn d(self) -> usize {
        self.h * self.hd
    }

    fn scale(self) -> f32 {
        1.0 / (self.hd as f32).sqrt()
    }

    /// Offset of head `h` of utterance `b` in a `[batch, frames, heads·head_dim]` buffer.
    fn head(self, b: usize, h: usize) -> usize {
        b * self.t * self.d() + h * self.hd
    }
}

/// What the backward needs: the inputs (row-major) and the forward's probabilities `[b, h, t, t]`.
#[derive(Debug, Clone)]
struct Saved {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    gated_bias: Option<(FlexTensor, FlexTensor)>,
    probs: FlexTensor,
    dims: Dims,
}

/// Attention without a position bias (HuBERT, wav2vec 2.0): parents q, k, v.
#[derive(Debug)]
struct PlainBackward;

/// With WavLM's gated bias: parents q, k, v, gate, bias.
#[derive(Debug)]
struct GatedBackward;

impl Backward<Cpu, 3> for PlainBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = row_major(grads.consume::<Cpu>(&ops.node));
        let g = ops.state.gradients(values(&dout));
        let shape = Shape::new([ops.state.dims.b, ops.state.dims.t, ops.state.dims.d()]);
        for (node, grad) in ops.parents.into_iter().zip([g.dq, g.dk, g.dv]) {
            if let Some(node) = node {
                grads.register::<Cpu>(node.id, flex_tensor(grad, shape.clone()));
            }
        }
    }
}

impl Backward<Cpu, 5> for GatedBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = row_major(grads.consume::<Cpu>(&ops.node));
        let g = ops.state.gradients(values(&dout));
        let Dims { b, t, h, .. } = ops.state.dims;
        let qkv = Shape::new([b, t, h * ops.state.dims.hd]);
        let shapes = [
            qkv.clone(),
            qkv.clone(),
            qkv,
            Shape::new([b, h, t]),
            Shape::new([h, t, t]),
        ];
        let (Some(dgate), Some(dbias)) = (g.dgate, g.dbias) else {
            unreachable!("the gated node saved its gate and bias")
        };
        let all = [g.dq, g.dk, g.dv, dgate, dbias];
        for ((node, grad), shape) in ops.parents.into_iter().zip(all).zip(shapes) {
            if let Some(node) = node {
                grads.register::<Cpu>(node.id, flex_tensor(grad, shape));
            }
        }
    }
}

/// Attention as one autodiff node on the CPU training backend.
fn attention_autodiff(
    q: FloatTensor<CpuAd>,
    k: FloatTensor<CpuAd>,
    v: FloatTensor<CpuAd>,
    gated_bias: Option<(FloatTensor<CpuAd>, FloatTensor<CpuAd>)>,
    dims: Dims,
) -> FloatTensor<CpuAd> {
    let (nq, nk, nv) = (q.node.clone(), k.node.clone(), v.node.clone());
    let inputs = |q: FloatTensor<CpuAd>, k: FloatTensor<CpuAd>, v: FloatTensor<CpuAd>| {
        (row_major(q.primitive), row_major(k.primitive), row_major(v.primitive))
    };
    match gated_bias {
        None => match PlainBackward
            .prepare::<NoCheckpointing>([nq, nk, nv])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (q, k, v) = inputs(q, k, v);
                let (out, saved) = forward_saving(q, k, v, None, dims);
                prep.finish(saved, out)
            }
            OpsKind::UnTracked(prep) => {
                let (q, k, v) = inputs(q, k, v);
                prep.finish(forward_only(&q, &k, &v, None, dims))
            }
        },
        Some((g, bias)) => {
            let nodes = [nq, nk, nv, g.node.clone(), bias.node.clone()];
            let gated = (row_major(g.primitive), row_major(bias.primitive));
            match GatedBackward
                .prepare::<NoCheckpointing>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (q, k, v) = inputs(q, k, v);
                    let (out, saved) = forward_saving(q, k, v, Some(gated), dims);
                    prep.finish(saved, out)
                }
                OpsKind::UnTracked(prep) => {
                    let (q, k, v) = inputs(q, k, v);
                    prep.finish(forward_only(&q, &k, &v, Some(&gated), dims))
                }
            }
        }
    }
}

/// The forward as a Flex tensor, nothing kept.
fn forward_only(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    gated_bias: Option<&(FlexTensor, FlexTensor)>,
    dims: Dims,
) -> FlexTensor {
    let gated = gated_bias.map(|(g, bias)| (values(g), values(bias)));
    let out = forward(values(q), values(k), values(v), gated, dims, None);
    flex_tensor(out, Shape::new([dims.b, dims.t, dims.d()]))
}

/// The forward, keeping what the backward needs.
fn forward_saving(
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    gated_bias: Option<(FlexTensor, FlexTensor)>,
    dims: Dims,
) -> (FlexTensor, Saved) {
    let Dims { b, t, h, .. } = dims;
    let mut probs = vec![0.0f32; b * h * t * t];
    let gated = gated_bias.as_ref().map(|(g, bias)| (values(g), values(bias)));
    let out = forward(values(&q), values(&k), values(&v), gated, dims, Some(&mut probs));
    let probs = flex_tensor(probs, Shape::new([b, h, t, t]));
    let out = flex_tensor(out, Shape::new([b, t, dims.d()]));
    (
        out,
        Saved {
            q,
            k,
            v,
            gated_bias,
            probs,
            dims,
        },
    )
}

/// A strided `rows × cols` view of a buffer: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

impl View {
    /// The view at `offset` of `buf`, row stride `rs`, column stride `cs`.
    fn of(buf: &[f32], offset: usize, rs: usize, cs: usize) -> View {
        assert!(
            offset < buf.len(),
            "view offset {offset} outside a buffer of {}",
            buf.len()
        );
        View {
            ptr: buf[offset..].as_ptr(),
            rs: rs as isize,
            cs: cs as isize,
        }
    }

    /// The same elements read transposed.
    fn t(self) -> View {
        View {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `dst ← beta · lhs · rhs`, `m × n` with depth `k`, on the calling thread; `dst` has row stride `dst_rs`.
///
/// # Safety
/// `lhs` addresses an `m × k` block and `rhs` a `k × n` block inside their buffers, `dst` an `m × n` block
/// inside its buffer that nothing else reads or writes meanwhile.
unsafe fn matmul(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: usize, lhs: View, rhs: View, beta: f32) {
    // SAFETY: the caller's contract above is gemm's.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            false,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            0.0,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The output `[b, t, h·hd]`; each (utterance, head)'s probabilities go to its `[t, t]` block of `probs` when
/// given (`[b, h, t, t]`). Parallel over (utterance, head).
fn forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    gated: Option<(&[f32], &[f32])>,
    dims: Dims,
    probs: Option<&mut [f32]>,
) -> Vec<f32> {
    let Dims { b, t, h, hd } = dims;
    let d = dims.d();
    let mut out = vec![0.0f32; b * t * d];
    let dst = SendPtr(out.as_mut_ptr());
    let task = |task: usize, p: &mut [f32]| {
        let (bi, hi) = (task / h, task % h);
        let at = dims.head(bi, hi);
        // SAFETY: q and k hold t rows of d values from `at` on (hd of them read per row); p is t × t.
        unsafe {
            matmul(
                t,
                t,
                hd,
                p.as_mut_ptr(),
                t,
                View::of(q, at, d, 1),
                View::of(k, at, d, 1).t(),
                dims.scale(),
            )
        };
        let gate_rows = gated.map(|(g, bias)| (&g[task * t..][..t], &bias[hi * t * t..][..t * t]));
        softmax_rows(p, t, gate_rows);
        // SAFETY: this task alone writes head hi of utterance bi: t rows of hd values from `at`, row stride d.
        unsafe {
            matmul(
                t,
                hd,
                t,
                dst.at(at),
                d,
                View::of(p, 0, t, 1),
                View::of(v, at, d, 1),
                1.0,
            )
        };
    };
    match probs {
        Some(probs) => probs.par_chunks_mut(t * t).enumerate().for_each(|(i, p)| task(i, p)),
        None => (0..b * h)
            .into_par_iter()
            .for_each_init(|| vec![0.0f32; t * t], |p, i| task(i, p)),
    }
    out
}

/// The gradients of one call: q, k, v `[b, t, h·hd]`; gate `[b, h, t]` and bias `[h, t, t]` when gated.
struct Grads {
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
    dgate: Option<Vec<f32>>,
    dbias: Option<Vec<f32>>,
}

impl Saved {
    /// Every input's gradient from the output's, `dout` `[b, t, h·hd]`. Parallel over heads; each head's bias
    /// gradient is summed over the utterances by its own task.
    fn gradients(&self, dout: &[f32]) -> Grads {
        let dims = self.dims;
        let Dims { b, t, h, hd } = dims;
        let d = dims.d();
        let (q, k, v, probs) = (values(&self.q), values(&self.k), values(&self.v), values(&self.probs));
        let gated = self.gated_bias.as_ref().map(|(g, bias)| (values(g), values(bias)));
        let mut dq = vec![0.0f32; b * t * d];
        let mut dk = vec![0.0f32; b * t * d];
        let mut dv = vec![0.0f32; b * t * d];
        let mut dgate = gated.map(|_| vec![0.0f32; b * h * t]);
        let mut dbias = gated.map(|_| vec![0.0f32; h * t * t]);
        let (pq, pk, pv) = (
            SendPtr(dq.as_mut_ptr()),
            SendPtr(dk.as_mut_ptr()),
            SendPtr(dv.as_mut_ptr()),
        );
        let pgate = dgate.as_mut().map(|g| SendPtr(g.as_mut_ptr()));
        let head = |hi: usize, mut dbias_h: Option<&mut [f32]>, ds: &mut Vec<f32>| {
            for bi in 0..b {
                let task = bi * h + hi;
                let at = dims.head(bi, hi);
                let p = &probs[task * t * t..][..t * t];
                let (dout_h, p_view) = (View::of(dout, at, d, 1), View::of(p, 0, t, 1));
                // SAFETY: as in `forward`; this task alone writes head hi of every utterance in dq, dk, dv.
                unsafe {
                    matmul(t, hd, t, pv.at(at), d, p_view.t(), dout_h, 1.0); // dv = pᵀ·dout
                    matmul(t, t, hd, ds.as_mut_ptr(), t, dout_h, View::of(v, at, d, 1).t(), 1.0);
                    // dp = dout·vᵀ
                }
                let gate = match (gated, pgate, dbias_h.as_deref_mut()) {
                    (Some((g, bias)), Some(pg), Some(dbias_h)) => Some(GateRows {
                        gate: &g[task * t..][..t],
                        bias: &bias[hi * t * t..][..t * t],
                        // SAFETY: row `task` of dgate ([b·h, t]) is this task's alone.
                        dgate: unsafe { std::slice::from_raw_parts_mut(pg.at(task * t), t) },
                        dbias: dbias_h,
                    }),
                    _ => None,
                };
                softmax_backward_rows(ds, p, t, gate);
                let ds_view = View::of(ds, 0, t, 1);
                // SAFETY: as above.
                unsafe {
                    matmul(t, hd, t, pq.at(at), d, ds_view, View::of(k, at, d, 1), dims.scale()); // dq = ds·k
                    matmul(t, hd, t, pk.at(at), d, ds_view.t(), View::of(q, at, d, 1), dims.scale());
                    // dk = dsᵀ·q
                }
            }
        };
        match dbias.as_mut() {
            Some(dbias) => dbias
                .par_chunks_mut(t * t)
                .enumerate()
                .for_each_init(|| vec![0.0f32; t * t], |ds, (hi, dbias_h)| head(hi, Some(dbias_h), ds)),
            None => (0..h)
                .into_par_iter()
                .for_each_init(|| vec![0.0f32; t * t], |ds, hi| head(hi, None, ds)),
        }
        Grads {
            dq,
            dk,
            dv,
            dgate,
            dbias,
        }
    }
}

/// One (utterance, head)'s gate row `[t]` and bias `[t, t]`, and where their gradients go.
struct GateRows<'a> {
    gate: &'a [f32],
    bias: &'a [f32],
    dgate: &'a mut [f32],
    /// Accumulated over the utterances.
    dbias: &'a mut [f32],
}

simd_kernel! {
    /// Each row of the scores `p` (`[t, t]`): the gated bias added, then softmax, in place.
    fn softmax_rows(p: &mut [f32], t: usize, gated: Option<(&[f32], &[f32])>) => softmax_rows_any
}

#[inline(always)]
fn softmax_rows_any(p: &mut [f32], t: usize, gated: Option<(&[f32], &[f32])>) {
    for (i, row) in p.chunks_exact_mut(t).enumerate() {
        if let Some((gate, bias)) = gated {
            let g = gate[i];
            for (s, &b) in row.iter_mut().zip(&bias[i * t..][..t]) {
                *s += g * b;
            }
        }
        let max = lane_max(row);
        for s in row.iter_mut() {
            *s = exp_neg(*s - max);
        }
        let inv = 1.0 / lane_sum(row, row, row, |s, _, _| s);
        for s in row.iter_mut() {
            *s *= inv;
        }
    }
}

simd_kernel! {
    /// `ds ← p ⊙ (dp − rowsum(dp ⊙ p))` in place (`ds` holds `dp` on entry), and, when gated, the gate's gradient
    /// `rowsum(ds ⊙ bias)` and the bias's `ds · gate` (added).
    fn softmax_backward_rows(ds: &mut [f32], p: &[f32], t: usize, gated: Option<GateRows>) => softmax_backward_any
}

#[inline(always)]
fn softmax_backward_any(ds: &mut [f32], p: &[f32], t: usize, mut gated: Option<GateRows>) {
    for (i, (row, p_row)) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)).enumerate() {
        let delta = lane_sum(row, p_row, p_row, |s, p, _| s * p);
        for (s, &p) in row.iter_mut().zip(p_row) {
            *s = p * (*s - delta);
        }
        if let Some(g) = gated.as_mut() {
            let bias_row = &g.bias[i * t..][..t];
            g.dgate[i] = lane_sum(row, bias_row, bias_row, |s, b, _| s * b);
            let gate = g.gate[i];
            for (db, &s) in g.dbias[i * t..][..t].iter_mut().zip(row.iter()) {
                *db += s * gate;
            }
        }
    }
}

/// The largest value, in eight lanes so that the loop vectorises.
#[inline(always)]
fn lane_max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] = acc[l].max(c[l]);
        }
    }
    rest.iter().chain(&acc).fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::attention as burn_attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::Distribution;

    fn close(a: &Tensor<CpuAd, 3>, b: &Tensor<CpuAd, 3>, what: &str) {
        let (a, b) = (
            a.to_data().to_vec::<f32>().unwrap(),
            b.to_data().to_vec::<f32>().unwrap(),
        );
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = a.iter().zip(&b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            worst <= 1e-5 * scale.max(1.0),
            "{what}: largest difference {worst} (values up to {scale})"
        );
    }

    /// Burn's ops, as `Attention::forward` runs them when the host path is off.
    fn reference(
        q: Tensor<CpuAd, 3>,
        k: Tensor<CpuAd, 3>,
        v: Tensor<CpuAd, 3>,
        h: usize,
        gated: Option<(Tensor<CpuAd, 3>, Tensor<CpuAd, 3>)>,
    ) -> Tensor<CpuAd, 3> {
        let [b, t, d] = q.dims();
        let heads = |x: Tensor<CpuAd, 3>| x.reshape([b, t, h, d / h]).swap_dims(1, 2);
        let bias = gated.map(|(g, bias)| g.reshape([b, h, t, 1]) * bias.reshape([1, h, t, t]));
        let out = burn_attention(
            heads(q),
            heads(k),
            heads(v),
            None,
            bias,
            AttentionModuleOptions::default(),
        );
        out.swap_dims(1, 2).reshape([b, t, d])
    }

    #[test]
    fn matches_burns_attention_and_its_gradients() {
        let device = Default::default();
        let (b, t, h, hd) = (2, 13, 3, 8);
        let d = h * hd;
        let rand =
            |dims: [usize; 3]| Tensor::<CpuAd, 3>::random(dims, Distribution::Normal(0.0, 1.0), &device).require_grad();
        for gated in [false, true] {
            let (q, k, v) = (rand([b, t, d]), rand([b, t, d]), rand([b, t, d]));
            let (g, bias) = (rand([b, h, t]), rand([h, t, t]));
            let weights = Tensor::<CpuAd, 3>::random([b, t, d], Distribution::Normal(0.0, 1.0), &device);
            let gb = |on: bool| on.then(|| (g.clone(), bias.clone()));
            let ours = attention(q.clone(), k.clone(), v.clone(), h, gb(gated));
            let theirs = reference(q.clone(), k.clone(), v.clone(), h, gb(gated));
            close(&ours, &theirs, "output");
            let grads_ours = (ours * weights.clone()).sum().backward();
            let grads_theirs = (theirs * weights).sum().backward();
            let mut inputs = vec![("q", &q), ("k", &k), ("v", &v)];
            if gated {
                inputs.extend([("gate", &g), ("bias", &bias)]);
            }
            for (what, x) in inputs {
                let a = Tensor::<CpuAd, 3>::from_inner(x.grad(&grads_ours).unwrap());
                let b = Tensor::<CpuAd, 3>::from_inner(x.grad(&grads_theirs).unwrap());
                close(&a, &b, what);
            }
        }
    }

    #[test]
    fn flex_forward_matches_the_training_forward() {
        let device = Default::default();
        let (b, t, h, d) = (1, 21, 2, 16);
        let x = Tensor::<Cpu, 3>::random([b, t, d], Distribution::Normal(0.0, 1.0), &device);
        let g = Tensor::<Cpu, 3>::random([b, h, t], Distribution::Normal(0.0, 1.0), &device);
        let bias = Tensor::<Cpu, 3>::random([h, t, t], Distribution::Normal(0.0, 1.0), &device);
        let plain = attention(
            x.clone(),
            x.clone() * 0.5,
            x.clone(),
            h,
            Some((g.clone(), bias.clone())),
        );
        let ad = |t: &Tensor<Cpu, 3>| Tensor::<CpuAd, 3>::from_inner(t.clone());
        let trained = attention(ad(&x), ad(&x) * 0.5, ad(&x), h, Some((ad(&g), ad(&bias))));
        close(&ad(&plain), &trained, "output");
    }
}
