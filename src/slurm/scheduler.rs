//! The Slurm commands adaptsv runs (`sbatch`, `scontrol`, `sacct`, `scancel`), directly or through a prefix
//! such as `ssh login-node` (each argument is then quoted for the remote shell). Blocking: the app calls them on
//! a worker thread.

use super::jobs::{parse_sacct, parse_scontrol, JobState, TaskKey};
use super::script::quote;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot run `{command}`: {source} (is Slurm installed here? set slurm.prefix, e.g. \"ssh login-node\", to submit from another host)")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("`{command}` answered {stdout:?}, not a job id")]
    NoJobId { command: String, stdout: String },
}

/// Where scheduler commands run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scheduler {
    /// Words put before every command (empty: run here).
    prefix: Vec<String>,
}

impl Scheduler {
    /// `prefix`: e.g. `"ssh login-node"`, or empty.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.split_whitespace().map(str::to_string).collect(),
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> (Command, String) {
        let shown = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
        match self.prefix.split_first() {
            None => {
                let mut c = Command::new(program);
                c.args(args);
                (c, shown)
            }
            Some((first, rest)) => {
                let remote = std::iter::once(program.to_string())
                    .chain(args.iter().map(|a| quote(a)))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut c = Command::new(first);
                c.args(rest).arg(&remote);
                (c, format!("{} {shown}", self.prefix.join(" ")))
            }
        }
    }

    /// Runs a command; its stdout when it exits 0.
    fn run(&self, program: &str, args: &[&str]) -> Result<String, SchedulerError> {
        let (mut c, shown) = self.command(program, args);
        let out = c.output().map_err(|source| SchedulerError::Spawn {
            command: shown.clone(),
            source,
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(SchedulerError::Failed {
                command: shown,
                stderr: if stderr.is_empty() { format!("exit status {}", out.status) } else { stderr },
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether `sbatch` answers (Slurm's client is installed here, or reachable through the prefix).
    pub fn available(&self) -> bool {
        self.run("sbatch", &["--version"]).is_ok()
    }

    /// Submits a batch script; the job id (of the array, for an array).
    pub fn submit(&self, script: &Path) -> Result<String, SchedulerError> {
        let path = script.display().to_string();
        let stdout = self.run("sbatch", &["--parsable", &path])?;
        // `--parsable`: "<id>" or "<id>;<cluster>".
        let id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(SchedulerError::NoJobId {
                command: format!("sbatch --parsable {path}"),
                stdout,
            });
        }
        Ok(id)
    }

    /// The states of the tasks of the given jobs (array or plain job ids). `scontrol show job` knows jobs until
    /// `MinJobAge` after their end; older ones are asked of `sacct` (absent without accounting): a job neither
    /// knows is left out.
    pub fn states(&self, job_ids: &[String]) -> BTreeMap<TaskKey, JobState> {
        let mut states = BTreeMap::new();
        for id in job_ids {
            match self.run("scontrol", &["show", "job", "-o", id]) {
                Ok(text) if !text.trim().is_empty() => states.extend(parse_scontrol(&text)),
                _ => {
                    let fields = "JobID,State,NodeList,ExitCode,Reason";
                    if let Ok(text) = self.run("sacct", &["-n", "-P", "-X", "-j", id, "-o", fields]) {
                        states.extend(parse_sacct(&text));
                    }
                }
            }
        }
        states
    }

    /// Cancels jobs or array tasks (`12`, `12_3`): Slurm sends their processes SIGTERM, on which a run stops
    /// cleanly, and SIGKILL `KillWait` seconds later.
    pub fn cancel(&self, ids: &[String]) -> Result<(), SchedulerError> {
        if ids.is_empty() {
            return Ok(());
        }
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.run("scancel", &args).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_runs_the_command_quoted_through_it() {
        let (c, shown) = Scheduler::new("ssh  login-node").command("sbatch", &["--parsable", "/runs/a b/job.sbatch"]);
        assert_eq!(c.get_program(), "ssh");
        let args: Vec<_> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["login-node", "sbatch '--parsable' '/runs/a b/job.sbatch'"]);
        assert_eq!(shown, "ssh login-node sbatch --parsable /runs/a b/job.sbatch");
        let (c, _) = Scheduler::new("").command("scancel", &["12_3"]);
        assert_eq!(c.get_program(), "scancel");
    }

    #[test]
    fn a_missing_program_is_an_error_that_says_what_to_do() {
        let e = Scheduler::new("/nonexistent/prefix-program").submit(Path::new("x.sbatch")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("slurm.prefix") && text.contains("/nonexistent/prefix-program"), "{text}");
    }
}
