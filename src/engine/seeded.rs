//! Seeded model construction: a run's seed alone decides its initial weights.
//!
//! Burn's CPU backend keeps one random generator for the whole process (`Backend::seed` replaces it), and most
//! parameters draw their initial values lazily, at first use. Two runs starting in one process (the GUI's queue,
//! a sweep, the test suite) would otherwise interleave their draws between one run's `seed` and its first forward
//! pass, and a run's initial weights would depend on what else was running. The engine therefore builds every
//! model under [`init_lock`], and a fresh model initialises every parameter ([`init_every_param`]) before the lock
//! is released.

use std::sync::{Mutex, MutexGuard};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

static INIT: Mutex<()> = Mutex::new(());

/// Held while a model is seeded, built and initialised (or built and loaded). A panic while it was held poisons
/// nothing that matters: the guarded state is the backend's generator, which the next holder seeds again.
pub fn init_lock() -> MutexGuard<'static, ()> {
    INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Draws the initial value of every lazily initialised parameter of `module` now, in a fixed order.
pub fn init_every_param<B: Backend, M: Module<B>>(module: &M) {
    module.visit(&mut InitEveryParam);
}

struct InitEveryParam;

impl<B: Backend> ModuleVisitor<B> for InitEveryParam {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<B, D, Int>>) {
        let _ = param.val();
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<B, D, Bool>>) {
        let _ = param.val();
    }
}
