//! The app's view of a Slurm cluster: whether `sbatch` answers here (so Launch can offer it), the scheduler
//! state of every run folder submitted to it (asked every few seconds while any job is pending or running, once
//! a minute otherwise), and cancelling jobs. Every scheduler command runs on a worker thread.

use super::jobs::Jobs;
use crate::slurm::{JobRecord, JobState};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

enum Answer {
    Available(bool),
    States(BTreeMap<PathBuf, (JobRecord, Option<JobState>)>),
    Cancelled(Result<Vec<String>, String>),
}

pub struct ClusterJobs {
    worker: Jobs<Answer>,
    /// Whether `sbatch` answers on this machine; `None` while asking.
    available: Option<bool>,
    /// Each submitted run folder's job and its state (absent: Slurm no longer knows the job).
    pub states: BTreeMap<PathBuf, (JobRecord, Option<JobState>)>,
    asked: Option<Instant>,
    /// The run folders last asked about: a new folder (a run just found or submitted) is asked about at once.
    asked_dirs: Vec<PathBuf>,
    in_flight: bool,
    /// The outcome of the last cancel, for the Monitor.
    pub notice: Option<(String, bool)>,
}

/// How often states are asked while a job is pending or running, and otherwise.
const ACTIVE_EVERY: Duration = Duration::from_secs(3);
const IDLE_EVERY: Duration = Duration::from_secs(60);

impl ClusterJobs {
    pub fn spawn() -> Self {
        let worker = Jobs::spawn("adaptsv-slurm");
        worker.submit(|| Answer::Available(crate::slurm::Scheduler::new("").available()));
        Self {
            worker,
            available: None,
            states: BTreeMap::new(),
            asked: None,
            asked_dirs: Vec::new(),
            in_flight: false,
            notice: None,
        }
    }

    /// Whether Slurm's `sbatch` answers here (`None` while asking).
    pub fn available(&self) -> Option<bool> {
        self.available
    }

    /// Whether any known job is pending or running.
    pub fn any_active(&self) -> bool {
        self.states.values().any(|(_, s)| s.as_ref().is_some_and(JobState::is_active))
    }

    /// Folds in the worker's answers, and asks for the states of `dirs` (the run folders shown) when due: at once
    /// with `now` or when the folders changed, else every few seconds while a job waits or runs. True when
    /// something changed.
    pub fn poll<'a>(&mut self, dirs: impl Iterator<Item = &'a PathBuf> + Clone, now: bool) -> bool {
        let mut changed = false;
        while let Some(answer) = self.worker.poll() {
            changed = true;
            match answer {
                Answer::Available(a) => self.available = Some(a),
                Answer::States(s) => {
                    self.states = s;
                    self.in_flight = false;
                }
                Answer::Cancelled(r) => {
                    self.notice = Some(match r {
                        Ok(ids) if ids.is_empty() => ("no job to cancel: none is pending or running".into(), true),
                        Ok(ids) => (format!("cancelled {}: a running run stops after its step", ids.join(" ")), true),
                        Err(e) => (format!("cannot cancel: {e}"), false),
                    });
                    self.asked = None;
                }
            }
        }
        let every = if self.any_active() { ACTIVE_EVERY } else { IDLE_EVERY };
        // Compared without copying: this runs every frame.
        let due = now || !self.asked_dirs.iter().eq(dirs.clone()) || self.asked.is_none_or(|t| t.elapsed() >= every);
        if due && !self.in_flight {
            self.in_flight = true;
            self.asked = Some(Instant::now());
            self.asked_dirs = dirs.cloned().collect();
            let dirs = self.asked_dirs.clone();
            self.worker.submit(move || Answer::States(crate::slurm::job_states(&dirs)));
        }
        changed
    }

    /// Cancels the pending or running jobs of these run folders.
    pub fn cancel(&mut self, dirs: Vec<PathBuf>) {
        self.worker.submit(move || Answer::Cancelled(crate::slurm::cancel(&dirs).map_err(|e| format!("{e:#}"))));
    }

    /// "job 12_3 · pending (Resources)", for a run folder that was submitted.
    pub fn line(&self, dir: &PathBuf) -> Option<String> {
        let (record, state) = self.states.get(dir)?;
        Some(match state {
            Some(s) => format!("job {} · {}", record.slurm_id(), s.describe()),
            None => format!("job {} · no longer known to Slurm", record.slurm_id()),
        })
    }

    /// Whether the run's job is pending or running.
    pub fn active(&self, dir: &PathBuf) -> bool {
        self.states.get(dir).is_some_and(|(_, s)| s.as_ref().is_some_and(JobState::is_active))
    }
}
