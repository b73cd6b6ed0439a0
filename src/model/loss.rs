//! Margin-based softmax losses for speaker classification during training, and the margin warm-up.
//!
//! Both compare the L2-normalised embedding `x̂` with L2-normalised class centres `ŵ_j` (the columns of a weight
//! `[E, n_classes]`), `cos θ_j = x̂ · ŵ_j`, change only the target class's logit, scale all logits by `s` and take
//! the mean cross-entropy:
//!
//! - AAM-softmax (ArcFace, Deng et al. 2019), as WeSpeaker's `ArcMarginProduct` (`wespeaker/models/projections.py`):
//!   target logit `cos(θ + m) = cos θ cos m − sin θ sin m`. Where `θ + m` would pass π (`cos θ ≤ th = cos(π − m)`)
//!   it uses `cos θ − (1 + cos(π − m))` instead (WeSpeaker's current `mmm` fallback, continuous at `th`); with
//!   `easy_margin` it keeps `cos θ` wherever `cos θ ≤ 0`.
//! - AM-softmax (CosFace, Wang et al. 2018), as WeSpeaker's `AddMarginProduct`: target logit `cos θ − m`.
//!
//! With `m = 0` both are the normalised-softmax cross-entropy on `s · cos θ`. The margin is a plain number, changed
//! between steps with [`MarginSoftmax::set_margin`] following [`margin_at`].

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::config::{LossConfig, LossKind};
use crate::model::error::{positive, ModelError};

/// `F.normalize`'s epsilon.
const NORM_EPS: f64 = 1e-12;

/// Builds a [`MarginSoftmax`].
#[derive(Config, Debug)]
pub struct MarginSoftmaxConfig {
    /// Embedding size `E`.
    pub embedding_dim: usize,
    /// Number of training speakers.
    pub num_classes: usize,
    #[config(default = "LossKind::AamSoftmax")]
    pub kind: LossKind,
    /// Margin at construction: radians for AAM, cosine units for AM.
    #[config(default = 0.2)]
    pub margin: f64,
    /// Logit scale `s`.
    #[config(default = 30.0)]
    pub scale: f64,
    /// AAM only: ArcFace's "easy margin" (no margin where `cos θ ≤ 0`).
    #[config(default = false)]
    pub easy_margin: bool,
}

impl MarginSoftmaxConfig {
    /// From the `[loss]` table. The margin starts at 0 when `margin_warmup_epochs > 0` (raise it with
    /// [`MarginSoftmax::set_margin`] and [`margin_at`]), else at `loss.margin`.
    pub fn from_experiment(loss: &LossConfig, embedding_dim: usize, num_classes: usize) -> Self {
        let margin = margin_at(0.0, loss.margin_warmup_epochs, loss.margin);
        Self::new(embedding_dim, num_classes)
            .with_kind(loss.kind)
            .with_margin(margin)
            .with_scale(loss.scale)
    }

    /// Class centres drawn Xavier-uniform, as upstream.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<MarginSoftmax<B>, ModelError> {
        let e = positive("head.embedding_dim", self.embedding_dim)?;
        let c = positive("number of training speakers", self.num_classes)?;
        check_margin(self.kind, self.margin)?;
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(ModelError::BadScale { scale: self.scale });
        }
        Ok(MarginSoftmax {
            weight: Initializer::XavierUniform { gain: 1.0 }.init_with([e, c], Some(e), Some(c), device),
            kind: self.kind,
            margin: self.margin,
            scale: self.scale,
            easy_margin: self.easy_margin,
        })
    }
}

/// The largest margin each loss accepts (exclusive).
fn max_margin(kind: LossKind) -> (f64, &'static str) {
    match kind {
        LossKind::AamSoftmax => (std::f64::consts::FRAC_PI_2, "aam-softmax (radians)"),
        LossKind::AmSoftmax => (2.0, "am-softmax (cosine units)"),
    }
}

fn check_margin(kind: LossKind, margin: f64) -> Result<(), ModelError> {
    let (max, name) = max_margin(kind);
    if margin.is_finite() && (0.0..max).contains(&margin) {
        Ok(())
    } else {
        Err(ModelError::MarginOutOfRange {
            margin,
            max,
            kind: name,
        })
    }
}

/// Class centres and the margin rule; see the module docs.
#[derive(Module, Debug)]
pub struct MarginSoftmax<B: Backend> {
    /// Class centres as columns, `[E, n_classes]` (WeSpeaker stores the transpose).
    pub weight: Param<Tensor<B, 2>>,
    pub kind: LossKind,
    pub margin: f64,
    pub scale: f64,
    pub easy_margin: bool,
}

/// What [`MarginSoftmax::forward`] returns.
#[derive(Debug, Clone)]
pub struct MarginSoftmaxOutput<B: Backend> {
    /// Mean cross-entropy, `[1]`, differentiable.
    pub loss: Tensor<B, 1>,
    /// Share of the batch whose most similar class centre (plain cosine, no margin) is the true one, `[1]`,
    /// detached. Reading it back (`into_scalar`) synchronises with the device, so do it only when logging.
    pub accuracy: Tensor<B, 1>,
    /// The scaled logits with the margin applied, `[B, n_classes]`.
    pub logits: Tensor<B, 2>,
}

