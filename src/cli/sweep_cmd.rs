//! `adaptsv sweep FILE`: a base experiment and what to vary, run one after another (the CLI's run queue), with
//! one summary table at the end (Markdown on stdout, CSV beside the sweep's state). Interrupted (Ctrl-C, a
//! crash), it continues where it stopped when run again: finished runs are kept, a stopped or crashed run is
//! resumed from its checkpoint, the others are launched.

use super::train_cmd::follow;
use crate::engine::Engine;
use crate::runs::{load_dir, EndStatus, RunStatus};
use crate::sweep::{summary_csv, summary_markdown, Sweep, SweepState, SummaryRow};
use anyhow::{bail, Context};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// The sweep file (TOML: `[sweep]` name and base config, `[axes]`, `[[variant]]`).
    pub file: PathBuf,
    /// Where the sweep keeps its state and summary (default: `experiments/sweeps/<name>`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Write the runs under this folder instead of the base config's `output_dir`.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// List the runs the sweep expands to, without training.
    #[arg(long)]
    pub dry_run: bool,
    /// Print every event as a JSON line instead of progress bars.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &SweepArgs) -> anyhow::Result<()> {
    let sweep = Sweep::load(&args.file)?;
    let mut runs = sweep.expand()?;
    if let Some(dir) = &args.output_dir {
        for r in &mut runs {
            r.config.output_dir = dir.clone();
        }
    }
    if args.dry_run {
        for r in &runs {
            println!("{}\t{}", r.name, crate::config::describe(&r.config));
        }
        return Ok(());
    }
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("experiments/sweeps").join(&sweep.name));
    let mut state = SweepState::load(&state_dir)?;
    eprintln!("sweep {}: {} runs; state in {}", sweep.name, runs.len(), state_dir.display());
    for (i, r) in runs.iter().enumerate() {
        if super::interrupt::interrupted() {
            break;
        }
        let known = state.runs.get(&r.name).cloned();
        let handle = match known.map(|d| (load_dir(&d).status, d)) {
            Some((RunStatus::Finished, dir)) => {
                eprintln!("[{}/{}] {}: finished before ({})", i + 1, runs.len(), r.name, dir.display());
                continue;
            }
            Some((RunStatus::Failed, dir)) => {
                eprintln!("[{}/{}] {}: failed before, left as is ({})", i + 1, runs.len(), r.name, dir.display());
                continue;
            }
            Some((RunStatus::Running, dir)) => {
                bail!("{} is running in another process: is this sweep already running?", dir.display())
            }
            Some((RunStatus::Stopped | RunStatus::Crashed, dir)) => {
                eprintln!("[{}/{}] {}: continuing {}", i + 1, runs.len(), r.name, dir.display());
                Engine::resume(&dir).with_context(|| format!("cannot resume {}", dir.display()))?
            }
            None => {
                let handle = Engine::launch(r.config.clone()).with_context(|| format!("cannot launch {}", r.name))?;
                eprintln!("[{}/{}] {}: {}", i + 1, runs.len(), r.name, handle.dir.display());
                state.runs.insert(r.name.clone(), handle.dir.clone());
                state.save(&state_dir)?;
                handle
            }
        };
        let ended = follow(handle, args.json)?;
        if ended.status == EndStatus::Failed {
            eprintln!("{} failed: {} (the sweep goes on)", r.name, ended.message);
        }
    }
    let rows: Vec<SummaryRow> = runs
        .iter()
        .filter_map(|r| state.runs.get(&r.name).map(|d| SummaryRow::of(&r.name, &load_dir(d))))
        .collect();
    let csv_path = state_dir.join("summary.csv");
    crate::runs::write_atomic(&csv_path, summary_csv(&rows).as_bytes())
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    println!("{}", summary_markdown(&rows));
    eprintln!("summary: {}", csv_path.display());
    if super::interrupt::interrupted() {
        eprintln!("interrupted: run `adaptsv sweep {}` again to continue", args.file.display());
    }
    Ok(())
}
