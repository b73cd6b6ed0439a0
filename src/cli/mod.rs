//! The command line: `adaptsv` with no arguments opens the GUI; each subcommand is the headless twin of a GUI
//! action, sharing its engine and run-folder format, so the same config runs on a server with no display.

mod bench_cmd;
mod calibrate_cmd;
mod compare_cmd;
mod config_cmd;
mod devices_cmd;
mod embed_cmd;
mod eval_cmd;
pub mod features;
mod gui_cmd;
mod interrupt;
pub mod metrics;
mod note_cmd;
pub mod params_cmd;
mod runs_cmd;
pub mod synth;
mod sweep_cmd;
mod train_cmd;

use clap::{Parser, Subcommand};

pub use interrupt::EXIT_STOPPED;

/// A command whose run (or sweep) was stopped before its end and can be continued: `main` prints it and exits
/// with [`EXIT_STOPPED`], so a batch script (or a shell loop) can tell "stopped, resume me" from "failed".
#[derive(Debug)]
pub struct Stopped(pub String);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stopped {}

/// adaptsv: adapt self-supervised speech models (WavLM, HuBERT, wav2vec 2.0) to speaker verification with
/// adapters, and compare against fine-tuning and other PETL methods.
///
/// With no subcommand, opens the desktop app on the built-in default experiment.
#[derive(Debug, Parser)]
#[command(name = "adaptsv", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop app (the default when no subcommand is given).
    Gui(gui_cmd::GuiArgs),
    /// Train an experiment (the GUI's Launch), or resume a stopped or crashed run.
    Train(train_cmd::TrainArgs),
    /// Pre-train a backbone (HuBERT-style masked prediction of MFCC or log-mel clusters; a config with `[pretrain]`),
    /// writing it as a HuggingFace folder; resume with `--resume DIR`.
    Pretrain(train_cmd::TrainArgs),
    /// List run folders with their status and headline figures.
    Runs(runs_cmd::RunsArgs),
    /// Tag runs and write a note on them (as the app's Monitor does); with no edit, print their tags and note.
    Note(note_cmd::NoteArgs),
    /// Compare runs grouped by everything except chosen config keys (default: seed): n, mean ± std, min–max.
    Compare(compare_cmd::CompareArgs),
    /// Calibrate scores into log-likelihood ratios on a held-out list: scale, offset, Cllr before / after, min
    /// Cllr, Bayes thresholds.
    Calibrate(calibrate_cmd::CalibrateArgs),
    /// List the devices this machine has (CPU, each wgpu adapter, each CUDA device) and whether each works.
    Devices(devices_cmd::DevicesArgs),
    /// Check or print experiment configs.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Compute EER, minDCF and counts from a score file (`enroll test score label`).
    Metrics(metrics::MetricsArgs),
    /// Score a trial list and compute EER / minDCF (a trained run, or a model-free baseline embedder).
    Eval(eval_cmd::EvalArgs),
    /// Speaker embeddings of a corpus folder or of audio files with a trained run, as safetensors or CSV.
    Embed(embed_cmd::EmbedArgs),
    /// Write every hidden state of an SSL model for a WAV file (like s3prl's upstream extraction).
    Features(features::FeaturesArgs),
    /// Count parameters per group (backbone, adapters, aggregation, head, classifier) and what trains.
    Params(params_cmd::ParamsArgs),
    /// Write the built-in synthetic speaker corpus as a VoxCeleb-style folder plus a trial list.
    Synth(synth::SynthArgs),
    /// Run a sweep (a base config and what to vary) one run after another, resumable; prints a summary table.
    Sweep(sweep_cmd::SweepArgs),
    /// Time training steps (full fine-tuning, frozen, inner+inter adapters, LoRA) and embedding extraction of a
    /// real-size backbone, with peak memory; compare with PyTorch via benches/pytorch/compare.py.
    Bench(bench_cmd::BenchArgs),
}

/// Runs the parsed command line. Errors are reported once, by `main`.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => gui_cmd::run(&gui_cmd::GuiArgs::default()),
        Some(Command::Gui(args)) => gui_cmd::run(&args),
        Some(Command::Train(args)) => train_cmd::run(&args),
        Some(Command::Pretrain(args)) => train_cmd::run_pretrain(&args),
        Some(Command::Runs(args)) => runs_cmd::run(&args),
        Some(Command::Note(args)) => note_cmd::run(&args),
        Some(Command::Compare(args)) => compare_cmd::run(&args),
        Some(Command::Calibrate(args)) => calibrate_cmd::run(&args),
        Some(Command::Devices(args)) => devices_cmd::run(&args),
        Some(Command::Config(cmd)) => config_cmd::run(&cmd),
        Some(Command::Metrics(args)) => metrics::run(&args),
        Some(Command::Synth(args)) => synth::run(&args),
        Some(Command::Eval(args)) => eval_cmd::run(&args),
        Some(Command::Embed(args)) => embed_cmd::run(&args),
        Some(Command::Params(args)) => params_cmd::run(&args),
        Some(Command::Features(args)) => features::run(&args),
        Some(Command::Sweep(args)) => sweep_cmd::run(&args),
        Some(Command::Bench(args)) => bench_cmd::run(&args),
    }
}

/// A `--device` value: `cpu`, `wgpu:N` or `cuda:N`.
pub(crate) fn device_arg(text: &str) -> Result<crate::device::DeviceChoice, String> {
    crate::device::DeviceChoice::parse(text)
}
