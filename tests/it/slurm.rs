//! Runs and sweeps on a real Slurm cluster: the one-node cluster `.ci/run` starts on localhost (`.ci/slurm/`).
//! Where no cluster answers `sinfo`, each test says it was skipped, and why, in one line.
//!
//! - a sweep of three tiny runs is one job array; one task is cancelled mid-way (its run stops cleanly with a
//!   checkpoint), the sweep is submitted again and only that run is, resuming from its checkpoint;
//! - a job warned of its time limit ends `stopped` with the checkpoint of its last step, never `crashed`, and
//!   `train --resume DIR --slurm` submits it again to continue from there;
//! - with `slurm.requeue`, a job warned of its time limit requeues itself and its run finishes in the next job.

use super::train::tiny_config;
use adaptsv::config::{ExperimentConfig, SlurmConfig};
use adaptsv::runs::{load_dir, RunEvent, RunStatus};
use adaptsv::slurm::JobRecord;
use adaptsv::sweep::SweepState;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a Slurm cluster answers here; prints the skip line when not.
fn cluster(test: &str) -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| !l.contains("down")));
    if !up {
        eprintln!("skipped {test}: no Slurm cluster answers `sinfo` on this machine (.ci/run starts one: .ci/slurm/start)");
    }
    up
}

fn adaptsv(args: &[&str], cwd: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_adaptsv")).args(args).current_dir(cwd).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tiny run sized for the shared 2-CPU node: one CPU, a little memory, a few hundred steps.
fn slurm_config(out: &Path, epochs: usize) -> ExperimentConfig {
    let mut c = tiny_config(out);
    c.optim.epochs = epochs;
    c.slurm = Some(SlurmConfig {
        cpus: 1,
        mem: "1G".into(),
        ..Default::default()
    });
    c
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn slurm(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn job_active(record: &JobRecord) -> bool {
    let text = Command::new("scontrol").args(["show", "job", "-o", &record.job_id]).output().unwrap();
    let states = adaptsv::slurm::jobs::parse_scontrol(&String::from_utf8_lossy(&text.stdout));
    states.get(&record.key()).is_some_and(|s| s.is_active())
}

fn steps_of(dir: &Path) -> u64 {
    load_dir(dir).summary.steps
}

fn latest_checkpoint(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir.join("checkpoints"))
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_prefix("step-")?.strip_suffix(".state.json")?.parse().ok()
        })
        .max()
}

#[test]
fn a_sweep_is_one_job_array_and_a_cancelled_run_resumes_when_resubmitted() {
    if !cluster("a_sweep_is_one_job_array_and_a_cancelled_run_resumes_when_resubmitted") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Task 0 trains long enough to be cancelled in the middle; tasks 1 and 2 are short.
    let base = slurm_config(&tmp.path().join("runs"), 2);
    std::fs::write(tmp.path().join("base.toml"), base.to_toml_string()).unwrap();
    std::fs::write(
        tmp.path().join("sweep.toml"),
        "[sweep]\nname = \"grid\"\nbase = \"base.toml\"\n\n[[variant]]\nname = \"long\"\nset = { \"optim.epochs\" = 60 }\n\n\
         [[variant]]\nname = \"a\"\n\n[[variant]]\nname = \"b\"\nset = { seed = 7 }\n",
    )
    .unwrap();
    let submit = ["sweep", "sweep.toml", "--slurm", "--state-dir", "state"];
    let (ok, stdout, stderr) = adaptsv(&submit, tmp.path());
    assert!(ok, "{stderr}");
    let array = stdout.trim().to_string();
    assert!(stderr.contains("3 run(s)"), "{stderr}");
    let script = std::fs::read_to_string(tmp.path().join("state/sweep.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-2") && script.contains("#SBATCH --cpus-per-task=1"), "{script}");

    let state = SweepState::load(&tmp.path().join("state")).unwrap();
    let long = state.runs["grid-long"].clone();
    let record = JobRecord::read(&long).expect("each run folder records its job");
    assert_eq!((record.job_id.as_str(), record.task), (array.as_str(), Some(0)));

    // Cancel task 0 once it has trained a while: Slurm's SIGTERM makes it stop after its step, with a checkpoint.
    // Other tests' jobs may hold the node's CPUs for a while.
    wait_until("the long run to pass step 20", Duration::from_secs(300), || steps_of(&long) >= 20);
    slurm(&["scancel", &record.slurm_id()]);
    wait_until("the cancelled job to end", Duration::from_secs(60), || !job_active(&record));
    let stopped = load_dir(&long);
    assert_eq!(stopped.status, RunStatus::Stopped, "a cancelled job's run stops cleanly: {:?}", stopped.summary);
    let at = stopped.summary.steps;
    assert_eq!(latest_checkpoint(&long), Some(at), "the checkpoint of the step it stopped at");

    // The others finish; `--status --wait` returns when no job of the sweep is left.
    let (ok, table, stderr) = adaptsv(&["sweep", "sweep.toml", "--status", "--wait", "--state-dir", "state"], tmp.path());
    assert!(ok, "{stderr}");
    assert!(table.contains("cancelled") || table.contains("stopped"), "{table}");
    for name in ["grid-a", "grid-b"] {
        assert_eq!(load_dir(&state.runs[name]).status, RunStatus::Finished, "{name}");
    }

    // Submitted again: only the stopped run goes, and it continues from its checkpoint to the end.
    let (ok, stdout, stderr) = adaptsv(&submit, tmp.path());
    assert!(ok, "{stderr}");
    assert_ne!(stdout.trim(), array, "a new job");
    assert!(stderr.contains("1 run(s)") && stderr.contains("grid-a: finished; not submitted"), "{stderr}");
    let (ok, table, stderr) = adaptsv(&["sweep", "sweep.toml", "--status", "--wait", "--state-dir", "state"], tmp.path());
    assert!(ok, "{stderr}");
    let run = load_dir(&long);
    assert_eq!(run.status, RunStatus::Finished, "{table}");
    let resumed: Vec<u64> = run
        .events
        .iter()
        .filter_map(|r| match r.event {
            RunEvent::Resumed { step, .. } => Some(step),
            _ => None,
        })
        .collect();
    assert_eq!(resumed, vec![at], "resumed once, from the checkpoint of the step it stopped at");
    let csv = std::fs::read_to_string(tmp.path().join("state/summary.csv")).unwrap();
    assert_eq!(csv.lines().filter(|l| l.contains(",finished,")).count(), 3, "{csv}");

    // `adaptsv runs` shows each run's job beside its status.
    let (ok, runs, _) = adaptsv(&["runs", "--root", "runs"], tmp.path());
    assert!(ok && runs.contains("SLURM") && runs.contains(&format!("{array}_1 completed")), "{runs}");
}

