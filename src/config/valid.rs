//! [`ValidConfig`]: an [`ExperimentConfig`] that has passed every launch check, so the engine and the model take
//! its values as they are instead of checking them again.
//!
//! The only way to make one is [`ExperimentConfig::into_valid`], which runs
//! [`ExperimentConfig::launch_problems`] (the semantic rules of `validate` and, for a checkpoint backbone, its conv
//! stack's minimum audio lengths). It reads as the config it wraps (`Deref`); it cannot be changed, so what was
//! checked stays true. A value such as `optim.batch_size >= 2`, `optim.grad_accum_steps >= 1` or
//! `parallel.nodes >= 1` is therefore relied on downstream, never clamped or re-checked there.

use super::{ConfigProblem, ExperimentConfig};
use std::ops::Deref;

/// An experiment config that passed [`ExperimentConfig::launch_problems`] with no problem.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig(ExperimentConfig);

impl ExperimentConfig {
    /// This config, checked once for launch: every problem (key, value, why) or a [`ValidConfig`].
    pub fn into_valid(self) -> Result<ValidConfig, Vec<ConfigProblem>> {
        let problems = self.launch_problems();
        if problems.is_empty() {
            Ok(ValidConfig(self))
        } else {
            Err(problems)
        }
    }
}

impl ValidConfig {
    /// The checked config, to edit into a new one (which must be checked again).
    pub fn into_inner(self) -> ExperimentConfig {
        self.0
    }
}

impl Deref for ValidConfig {
    type Target = ExperimentConfig;

    fn deref(&self) -> &ExperimentConfig {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_config_without_problems_becomes_valid() {
        let config = ExperimentConfig::builtin_default();
        let valid = config.clone().into_valid().expect("the default is valid");
        assert_eq!(*valid, config);
        let mut bad = config;
        bad.optim.batch_size = 0;
        bad.adaptation.inner.bottleneck = 0;
        let problems = bad.into_valid().unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"optim.batch_size") && keys.contains(&"adaptation.inner.bottleneck"), "{keys:?}");
    }
}
