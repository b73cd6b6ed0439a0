//! Launching runs from the app without touching the disk on the UI thread: a worker thread takes configs (or
//! run folders to resume), calls [`Engine::launch`] / [`Engine::resume`] (validation, device probe, run folder)
//! and hands back the live [`RunHandle`] or the error. The app keeps the handles to pause, resume and stop
//! its runs, and drains their event channels. With "Run on: Slurm cluster" it submits instead
//! (`crate::slurm::submit_run` / `submit_sweep`, as `adaptsv train --slurm` / `adaptsv sweep --slurm` do) and
//! hands back the queued run folders and the job id.

use crate::config::ExperimentConfig;
use crate::engine::{Engine, RunHandle};
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::path::PathBuf;

/// What the worker is asked to start.
pub enum Request {
    Launch(ExperimentConfig),
    /// Continue a stopped, failed or crashed run from its newest checkpoint.
    Resume(PathBuf),
    /// Submit one run to Slurm.
    Submit(ExperimentConfig),
    /// Submit a run folder to Slurm again, to continue it there.
    Resubmit(PathBuf),
    /// Submit runs to Slurm as one job array, kept as a sweep named `name` (state in `experiments/sweeps/<name>`).
    SubmitSweep { name: String, configs: Vec<ExperimentConfig> },
}

/// What the worker answers to one launch.
pub enum Launched {
    Run(RunHandle),
    Failed { name: String, device: String, error: String },
    /// Submitted to Slurm: the job (array) id and the queued run folders.
    Submitted { name: String, job_id: String, dirs: Vec<PathBuf> },
}

pub struct Launcher {
    requests: Sender<Request>,
    pub replies: Receiver<Launched>,
}

impl Launcher {
    /// Starts the worker; `wake` is called after each reply (to repaint the UI).
    pub fn spawn(wake: impl Fn() + Send + 'static) -> Self {
        let (requests, rx) = unbounded::<Request>();
        let (tx, replies) = unbounded();
        let _ = std::thread::Builder::new()
            .name("adaptsv-launcher".into())
            .spawn(move || {
                for request in rx.iter() {
                    let (name, device, started) = match request {
                        Request::Launch(config) => (config.name.clone(), config.device.clone(), Engine::launch(config)),
                        Request::Resume(dir) => {
                            let device = crate::runs::load_config(&dir).0.map(|c| c.device).unwrap_or_default();
                            (dir.display().to_string(), device, Engine::resume(&dir))
                        }
                        Request::Submit(config) => {
                            let _ = tx.send(submit(config));
                            wake();
                            continue;
                        }
                        Request::Resubmit(dir) => {
                            let _ = tx.send(resubmit(dir));
                            wake();
                            continue;
                        }
                        Request::SubmitSweep { name, configs } => {
                            let _ = tx.send(submit_sweep(name, configs));
                            wake();
                            continue;
                        }
                    };
                    let reply = match started {
                        Ok(handle) => Launched::Run(handle),
                        Err(e) => Launched::Failed {
                            name,
                            device,
                            error: e.to_string(),
                        },
                    };
                    if tx.send(reply).is_err() {
                        break;
                    }
                    wake();
                }
            });
        Self { requests, replies }
    }

    pub fn start(&self, request: Request) {
        let _ = self.requests.send(request);
    }
}

fn submit(config: ExperimentConfig) -> Launched {
    let by = format!("the app's Launch on Slurm ({})", config.name);
    match crate::slurm::submit_run(&config, &by) {
        Ok(job) => Launched::Submitted {
            name: config.name,
            job_id: job.job_id,
            dirs: vec![job.dir],
        },
        Err(e) => Launched::Failed {
            name: config.name,
            device: String::new(),
            error: format!("{e:#}"),
        },
    }
}

fn resubmit(dir: PathBuf) -> Launched {
    let name = dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    match crate::slurm::resubmit_run(&dir, "the app's Resubmit to Slurm") {
        Ok(job) => Launched::Submitted {
            name,
            job_id: job.job_id,
            dirs: vec![job.dir],
        },
        Err(e) => Launched::Failed {
            name,
            device: String::new(),
            error: format!("{e:#}"),
        },
    }
}

fn submit_sweep(name: String, configs: Vec<ExperimentConfig>) -> Launched {
    let settings = configs.first().and_then(|c| c.slurm.clone()).unwrap_or_default();
    let runs: Vec<crate::sweep::SweepRun> = configs
        .into_iter()
        .map(|config| crate::sweep::SweepRun {
            name: config.name.clone(),
            config,
        })
        .collect();
    let state_dir = PathBuf::from("experiments/sweeps").join(&name);
    let by = format!("the app's Compare methods on Slurm ({name}; CLI twin: adaptsv sweep FILE --slurm)");
    match crate::slurm::submit_sweep(&name, &runs, &state_dir, &settings, &by) {
        Ok(done) => match done.job_id {
            Some(job_id) => Launched::Submitted {
                name,
                job_id,
                dirs: done.tasks.into_iter().map(|(_, d)| d).collect(),
            },
            None => Launched::Failed {
                name,
                device: String::new(),
                error: "nothing to submit: every run has finished, failed, or is queued or running".into(),
            },
        },
        Err(e) => Launched::Failed {
            name,
            device: String::new(),
            error: format!("{e:#}"),
        },
    }
}
