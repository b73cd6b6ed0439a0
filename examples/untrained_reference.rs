//! Writes a run folder whose checkpoint is the *untrained* model of an experiment config and evaluates it: the
//! chance-level reference point (frozen backbone, zero-initialised adapters, random head) that trained runs are
//! compared against in the Monitor and Compare tabs.
//!
//! `cargo run --example untrained_reference -- [CONFIG.toml]` (default: the built-in default experiment).

use adaptsv::config::ExperimentConfig;
use adaptsv::engine::checkpoint::{contents, file_name, save_frozen, save_model};
use adaptsv::engine::evaluate::evaluate_run;
use adaptsv::model::SpeakerModel;
use adaptsv::runs::{local_host, EndStatus, RunEvent, RunWriter};
use burn::backend::{Autodiff, Flex};

fn main() -> anyhow::Result<()> {
    let config = match std::env::args().nth(1) {
        Some(path) => ExperimentConfig::load(std::path::Path::new(&path))?,
        None => ExperimentConfig::builtin_default(),
    };
    let mut config = config;
    config.name = format!("{}-untrained", config.name);
    let speakers = config.data.synthetic.speakers;
    let device = Default::default();
    let valid = config.clone().into_valid().map_err(|p| anyhow::anyhow!("{}", p.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")))?;
    let model = SpeakerModel::<Autodiff<Flex>>::from_config(&valid, speakers, &device)?;
    let counts = adaptsv::model::count_params(&model);
    let mut run = RunWriter::create(&config.output_dir, &config)?;
    run.emit(RunEvent::Started {
        run_id: run.id().to_string(),
        device: "cpu".into(),
        host: local_host(),
        pid: std::process::id(),
        total_params: Some(counts.total as u64),
        trainable_params: Some(counts.trainable as u64),
    })?;
    save_frozen(&model, &config, &run.checkpoints_dir())?;
    let rel = format!("checkpoints/{}", file_name(0));
    let bytes = save_model(&model, &config, &run.dir().join(&rel), 0)?;
    run.emit(RunEvent::Checkpoint {
        step: 0,
        path: rel,
        bytes,
        contents: contents(&config).into(),
    })?;
    let dir = run.dir().to_path_buf();
    run.end(EndStatus::Finished, "untrained reference: no training steps", Some(0))?;
    let outcome = evaluate_run(&dir, &Default::default(), adaptsv::device::DeviceChoice::Cpu, &mut |stage, done, total, _| {
        eprint!("\r{stage}: {done}/{total}   ")
    })?;
    eprintln!();
    println!(
        "{}: EER {:.2} % on {}",
        dir.display(),
        100.0 * outcome.result.metrics.eer.rate,
        outcome.trials.display()
    );
    Ok(())
}
