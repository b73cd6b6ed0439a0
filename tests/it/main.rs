//! adaptsv's integration tests, one binary (one link) for speed. Each area is a module.

mod backbone;
mod cli;
mod config;
mod data;
mod engine;
mod eval_cli;
mod framework;
mod fuzz;
#[cfg(feature = "wgpu")]
mod gpu;
mod gui;
mod metrics;
mod model;
mod parallel;
mod pretrain;
mod runs;
mod scoring;
mod slurm;
mod sweep;
mod train;
