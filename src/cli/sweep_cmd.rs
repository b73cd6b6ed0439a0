//! `adaptsv sweep FILE`: a base experiment and what to vary, run one after another (the CLI's run queue), with
//! one summary table at the end (Markdown on stdout, CSV beside the sweep's state). Interrupted (Ctrl-C, a
//! crash), it continues where it stopped when run again: finished runs are kept, a stopped or crashed run is
//! resumed from its checkpoint, the others are launched.
//!
//! On a Slurm cluster: `--slurm` submits the unfinished runs as one job array (`crate::slurm::submit_sweep`),
//! `--status` shows each run's scheduler state beside its own (`--wait`: until no job is pending or running,
//! then the summary), `--cancel` cancels the sweep's jobs.

use super::train_cmd::follow;
use crate::engine::Engine;
use crate::runs::{load_dir, EndStatus, RunStatus};
use crate::sweep::{summary_csv, summary_markdown, Sweep, SweepRun, SweepState, SummaryRow};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Submit the unfinished runs to Slurm as one job array (the base config's `[slurm]` table) instead of
    /// running them here; prints the array's job id.
    #[arg(long, conflicts_with_all = ["status", "cancel", "dry_run", "json"])]
    pub slurm: bool,
    /// Show each run's status and its Slurm job's state, then the summary.
    #[arg(long, conflicts_with_all = ["cancel", "dry_run", "json"])]
    pub status: bool,
    /// With --status: wait until none of the sweep's jobs is pending or running.
    #[arg(long, requires = "status")]
    pub wait: bool,
    /// Cancel the sweep's pending and running Slurm jobs (running runs stop cleanly with a checkpoint).
    #[arg(long, conflicts_with_all = ["dry_run", "json"])]
    pub cancel: bool,
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
    if args.slurm {
        return submit(args, &sweep, &runs, &state_dir);
    }
    if args.cancel {
        let state = SweepState::load(&state_dir)?;
        let dirs: Vec<PathBuf> = runs.iter().filter_map(|r| state.runs.get(&r.name).cloned()).collect();
        let cancelled = crate::slurm::cancel(&dirs)?;
        match cancelled.is_empty() {
            true => eprintln!("no job of sweep {} is pending or running", sweep.name),
            false => eprintln!("cancelled {}: running runs stop after their step", cancelled.join(" ")),
        }
        return Ok(());
    }
    if args.status {
        return status(&runs, &state_dir, args.wait);
    }
    run_here(args, &sweep, &runs, &state_dir)
}

fn run_here(args: &SweepArgs, sweep: &Sweep, runs: &[SweepRun], state_dir: &Path) -> anyhow::Result<()> {
    let mut state = SweepState::load(state_dir)?;
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
            Some((RunStatus::Stopped | RunStatus::Crashed | RunStatus::Queued, dir)) => {
                eprintln!("[{}/{}] {}: continuing {}", i + 1, runs.len(), r.name, dir.display());
                Engine::resume(&dir).with_context(|| format!("cannot resume {}", dir.display()))?
            }
            None => {
                let handle = Engine::launch(r.config.clone()).with_context(|| format!("cannot launch {}", r.name))?;
                eprintln!("[{}/{}] {}: {}", i + 1, runs.len(), r.name, handle.dir.display());
                state.runs.insert(r.name.clone(), handle.dir.clone());
                state.save(state_dir)?;
                handle
            }
        };
        let ended = follow(handle, args.json)?;
        if ended.status == EndStatus::Failed {
            eprintln!("{} failed: {} (the sweep goes on)", r.name, ended.message);
        }
    }
    write_summary(runs, &state, state_dir)?;
    if super::interrupt::interrupted() {
        return Err(super::Stopped(format!(
            "interrupted: run `adaptsv sweep {}` again to continue",
            args.file.display()
        ))
        .into());
    }
    Ok(())
}

/// Prints the summary table and writes `summary.csv` into the state folder.
fn write_summary(runs: &[SweepRun], state: &SweepState, state_dir: &Path) -> anyhow::Result<()> {
    let rows: Vec<SummaryRow> = runs
        .iter()
        .filter_map(|r| state.runs.get(&r.name).map(|d| SummaryRow::of(&r.name, &load_dir(d))))
        .collect();
    let csv_path = state_dir.join("summary.csv");
    crate::runs::write_atomic(&csv_path, summary_csv(&rows).as_bytes())
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    println!("{}", summary_markdown(&rows));
    eprintln!("summary: {}", csv_path.display());
    Ok(())
}

fn submit(args: &SweepArgs, sweep: &Sweep, runs: &[SweepRun], state_dir: &Path) -> anyhow::Result<()> {
    let Some(first) = runs.first() else { bail!("sweep {} has no run", sweep.name) };
    if let Some(r) = runs.iter().find(|r| r.config.slurm != first.config.slurm) {
        bail!(
            "run {} has other [slurm] settings than {}: a sweep is one job array, so slurm.* cannot vary",
            r.name,
            first.name
        );
    }
    let settings = first.config.slurm.clone().unwrap_or_default();
    let by = format!("`adaptsv sweep {} --slurm`", args.file.display());
    let done = crate::slurm::submit_sweep(&sweep.name, runs, state_dir, &settings, &by)?;
    for (name, why) in &done.left {
        eprintln!("{name}: {why}; not submitted");
    }
    match (&done.job_id, &done.script) {
        (Some(id), Some(script)) => {
            println!("{id}");
            eprintln!(
                "submitted job array {id}: {} run(s); batch script {}",
                done.tasks.len(),
                script.display()
            );
            for (i, (name, dir)) in done.tasks.iter().enumerate() {
                eprintln!("  task {i}: {name} ({})", dir.display());
            }
            eprintln!("follow it with `adaptsv sweep {} --status`", args.file.display());
        }
        _ => eprintln!("nothing to submit: every run has finished, failed, or is queued or running"),
    }
    Ok(())
}

fn status(runs: &[SweepRun], state_dir: &Path, wait: bool) -> anyhow::Result<()> {
    let state = SweepState::load(state_dir)?;
    let dirs: Vec<PathBuf> = runs.iter().filter_map(|r| state.runs.get(&r.name).cloned()).collect();
    let mut last_table = String::new();
    loop {
        let jobs = crate::slurm::job_states(&dirs);
        let mut rows = vec![["RUN".to_string(), "STATUS".into(), "STEPS".into(), "EER %".into(), "SLURM JOB".into(), "SCHEDULER".into()]];
        let mut active = 0;
        for r in runs {
            let Some(dir) = state.runs.get(&r.name) else {
                rows.push([r.name.clone(), "not submitted".into(), "-".into(), "-".into(), "-".into(), "-".into()]);
                continue;
            };
            let run = load_dir(dir);
            let (job, scheduler) = match jobs.get(dir) {
                Some((record, Some(s))) => {
                    active += usize::from(s.is_active());
                    (record.slurm_id(), s.describe())
                }
                Some((record, None)) => (record.slurm_id(), "no longer known to Slurm".into()),
                None => ("-".into(), "-".into()),
            };
            rows.push([
                r.name.clone(),
                run.status.to_string(),
                run.summary.steps.to_string(),
                run.summary.eer.map_or("-".into(), |e| format!("{:.2}", 100.0 * e)),
                job,
                scheduler,
            ]);
        }
        let table = super::runs_cmd::align(&rows);
        if !wait || table != last_table {
            println!("{table}\n");
        }
        if !wait || active == 0 {
            break;
        }
        last_table = table;
        std::thread::sleep(Duration::from_secs(5));
    }
    write_summary(runs, &state, state_dir)
}