impl<B: Backend> MarginSoftmax<B> {
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Changes the margin used from the next forward on (for the warm-up). Values the config would reject
    /// (negative, or ≥ π/2 for AAM) are clamped into range.
    pub fn set_margin(&mut self, margin: f64) {
        let (max, _) = max_margin(self.kind);
        self.margin = if margin.is_finite() {
            margin.clamp(0.0, max * (1.0 - 1e-9))
        } else {
            0.0
        };
    }

    /// `cos θ` between every embedding and every class centre: `embeddings` `[B, E]` → `[B, n_classes]`.
    pub fn cosine(&self, embeddings: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = l2_normalize(embeddings, 1);
        let w = l2_normalize(self.weight.val(), 0);
        x.matmul(w)
    }

    /// `embeddings` `[B, E]`, `labels` `[B]` (class indices `< n_classes`) → loss, accuracy and logits.
    ///
    /// Burn panics on a label `>= n_classes`; labels come from the loader's speaker index, built with the same
    /// `n_classes`, so that is a wiring bug rather than a user error.
    pub fn forward(&self, embeddings: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> MarginSoftmaxOutput<B> {
        let cosine = self.cosine(embeddings); // [B, C]
        let [batch, classes] = cosine.dims();
        let is_target = labels.clone().one_hot::<2>(classes).equal_elem(1); // [B, C]
        let m = self.margin;
        let target_logit = match self.kind {
            LossKind::AamSoftmax => {
                // sin θ; the clamp keeps the square root's gradient finite at |cos θ| = 1.
                let sine = (cosine.clone().square().neg().add_scalar(1.0))
                    .clamp(NORM_EPS, 1.0)
                    .sqrt();
                let phi = cosine.clone().mul_scalar(m.cos()) - sine.mul_scalar(m.sin());
                if self.easy_margin {
                    phi.mask_where(cosine.clone().lower_equal_elem(0.0), cosine.clone())
                } else {
                    let th = (std::f64::consts::PI - m).cos();
                    let mmm = 1.0 + (std::f64::consts::PI - m).cos();
                    phi.mask_where(cosine.clone().lower_equal_elem(th), cosine.clone().sub_scalar(mmm))
                }
            }
            LossKind::AmSoftmax => cosine.clone().sub_scalar(m),
        };
        let logits = cosine
            .clone()
            .mask_where(is_target, target_logit)
            .mul_scalar(self.scale);
        let target = labels.clone().reshape([batch, 1]);
        let loss = log_softmax(logits.clone(), 1).gather(1, target).mean().neg();
        let accuracy = cosine.detach().argmax(1).reshape([batch]).equal(labels).float().mean();
        MarginSoftmaxOutput { loss, accuracy, logits }
    }
}

/// `x / max(‖x‖₂, 1e-12)` along `dim`, as `F.normalize`.
fn l2_normalize<B: Backend>(x: Tensor<B, 2>, dim: usize) -> Tensor<B, 2> {
    let norm = x.clone().square().sum_dim(dim).sqrt().clamp_min(NORM_EPS);
    x / norm
}

/// The margin at (fractional) `epoch` under a linear warm-up: `final_margin · min(epoch / warmup_epochs, 1)`,
/// so 0 at epoch 0 and `final_margin` from `warmup_epochs` on. `warmup_epochs ≤ 0` (or not finite) means no
/// warm-up: always `final_margin`. WeSpeaker's `MarginScheduler` with `increase_type: linear` and
/// `increase_start_epoch = 0`, `fix_start_epoch = warmup_epochs`; call it every step with
/// `epoch = step / steps_per_epoch` for a smooth ramp.
pub fn margin_at(epoch: f64, warmup_epochs: f64, final_margin: f64) -> f64 {
    if !(warmup_epochs.is_finite() && warmup_epochs > 0.0) {
        return final_margin;
    }
    final_margin * (epoch / warmup_epochs).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_warmup_is_linear_then_flat() {
        assert_eq!(margin_at(0.0, 4.0, 0.2), 0.0);
        assert!((margin_at(1.0, 4.0, 0.2) - 0.05).abs() < 1e-12);
        assert!((margin_at(3.0, 4.0, 0.2) - 0.15).abs() < 1e-12);
        assert_eq!(margin_at(4.0, 4.0, 0.2), 0.2);
        assert_eq!(margin_at(9.5, 4.0, 0.2), 0.2);
        assert_eq!(margin_at(0.0, 0.0, 0.2), 0.2);
        assert_eq!(margin_at(-1.0, 4.0, 0.2), 0.0);
    }

    #[test]
    fn bad_margins_and_scales_are_rejected() {
        use burn::backend::Flex;
        let device = Default::default();
        let aam = MarginSoftmaxConfig::new(4, 3)
            .with_margin(2.0)
            .init::<Flex>(&device)
            .unwrap_err();
        assert!(aam.to_string().contains("loss.margin = 2"), "{aam}");
        let scale = MarginSoftmaxConfig::new(4, 3)
            .with_scale(0.0)
            .init::<Flex>(&device)
            .unwrap_err();
        assert!(scale.to_string().contains("loss.scale = 0"), "{scale}");
        let ok = MarginSoftmaxConfig::new(4, 3)
            .with_kind(LossKind::AmSoftmax)
            .with_margin(0.35)
            .init::<Flex>(&device);
        assert!(ok.is_ok());
    }
}
