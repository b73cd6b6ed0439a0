//! Submitting to Slurm, shared by the CLI (`adaptsv train --slurm`, `adaptsv sweep --slurm`) and the app: make
//! the run folders (queued), write the batch script beside them, `sbatch` it, record the job in each folder. And
//! the other way: the scheduler states of a set of run folders, from their records.

use super::jobs::{JobRecord, JobState};
use super::scheduler::Scheduler;
use super::script::{render, BatchJob};
use crate::config::{ExperimentConfig, SlurmConfig};
use crate::runs::{load_dir, RunStatus, RunWriter, Utc};
use crate::sweep::{SweepRun, SweepState};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The batch script of a submitted run, in its folder.
pub const RUN_SCRIPT: &str = "job.sbatch";
/// The batch script of a sweep's latest submission, in its state folder (task outputs in `slurm/`).
pub const SWEEP_SCRIPT: &str = "sweep.sbatch";

/// A run submitted as one job: its folder (queued) and job id.
#[derive(Debug, Clone)]
pub struct RunSubmission {
    pub dir: PathBuf,
    pub job_id: String,
    pub script: PathBuf,
}

/// What a sweep submission did.
#[derive(Debug, Clone, Default)]
pub struct SweepSubmission {
    /// The job array's id; `None` when every run was finished, failed or already queued or running.
    pub job_id: Option<String>,
    pub script: Option<PathBuf>,
    /// Task i runs `tasks[i]` (run name, folder).
    pub tasks: Vec<(String, PathBuf)>,
    /// Runs left out, with why (`finished`, `queued as job 12_3`…).
    pub left: Vec<(String, String)>,
}

fn program(settings: &SlurmConfig) -> anyhow::Result<PathBuf> {
    if settings.program.is_empty() {
        std::env::current_exe().context("cannot tell which adaptsv program this is; set slurm.program")
    } else {
        Ok(PathBuf::from(&settings.program))
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot make {} absolute", p.display()))
}

/// Every problem of a config that would go to a node, so nothing is submitted that would fail there at once.
fn check(config: &ExperimentConfig, what: &str) -> anyhow::Result<()> {
    let problems = config.launch_problems();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        bail!("{what}: {} problem(s):\n{}", problems.len(), text.join("\n"));
    }
    Ok(())
}

