//! Averaging one optimiser step over the peers of a data-parallel run, with Burn's collective all-reduce.
//!
//! Every gradient of the model, in the model's own parameter order (the same on every peer and every node: Burn's
//! `GradientsParams::all_reduce` orders by `ParamId`, which differs between processes), and the step's running
//! figures are laid end to end in one flat tensor, averaged in one `all_reduce(Mean)`, and cut back:
//!
//! ```text
//! [g_1 (flattened) | g_2 | … | g_n | sums (K) | stop vote (1)]  ──all_reduce(Mean)──▶  same layout, averaged
//! ```
//!
//! One call per step instead of one per parameter (a WavLM Base+ has ~200 tensors). Each peer's loss is the mean
//! over its shard of equal size, so the average of the peers' gradients is the gradient of the global batch's mean
//! loss, as on one device. The step's single readback (`super::readback`) then reads the averaged figures and the
//! norm of the averaged gradients: the same on every peer, so every peer clips and steps alike.

use super::readback::{read_step, DeviceSums, StepValues};
use super::EngineError;
use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_collective::{PeerId, ReduceOperation};

/// The step's readback after averaging over the peers (`peer` set) or as it is (one peer): the gradients to step
/// with, the figures read (the job's sums, the norm, `extra`), whether some node voted to stop, and the seconds
/// spent in the all-reduce.
pub(super) fn reduce_and_read<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: GradientsParams,
    sums: &mut DeviceSums<B::InnerBackend>,
    extra: Option<Tensor<B::InnerBackend, 1>>,
    peer: Option<PeerId>,
    stop_vote: bool,
) -> Result<(GradientsParams, StepValues, bool, f64), EngineError> {
    let Some(peer) = peer else {
        let read = read_step::<B, M>(model, &grads, sums, extra);
        return Ok((grads, read, stop_vote, 0.0));
    };
    let figures = sums.take().ok_or_else(|| EngineError::Peer("a step without a micro-batch".into()))?;
    let device = figures.device();
    let vote = Tensor::<B::InnerBackend, 1>::from_floats([if stop_vote { 1.0 } else { 0.0 }], &device);
    let tail = Tensor::cat(vec![figures, vote], 0);
    let started = std::time::Instant::now();
    let (grads, tail) = mean_over_peers::<B, M>(peer, model, grads, tail)?;
    let waited = started.elapsed().as_secs_f64();
    let k = tail.dims()[0];
    let mut averaged = DeviceSums::default();
    averaged.add(vec![tail]);
    let mut read = read_step::<B, M>(model, &grads, &mut averaged, extra);
    let voted = read.sums.get(k - 1).is_some_and(|v| *v > 0.0);
    read.sums.truncate(k - 1);
    Ok((grads, read, voted, waited))
}

/// Averages every gradient of `model` in `grads` and the `[K]` tensor `tail` over all peers, in one all-reduce.
fn mean_over_peers<B: AutodiffBackend, M: AutodiffModule<B>>(
    peer: PeerId,
    model: &M,
    mut grads: GradientsParams,
    tail: Tensor<B::InnerBackend, 1>,
) -> Result<(GradientsParams, Tensor<B::InnerBackend, 1>), EngineError> {
    let mut gather = Gather::<B> {
        grads: &mut grads,
        parts: Vec::new(),
        taken: Vec::new(),
    };
    model.visit(&mut gather);
    let Gather { mut parts, taken, .. } = gather;
    let k = tail.dims()[0];
    parts.push(tail);
    let flat = Tensor::cat(parts, 0);
    let total = flat.dims()[0];
    let reduced = burn_collective::all_reduce::<B::InnerBackend>(
        peer,
        flat.into_primitive().tensor(),
        ReduceOperation::Mean,
    )
    .map_err(|e| EngineError::Peer(format!("the all-reduce failed: {e:?}")))?;
    let reduced = Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(reduced));
    let mut scatter = Scatter::<B> {
        grads: &mut grads,
        flat: &reduced,
        taken: &taken,
        next: 0,
        offset: 0,
    };
    model.visit(&mut scatter);
    let tail = reduced.slice(total - k..total);
    Ok((grads, tail))
}

/// Takes each gradient out, flattened, in visiting order.
struct Gather<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
    taken: Vec<(ParamId, usize)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Gather<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let n = g.shape().num_elements();
            self.parts.push(g.reshape([n]));
            self.taken.push((param.id, n));
        }
    }
}

/// Puts the averaged gradients back, in the same order, in their shapes.
struct Scatter<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    flat: &'a Tensor<B::InnerBackend, 1>,
    taken: &'a [(ParamId, usize)],
    next: usize,
    offset: usize,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scatter<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some(&(id, n)) = self.taken.get(self.next) else { return };
        if id != param.id {
            return;
        }
        let dims: [usize; D] = param.val().dims();
        let part = self.flat.clone().slice(self.offset..self.offset + n).reshape(dims);
        self.grads.register::<B::InnerBackend, D>(id, part);
        self.next += 1;
        self.offset += n;
    }
}
