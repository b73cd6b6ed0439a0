//! Runs and sweeps on a Slurm cluster: Slurm itself schedules (`sbatch`, job arrays, `squeue` / `scontrol`,
//! `scancel`); adaptsv writes the batch script, submits it and reads the jobs' states back.
//!
//! A submitted run's folder is made at submission (its config, the batch script `job.sbatch` or the sweep's,
//! and `slurm.json`, the [`JobRecord`]), so the app and `adaptsv runs` show it `queued` from the start and
//! the job only has to `adaptsv train --resume` it: the same command starts it, resumes it after a stop,
//! a requeue or a cancelled job, and a resubmitted sweep skips what has finished.
//!
//! | module | what it is |
//! |---|---|
//! | [`time`] | Slurm's time-limit forms, parsed for validation |
//! | [`script`] | the batch script: `#SBATCH` lines from `[slurm]`, the run folders, the signal handling |
//! | [`scheduler`] | the scheduler commands, through an optional prefix (`ssh login-node`), and their output |
//! | [`jobs`] | a job's record in its run folder and its state as Slurm reports it |
//! | [`submit`] | submitting a run or the unfinished runs of a sweep; the states of a set of run folders |
//!
//! A job is told `slurm.signal_seconds` before its time limit (`--signal=B:USR1@N`); the batch script passes
//! that on as SIGTERM, on which `adaptsv train` finishes its step, writes a checkpoint, ends `stopped` and exits
//! with status 75; with `slurm.requeue` the script then requeues the job, which resumes the run.

pub mod jobs;
pub mod scheduler;
pub mod script;
pub mod submit;
pub mod time;

pub use jobs::{JobRecord, JobState};
pub use scheduler::{Scheduler, SchedulerError};
pub use submit::{cancel, job_states, resubmit_run, submit_run, submit_sweep, RunSubmission, SweepSubmission};
pub use time::parse_time_limit;
