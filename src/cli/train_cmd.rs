//! `adaptsv train`: the headless twin of the GUI's Launch button. Same engine, same run folder; a progress bar
//! with loss, throughput and ETA on stderr; the exit status says how the run ended.
//!
//! Ctrl-C, SIGTERM or SIGHUP ask the run to stop as the GUI's Stop does (finish the step, save a checkpoint, end
//! as `stopped`, exit status 75); `adaptsv train --resume DIR` continues it, or a crashed run, from its newest
//! checkpoint. `--slurm` submits the run to a Slurm cluster instead of training here (`crate::slurm`).

use crate::config::ExperimentConfig;
use crate::engine::{Engine, RunHandle};
use crate::runs::{EndStatus, LogLevel, RunEvent};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Experiment config (TOML). Default: the built-in default experiment.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Continue a stopped or crashed run from its newest checkpoint.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Write the run under this folder instead of the config's `output_dir`.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub output_dir: Option<PathBuf>,
    /// Print every event as a JSON line on stdout instead of drawing a progress bar.
    #[arg(long)]
    pub json: bool,
    /// Submit the run to a Slurm cluster (the config's `[slurm]` table) instead of training here: the run
    /// folder is made now (queued), the batch script written into it; prints the job id. With --resume: submit
    /// that run again, to continue from its newest checkpoint.
    #[arg(long, conflicts_with_all = ["json", "skip_finished"])]
    pub slurm: bool,
    /// With --resume: a run that has finished is reported and left as it is (exit 0), as the Slurm batch
    /// scripts ask, so a resubmitted job does no harm.
    #[arg(long, requires = "resume")]
    pub skip_finished: bool,
    /// Make the run folder (status `queued`) and print its path without training: start it with
    /// `--resume DIR`, on every node of a run over several nodes (`parallel.nodes`).
    #[arg(long, conflicts_with_all = ["resume", "slurm", "json"])]
    pub prepare: bool,
    /// With --resume: this process's rank in a run over several nodes (`parallel.nodes`; default:
    /// `SLURM_PROCID` under srun, else 0). Node 0 writes the run folder and starts the orchestrator.
    #[arg(long, value_name = "R", requires = "resume")]
    pub node_rank: Option<u32>,
}

/// `adaptsv pretrain`: the same command for configs with a `[pretrain]` table (refuses others, so a
/// pre-training command line never trains a speaker model by mistake).
pub fn run_pretrain(args: &TrainArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.config {
        let config = ExperimentConfig::load(path)?;
        if config.pretrain.is_none() {
            bail!(
                "{} has no [pretrain] table: it trains a speaker model (use `adaptsv train`); see \
                 experiments/pretrain-wavlm-mini.toml",
                path.display()
            );
        }
    } else if args.resume.is_none() {
        bail!("give --config FILE (a config with a [pretrain] table, e.g. experiments/pretrain-wavlm-mini.toml)");
    }
    run(args)
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    super::interrupt::install();
    let handle = match &args.resume {
        Some(dir) if args.slurm => {
            let by = format!("`adaptsv train --resume {} --slurm`", dir.display());
            let job = crate::slurm::resubmit_run(dir, &by)?;
            println!("{}", job.job_id);
            eprintln!("submitted job {} to continue {}", job.job_id, job.dir.display());
            return Ok(());
        }
        Some(dir) => {
            if args.skip_finished && crate::runs::load_dir(dir).status == crate::runs::RunStatus::Finished {
                eprintln!("{} has finished: nothing to do", dir.display());
                return Ok(());
            }
            let options = crate::engine::LaunchOptions {
                node_rank: args.node_rank,
                ..Default::default()
            };
            Engine::resume_with(dir, options).with_context(|| format!("cannot resume {}", dir.display()))?
        }
        None => {
            let mut config = match &args.config {
                Some(path) => ExperimentConfig::load(path)?,
                None => ExperimentConfig::builtin_default(),
            };
            if let Some(dir) = &args.output_dir {
                config.output_dir = dir.clone();
            }
            if args.slurm {
                return submit(&config);
            }
            if args.prepare {
                return prepare(&config);
            }
            Engine::launch(config)?
        }
    };
    eprintln!("run folder: {}", handle.dir.display());
    let outcome = follow(handle, args.json)?;
    match outcome.status {
        EndStatus::Finished => Ok(()),
        EndStatus::Stopped => Err(super::Stopped(format!(
            "stopped: resume with `adaptsv train --resume {}`",
            outcome.dir.display()
        ))
        .into()),
        EndStatus::Failed => bail!("the run failed: {}", outcome.message),
    }
}

