//! A submitted run's job ([`JobRecord`], `slurm.json` in its folder) and the job's state as Slurm reports it
//! ([`JobState`], parsed from `scontrol show job -o` or `sacct -P`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A job, or one task of a job array: (job id, array task).
pub type TaskKey = (String, Option<u32>);

/// Which Slurm job runs a run folder; written at submission, replaced by a resubmission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job id (the array's id for an array task).
    pub job_id: String,
    /// The task of the array, if the job is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<u32>,
    /// The batch script submitted.
    pub script: PathBuf,
    pub submitted_utc: String,
    /// The command prefix the scheduler is reached through (`slurm.prefix`), to ask it later.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
}

impl JobRecord {
    pub fn key(&self) -> TaskKey {
        (self.job_id.clone(), self.task)
    }

    /// As Slurm writes it: `12` or `12_3`.
    pub fn slurm_id(&self) -> String {
        match self.task {
            Some(t) => format!("{}_{t}", self.job_id),
            None => self.job_id.clone(),
        }
    }

    /// The record in a run folder, if it was submitted (an unreadable one counts as none).
    pub fn read(run_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(run_dir.join(crate::runs::JOB_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn write(&self, run_dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("plain data serialises");
        crate::runs::write_atomic(&run_dir.join(crate::runs::JOB_FILE), &bytes)
    }
}

/// One job's (or task's) state as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct JobState {
    /// Slurm's state name: `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, …
    pub state: String,
    /// Why a pending job waits (`Priority`, `Resources`, `BeginTime`…); empty when none.
    pub reason: String,
    /// The node(s) it runs or ran on.
    pub node: String,
    /// `exit:signal` as Slurm reports it.
    pub exit_code: String,
}

impl JobState {
    /// Pending or running (or on its way between them): the job has not ended.
    pub fn is_active(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
                | "RESIZING" | "SUSPENDED" | "SIGNALING" | "STAGE_OUT"
        )
    }

    /// What a user reads: `pending (Resources)`, `running on node12`, `timed out`, `stopped (exit 75)`.
    pub fn describe(&self) -> String {
        let exit = self.exit_code.split(':').next().unwrap_or("");
        match self.state.as_str() {
            "PENDING" if self.reason.is_empty() || self.reason == "None" => "pending".into(),
            "PENDING" => format!("pending ({})", self.reason),
            "RUNNING" if self.node.is_empty() => "running".into(),
            "RUNNING" => format!("running on {}", self.node),
            "COMPLETED" => "completed".into(),
            // `adaptsv train` exits 75 when its run stopped (a signal, a time-limit warning): resumable.
            "FAILED" if exit == "75" => "stopped (exit 75, resumable)".into(),
            "FAILED" => format!("failed (exit {exit})"),
            "CANCELLED" => "cancelled".into(),
            "TIMEOUT" => "timed out".into(),
            "PREEMPTED" => "preempted".into(),
            "NODE_FAIL" => "node failed".into(),
            "OUT_OF_MEMORY" => "out of memory".into(),
            other => other.to_lowercase().replace('_', " "),
        }
    }
}

/// The tasks a `scontrol`/`sacct` task field names: `3`, `0-2%2`, `1,4-5`, `[4-5%2]`.
fn tasks(field: &str) -> Vec<u32> {
    let field = field.trim_start_matches('[').trim_end_matches(']');
    let field = field.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in field.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b.min(a.saturating_add(100_000)));
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

/// Parses `scontrol show job -o` output: one job (or array task, or pending range of tasks) per line.
pub fn parse_scontrol(text: &str) -> BTreeMap<TaskKey, JobState> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let fields: BTreeMap<&str, &str> = line.split_whitespace().filter_map(|t| t.split_once('=')).collect();
        let Some(job_id) = fields.get("JobId") else { continue };
        let state = JobState {
            state: fields.get("JobState").copied().unwrap_or("").to_string(),
            reason: fields.get("Reason").copied().unwrap_or("").to_string(),
            node: fields
                .get("NodeList")
                .filter(|n| **n != "(null)")
                .copied()
                .unwrap_or("")
                .to_string(),
            exit_code: fields.get("ExitCode").copied().unwrap_or("").to_string(),
        };
        match (fields.get("ArrayJobId"), fields.get("ArrayTaskId")) {
            (Some(array), Some(task_field)) => {
                for t in tasks(task_field) {
                    out.insert((array.to_string(), Some(t)), state.clone());
                }
            }
            _ => {
                out.insert((job_id.to_string(), None), state);
            }
        }
    }
    out
}

/// Parses `sacct -n -P -X -o JobID,State,NodeList,ExitCode,Reason` output.
pub fn parse_sacct(text: &str) -> BTreeMap<TaskKey, JobState> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 5 {
            continue;
        }
        let state = JobState {
            // "CANCELLED by 1000" → CANCELLED.
            state: f[1].split_whitespace().next().unwrap_or("").to_string(),
            reason: f[4].to_string(),
            node: f[2].trim_start_matches("None assigned").to_string(),
            exit_code: f[3].to_string(),
        };
        match f[0].split_once('_') {
            Some((array, task_field)) => {
                for t in tasks(task_field) {
                    out.insert((array.to_string(), Some(t)), state.clone());
                }
            }
            None => {
                out.insert((f[0].to_string(), None), state);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scontrol_lines_give_every_task_its_state() {
        // Trimmed from `scontrol show job -o` of Slurm 22.05 (the local cluster of the tests).
        let text = "JobId=7 ArrayJobId=5 ArrayTaskId=2 JobName=adaptsv-grid JobState=RUNNING Reason=None \
                    ReqNodeList=(null) ExcNodeList=(null) NodeList=node3 ExitCode=0:0\n\
                    JobId=6 ArrayJobId=5 ArrayTaskId=0 JobState=FAILED Reason=NonZeroExitCode NodeList=node3 ExitCode=75:0\n\
                    JobId=5 ArrayJobId=5 ArrayTaskId=3-4%2 JobState=PENDING Reason=JobArrayTaskLimit NodeList=(null) ExitCode=0:0\n\
                    JobId=9 JobName=one JobState=TIMEOUT Reason=TimeLimit NodeList=node1 ExitCode=0:15\n";
        let s = parse_scontrol(text);
        assert_eq!(s[&("5".into(), Some(2))].describe(), "running on node3");
        assert_eq!(s[&("5".into(), Some(0))].describe(), "stopped (exit 75, resumable)");
        assert_eq!(s[&("5".into(), Some(4))].describe(), "pending (JobArrayTaskLimit)");
        assert!(s[&("5".into(), Some(3))].is_active());
        assert_eq!(s[&("9".into(), None)].describe(), "timed out");
        assert!(!s[&("9".into(), None)].is_active());
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn sacct_lines_too() {
        let s = parse_sacct("12_1|CANCELLED by 0|n2|0:15|None\n12_[2-3]|PENDING|None assigned|0:0|Priority\n13|COMPLETED|n1|0:0|None\n");
        assert_eq!(s[&("12".into(), Some(1))].describe(), "cancelled");
        assert_eq!(s[&("12".into(), Some(3))].describe(), "pending (Priority)");
        assert_eq!(s[&("13".into(), None)].describe(), "completed");
    }
}
