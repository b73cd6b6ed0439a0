//! The learning-rate schedule: linear warm-up, then constant, cosine or exponential decay, as one pure function
//! of the step (so a resumed run continues on exactly the same curve).
//!
//! Burn's own schedulers do not fit: its cosine restarts after its last step and its composed scheduler runs its
//! parts in parallel, not one after another.

use crate::config::{OptimConfig, Schedule};

/// Multiplier of every group's base learning rate at a given step.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    pub kind: Schedule,
    pub warmup_steps: u64,
    pub total_steps: u64,
    /// Final multiplier of the decay.
    pub min_ratio: f64,
}

impl LrSchedule {
    pub fn new(optim: &OptimConfig, total_steps: u64) -> Self {
        Self {
            kind: optim.schedule,
            warmup_steps: optim.warmup_steps as u64,
            total_steps: total_steps.max(1),
            min_ratio: optim.min_lr_ratio,
        }
    }

    /// The multiplier for the update of step `step` (0-based): warm-up rises linearly to 1 at step
    /// `warmup_steps - 1`; the decay then goes from 1 to `min_ratio` at the last step and stays there.
    pub fn factor(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).saturating_sub(1);
        let p = if span == 0 {
            1.0
        } else {
            ((step - self.warmup_steps) as f64 / span as f64).min(1.0)
        };
        match self.kind {
            Schedule::Constant => 1.0,
            Schedule::WarmupCosine => {
                self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
            Schedule::WarmupExponential => self.min_ratio.max(f64::MIN_POSITIVE).powf(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: Schedule) -> LrSchedule {
        LrSchedule {
            kind,
            warmup_steps: 10,
            total_steps: 110,
            min_ratio: 0.01,
        }
    }

    #[test]
    fn warm_up_then_decay_to_the_floor_without_restarting() {
        for kind in [Schedule::WarmupCosine, Schedule::WarmupExponential] {
            let s = schedule(kind);
            assert!((s.factor(0) - 0.1).abs() < 1e-12);
            assert!((s.factor(9) - 1.0).abs() < 1e-12);
            assert!((s.factor(10) - 1.0).abs() < 1e-12, "{kind:?}");
            let mut last = 1.0;
            for step in 11..110 {
                let f = s.factor(step);
                assert!(f <= last + 1e-12, "{kind:?} rises at {step}");
                last = f;
            }
            assert!((s.factor(109) - 0.01).abs() < 1e-9, "{kind:?}: {}", s.factor(109));
            assert!((s.factor(500) - 0.01).abs() < 1e-9, "{kind:?} restarts after its end");
        }
        assert_eq!(schedule(Schedule::Constant).factor(80), 1.0);
    }
}