/// `--prepare`: the run folder, validated and queued, for `--resume` to start (on each node).
fn prepare(config: &ExperimentConfig) -> anyhow::Result<()> {
    let problems = config.launch_problems();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        bail!("the config cannot run: {}", text.join("; "));
    }
    let dir = crate::runs::RunWriter::prepare(&config.output_dir, config)?;
    println!("{}", dir.display());
    Ok(())
}

fn submit(config: &ExperimentConfig) -> anyhow::Result<()> {
    let by = format!("`adaptsv train --slurm` ({})", config.name);
    let job = crate::slurm::submit_run(config, &by)?;
    println!("{}", job.job_id);
    eprintln!("submitted job {} for run folder {}", job.job_id, job.dir.display());
    eprintln!("batch script: {}", job.script.display());
    eprintln!("follow it with `adaptsv runs` (scheduler state beside the run's), or in the app's Monitor");
    Ok(())
}

/// Follows a run to its end: a progress bar on stderr, or (`json`) every event as a line on stdout; Ctrl-C
/// stops it cleanly.
pub(crate) fn follow(handle: RunHandle, json: bool) -> anyhow::Result<Ended> {
    super::interrupt::follow(&handle);
    if json {
        print_json(handle)
    } else {
        Ok(show_progress(handle))
    }
}

/// The end of a run as this command reports it.
pub(crate) struct Ended {
    pub status: EndStatus,
    pub message: String,
    pub dir: PathBuf,
}

impl Ended {
    /// Waits for the run's thread (its event channel has closed).
    fn of(handle: RunHandle) -> Self {
        let dir = handle.dir.clone();
        let o = handle.join();
        Self {
            status: o.status,
            message: o.message,
            dir,
        }
    }
}

fn print_json(handle: RunHandle) -> anyhow::Result<Ended> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    for rec in handle.events().iter() {
        writeln!(stdout, "{}", serde_json::to_string(&rec)?)?;
    }
    Ok(Ended::of(handle))
}

fn show_progress(handle: RunHandle) -> Ended {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut last_eer = String::new();
    for rec in handle.events().iter() {
        match &rec.event {
            RunEvent::Step {
                step,
                loss,
                accuracy,
                samples_per_sec,
                eta_seconds,
                epoch,
                ..
            } => {
                bar.set_position(*step);
                bar.set_message(format!(
                    "epoch {epoch:.2}  loss {loss:.3}  acc {:.1} %  {:.0} utt/s  ETA {}{last_eer}",
                    100.0 * accuracy.unwrap_or(0.0),
                    samples_per_sec.unwrap_or(0.0),
                    eta_seconds.map_or("?".into(), |s| format!("{s:.0} s")),
                ));
            }
            RunEvent::Model { total_steps, .. } => bar.set_length(*total_steps),
            RunEvent::Eval { eer, min_dcf, step, .. } => {
                let dcf = min_dcf
                    .get("0.01")
                    .map_or(String::new(), |d| format!(", minDCF(0.01) {d:.3}"));
                last_eer = format!("  EER {:.2} %", 100.0 * eer);
                bar.println(format!("step {step}: EER {:.2} %{dcf}", 100.0 * eer));
            }
            RunEvent::Epoch {
                epoch, loss, seconds, ..
            } => bar.println(format!("epoch {epoch}: mean loss {loss:.3} in {seconds:.1} s")),
            RunEvent::Progress { stage, done, total } => bar.set_message(format!(
                "{stage}: {done}/{}",
                total.map_or("?".into(), |t| t.to_string())
            )),
            RunEvent::Log { level, message } if *level != LogLevel::Info => {
                bar.println(format!("{level:?}: {message}"))
            }
            RunEvent::Status { state, step } => bar.println(format!("{state:?} at step {step}")),
            RunEvent::Resumed { step, checkpoint, .. } => {
                bar.println(format!("resumed at step {step} from {checkpoint}"));
                bar.set_position(*step);
            }
            RunEvent::Ended { status, message, .. } => {
                bar.finish_and_clear();
                eprintln!("{status:?}: {message}");
            }
            _ => {}
        }
    }
    Ended::of(handle)
}
