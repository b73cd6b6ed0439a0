//! adaptsv: a workbench for adapting self-supervised speech models (WavLM, HuBERT, wav2vec 2.0) to speaker
//! verification with parallel adapters, and for comparing that against fine-tuning and other PETL methods.
//!
//! The GUI and the CLI are two faces of one engine; both read and write the same run folders.
//!
//! | module   | job                                                                              |
//! |----------|----------------------------------------------------------------------------------|
//! | `config` | the experiment TOML → a validated [`config::ExperimentConfig`]                   |
//! | `data`   | corpora, trial lists, audio decode/resample, loader threads, augmentation, synthetic corpus |
//! | `device` | `cpu` / `wgpu:N` / `cuda:N`: guarded probes, the device list, backend dispatch   |
//! | `engine` | a run's life (launch, resume, the loop, data-parallel peers), checkpoints, evaluation  |
//! | `eval`   | EER, minDCF, DET, score files, cosine scoring, S-norm / AS-norm                  |
//! | `model`  | adapters, layer aggregation, speaker heads, margin losses, parameter accounting  |
//! | `runs`   | the run folder: event schema, writer, store (list/load/delete), status detection |
//! | `sweep`  | a base config and what to vary → the configs of its runs; resumable sweep state  |
//! | `slurm`  | runs and sweeps submitted to Slurm: batch script, sbatch / scontrol / scancel, job states |
//! | `gui`    | the eframe app: Configure / Monitor / Compare                                    |
//! | `cli`    | the clap command line, one subcommand per GUI action                             |
//!
//! See `ARCHITECTURE.md` for the data flow and the file formats.

pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod engine;
pub mod eval;
pub mod gui;
pub mod model;
pub mod runs;
pub mod slurm;
pub mod sweep;