/// Submits one run with `adaptsv train --slurm`; its folder.
fn submit_run(tmp: &Path, config: &ExperimentConfig) -> PathBuf {
    std::fs::write(tmp.join("run.toml"), config.to_toml_string()).unwrap();
    let (ok, _, stderr) = adaptsv(&["train", "--config", "run.toml", "--slurm"], tmp);
    assert!(ok, "{stderr}");
    let dir = std::fs::read_dir(tmp.join("runs")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(load_dir(&dir).status, RunStatus::Queued, "a submitted run is queued until its job starts");
    assert!(dir.join("job.sbatch").is_file());
    dir
}

#[test]
fn a_job_at_its_time_limit_ends_stopped_with_its_checkpoint() {
    if !cluster("a_job_at_its_time_limit_ends_stopped_with_its_checkpoint") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut config = slurm_config(&tmp.path().join("runs"), 100_000);
    // One minute; the warning 30 s before it (Slurm may send it up to a minute early), SIGTERM at the limit.
    let settings = config.slurm.as_mut().unwrap();
    settings.time = "1".into();
    settings.signal_seconds = 30;
    let dir = submit_run(tmp.path(), &config);
    let record = JobRecord::read(&dir).unwrap();
    wait_until("the job to reach its time limit", Duration::from_secs(420), || !job_active(&record));
    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Stopped, "not crashed: {:?}", run.summary);
    let steps = run.summary.steps;
    if steps > 0 {
        assert_eq!(latest_checkpoint(&dir), Some(steps), "the checkpoint of its last step");
    }
    let log = std::fs::read_to_string(dir.join(format!("slurm-{}.out", record.job_id))).unwrap();
    assert!(log.contains("adaptsv ended with status 75"), "{log}");

    // Submitted again (`train --resume DIR --slurm`): a new job continues it from that checkpoint.
    let (ok, stdout, stderr) = adaptsv(&["train", "--resume", dir.to_str().unwrap(), "--slurm"], tmp.path());
    assert!(ok, "{stderr}");
    let again = JobRecord::read(&dir).unwrap();
    assert_eq!(again.job_id, stdout.trim());
    assert_ne!(again.job_id, record.job_id);
    wait_until("the resubmitted job to resume the run", Duration::from_secs(300), || {
        load_dir(&dir).events.iter().any(|r| matches!(r.event, RunEvent::Resumed { step, .. } if step == steps))
    });
    slurm(&["scancel", &again.job_id]);
    wait_until("the second job to end", Duration::from_secs(60), || !job_active(&again));
    assert_eq!(load_dir(&dir).status, RunStatus::Stopped);
}

#[test]
fn a_warned_job_requeues_itself_and_its_run_finishes_in_the_next() {
    if !cluster("a_warned_job_requeues_itself_and_its_run_finishes_in_the_next") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut config = slurm_config(&tmp.path().join("runs"), 60);
    config.slurm.as_mut().unwrap().requeue = true;
    let dir = submit_run(tmp.path(), &config);
    let record = JobRecord::read(&dir).unwrap();
    wait_until("the run to pass step 20", Duration::from_secs(300), || steps_of(&dir) >= 20);
    // What Slurm does `signal_seconds` before the time limit (`--signal=B:USR1@N`): USR1 to the batch shell.
    slurm(&["scancel", "--batch", "--signal=USR1", &record.job_id]);
    wait_until("the run to stop", Duration::from_secs(60), || load_dir(&dir).status == RunStatus::Stopped);
    let at = load_dir(&dir).summary.steps;
    // Slurm holds a requeued job for a while (BeginTime); let it start now.
    wait_until("the job to be requeued", Duration::from_secs(60), || {
        Command::new("scontrol")
            .args(["update", &format!("jobid={}", record.job_id), "StartTime=now"])
            .output()
            .is_ok_and(|o| o.status.success())
            && job_active(&record)
    });
    wait_until("the requeued job to finish the run", Duration::from_secs(240), || {
        load_dir(&dir).status == RunStatus::Finished
    });
    let run = load_dir(&dir);
    assert!(
        run.events.iter().any(|r| matches!(r.event, RunEvent::Resumed { step, .. } if step == at)),
        "resumed from step {at}"
    );
    let log = std::fs::read_to_string(dir.join(format!("slurm-{}.out", record.job_id))).unwrap();
    assert!(log.contains("requeueing job") && log.contains("adaptsv ended with status 0"), "{log}");
}