fn write_script(path: &Path, text: &str) -> anyhow::Result<()> {
    crate::runs::write_atomic(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// Submits one run as one job; `submitted_by` names the command or button for the script's header.
pub fn submit_run(config: &ExperimentConfig, submitted_by: &str) -> anyhow::Result<RunSubmission> {
    check(config, &format!("config {:?}", config.name))?;
    let dir = absolute(&RunWriter::prepare(&config.output_dir, config)?)?;
    let (job_id, script) = submit_folder(&dir, config, submitted_by).inspect_err(|_| {
        // Not submitted, and the folder holds nothing but the config yet: leave no orphan behind.
        let _ = std::fs::remove_dir_all(&dir);
    })?;
    record_job(&dir, &job_id, None, &script, config.slurm.as_ref().map_or("", |s| s.prefix.as_str()))?;
    Ok(RunSubmission { dir, job_id, script })
}

/// Submits an existing run folder again as one job (a run stopped by a time limit without `requeue`, cancelled,
/// crashed, or run here before), with the `[slurm]` settings of its `config.toml`: the job resumes it from its
/// newest checkpoint. Refused for a finished or running run and for one whose job is still pending or running.
pub fn resubmit_run(dir: &Path, submitted_by: &str) -> anyhow::Result<RunSubmission> {
    let dir = absolute(dir)?;
    let run = load_dir(&dir);
    let Some(config) = run.config.clone() else {
        bail!("{}: its config.toml is unreadable", dir.display());
    };
    match run.status {
        RunStatus::Finished => bail!("{} has finished: launch a new run to train more", dir.display()),
        RunStatus::Running => bail!("{} is running", dir.display()),
        _ => {}
    }
    if let Some((record, Some(state))) = job_states(std::slice::from_ref(&dir)).remove(&dir) {
        if state.is_active() {
            bail!("{}: its job {} is {}", dir.display(), record.slurm_id(), state.describe());
        }
    }
    let (job_id, script) = submit_folder(&dir, &config, submitted_by)?;
    record_job(&dir, &job_id, None, &script, config.slurm.as_ref().map_or("", |s| s.prefix.as_str()))?;
    Ok(RunSubmission { dir, job_id, script })
}

/// Writes `job.sbatch` into the run folder `dir` (absolute) and submits it as one job: its id and the script.
fn submit_folder(dir: &Path, config: &ExperimentConfig, submitted_by: &str) -> anyhow::Result<(String, PathBuf)> {
    let settings = config.slurm.clone().unwrap_or_default();
    let script = dir.join(RUN_SCRIPT);
    let job = BatchJob {
        name: format!("adaptsv-{}", config.name),
        runs: vec![dir.to_path_buf()],
        workdir: absolute(Path::new("."))?,
        output: dir.join("slurm-%j.out"),
        program: program(&settings)?,
        submitted_by: submitted_by.to_string(),
        nodes: config.parallel.as_ref().filter(|p| p.nodes > 1).map(|p| (p.nodes, p.port)),
    };
    write_script(&script, &render(&settings, &job))?;
    let job_id = Scheduler::new(&settings.prefix).submit(&script)?;
    Ok((job_id, script))
}

fn record_job(dir: &Path, job_id: &str, task: Option<u32>, script: &Path, prefix: &str) -> anyhow::Result<()> {
    JobRecord {
        job_id: job_id.to_string(),
        task,
        script: script.to_path_buf(),
        submitted_utc: Utc::now().rfc3339(),
        prefix: prefix.to_string(),
    }
    .write(dir)
    .with_context(|| format!("job {job_id} is submitted, but its record in {} could not be written", dir.display()))
}

/// Submits the unfinished runs of a sweep as one job array: runs without a folder get one (queued), stopped
/// and crashed runs resume from their checkpoints, finished and failed runs are kept as they are, and a run
/// whose job is still pending or running is not submitted twice. `settings` are the base config's `[slurm]`.
pub fn submit_sweep(
    name: &str,
    runs: &[SweepRun],
    state_dir: &Path,
    settings: &SlurmConfig,
    submitted_by: &str,
) -> anyhow::Result<SweepSubmission> {
    for r in runs {
        check(&r.config, &format!("sweep run {}", r.name))?;
        if r.config.parallel.as_ref().is_some_and(|p| p.nodes > 1) {
            anyhow::bail!(
                "sweep run {}: parallel.nodes > 1, but a sweep's runs are one array task each, on one node; submit \
                 a run over several nodes on its own (`adaptsv train --slurm`)",
                r.name
            );
        }
    }
    let mut state = SweepState::load(state_dir)?;
    let known: Vec<PathBuf> = runs.iter().filter_map(|r| state.runs.get(&r.name).cloned()).collect();
    let live = job_states(&known);
    let mut out = SweepSubmission::default();
    for r in runs {
        let dir = match state.runs.get(&r.name) {
            None => {
                let dir = absolute(&RunWriter::prepare(&r.config.output_dir, &r.config)?)?;
                state.runs.insert(r.name.clone(), dir.clone());
                dir
            }
            Some(dir) => {
                let why = match load_dir(dir).status {
                    RunStatus::Finished => Some("finished".to_string()),
                    RunStatus::Failed => Some("failed before, left as is".to_string()),
                    RunStatus::Running => Some("running".to_string()),
                    _ => match live.get(dir) {
                        Some((record, Some(s))) if s.is_active() => {
                            Some(format!("job {} is {}", record.slurm_id(), s.describe()))
                        }
                        _ => None,
                    },
                };
                if let Some(why) = why {
                    out.left.push((r.name.clone(), why));
                    continue;
                }
                dir.clone()
            }
        };
        out.tasks.push((r.name.clone(), dir));
    }
    state.save(state_dir)?;
    if out.tasks.is_empty() {
        return Ok(out);
    }
    let state_dir = absolute(state_dir)?;
    let logs = state_dir.join("slurm");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let script = state_dir.join(SWEEP_SCRIPT);
    let array = out.tasks.len() > 1;
    let job = BatchJob {
        name: format!("adaptsv-{name}"),
        runs: out.tasks.iter().map(|(_, d)| d.clone()).collect(),
        workdir: absolute(Path::new("."))?,
        output: logs.join(if array { "%A_%a.out" } else { "%j.out" }),
        program: program(settings)?,
        submitted_by: submitted_by.to_string(),
        // A sweep's tasks are runs on one node each (`parallel.nodes` > 1 in a sweep is refused at submission).
        nodes: None,
    };
    write_script(&script, &render(settings, &job))?;
    let job_id = Scheduler::new(&settings.prefix).submit(&script)?;
    for (i, (_, dir)) in out.tasks.iter().enumerate() {
        record_job(dir, &job_id, array.then_some(i as u32), &script, &settings.prefix)?;
    }
    out.job_id = Some(job_id);
    out.script = Some(script);
    Ok(out)
}

/// The job record of each run folder that has one, with the job's state when Slurm still knows it (asked once
/// per job and prefix). Blocking: run it on a worker in the app.
pub fn job_states(dirs: &[PathBuf]) -> BTreeMap<PathBuf, (JobRecord, Option<JobState>)> {
    let records: Vec<(PathBuf, JobRecord)> =
        dirs.iter().filter_map(|d| JobRecord::read(d).map(|r| (d.clone(), r))).collect();
    let mut by_prefix: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, r) in &records {
        let ids = by_prefix.entry(r.prefix.clone()).or_default();
        if !ids.contains(&r.job_id) {
            ids.push(r.job_id.clone());
        }
    }
    let states: BTreeMap<String, _> =
        by_prefix.into_iter().map(|(prefix, ids)| (prefix.clone(), Scheduler::new(&prefix).states(&ids))).collect();
    records
        .into_iter()
        .map(|(dir, r)| {
            let state = states.get(&r.prefix).and_then(|s| s.get(&r.key())).cloned();
            (dir, (r, state))
        })
        .collect()
}

/// Cancels the pending or running jobs of these run folders; the Slurm ids cancelled.
pub fn cancel(dirs: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut by_prefix: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, (record, state)) in job_states(dirs) {
        if state.is_some_and(|s| s.is_active()) {
            by_prefix.entry(record.prefix.clone()).or_default().push(record.slurm_id());
        }
    }
    let mut cancelled = Vec::new();
    for (prefix, ids) in by_prefix {
        Scheduler::new(&prefix).cancel(&ids)?;
        cancelled.extend(ids);
    }
    Ok(cancelled)
}
