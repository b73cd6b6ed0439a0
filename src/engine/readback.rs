//! The one readback of an optimiser step.
//!
//! On a GPU every read of a tensor's value waits for the device to finish the work queued before it, so the
//! training loops keep their running figures on the device and read them back once per optimiser step, together:
//! the loss and accuracy summed over the step's micro-batches (pre-training: the masked loss, the correct and
//! masked frame counts and the whole loss), the squared global gradient norm (needed on the host for the
//! non-finite check and clipping), and, on the steps where they are due, the layer weights (`L + 1` floats).
//! Everything else a step emits (learning rates, throughput, margin) is known on the host. Outside the per-step
//! path, an epoch's end, a stop and an evaluation read what they need directly.

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;

/// Running per-step figures kept on the device: a `[K]` sum over micro-batches.
pub struct DeviceSums<B: Backend>(Option<Tensor<B, 1>>);

impl<B: Backend> Default for DeviceSums<B> {
    fn default() -> Self {
        Self(None)
    }
}

impl<B: Backend> DeviceSums<B> {
    /// Adds one micro-batch's figures, each `[1]` (no readback).
    pub fn add(&mut self, parts: Vec<Tensor<B, 1>>) {
        let t = Tensor::cat(parts, 0);
        self.0 = Some(match self.0.take() {
            Some(sum) => sum + t,
            None => t,
        });
    }

    pub(super) fn take(&mut self) -> Option<Tensor<B, 1>> {
        self.0.take()
    }
}

/// What the step's single readback brought to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct StepValues {
    /// The [`DeviceSums`] in the order added.
    pub sums: Vec<f64>,
    /// The global L2 norm of the gradients (0 without any; non-finite if any gradient is).
    pub grad_norm: f64,
    /// The extra values asked for (e.g. the layer weights), empty without.
    pub extra: Vec<f64>,
}

/// Reads `sums` (then cleared), the gradient norm of `model`'s parameters in `grads`, and `extra` in one transfer.
pub fn read_step<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
    sums: &mut DeviceSums<B::InnerBackend>,
    extra: Option<Tensor<B::InnerBackend, 1>>,
) -> StepValues {
    let sums = sums.take();
    let n_sums = sums.as_ref().map_or(0, |t| t.dims()[0]);
    let norm_sq = super::optim::global_grad_norm_sq::<B, M>(model, grads);
    let has_norm = norm_sq.is_some();
    let parts: Vec<Tensor<B::InnerBackend, 1>> = sums.into_iter().chain(norm_sq).chain(extra).collect();
    let values: Vec<f64> = if parts.is_empty() {
        Vec::new()
    } else {
        Tensor::cat(parts, 0).into_data().convert::<f64>().into_vec::<f64>().unwrap_or_default()
    };
    let (sums, rest) = values.split_at(n_sums.min(values.len()));
    // No gradient at all: a norm of 0.
    let (norm_sq, extra) = match rest.split_first() {
        Some((n, extra)) if has_norm => (*n, extra),
        _ => (0.0, rest),
    };
    StepValues {
        sums: sums.to_vec(),
        grad_norm: norm_sq.sqrt(),
        extra: extra.to_vec(),
    }
}
