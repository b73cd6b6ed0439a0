//! The batch script of a submitted run or sweep: `#SBATCH` lines from the `[slurm]` table, the run folders (one
//! per array task), and the signal handling that turns Slurm's warning into a clean stop. It is written into the
//! run (or sweep) folder and submitted as is, so a user can read it and `sbatch` it again by hand.

use crate::config::SlurmConfig;
use std::path::{Path, PathBuf};

/// What one batch script runs.
#[derive(Debug, Clone)]
pub struct BatchJob {
    /// `--job-name`.
    pub name: String,
    /// The run folders, absolute; more than one makes a job array (task i runs folder i).
    pub runs: Vec<PathBuf>,
    /// `--chdir`: where the config's relative paths (corpus, output folder) were meant, absolute.
    pub workdir: PathBuf,
    /// `--output`, with Slurm's `%j` / `%A` / `%a` patterns.
    pub output: PathBuf,
    /// The `adaptsv` the nodes run.
    pub program: PathBuf,
    /// Submitted by (for the header).
    pub submitted_by: String,
    /// A run over several nodes (`parallel.nodes`, `parallel.port`): one task per node started with `srun`, node
    /// 0's host as the orchestrator.
    pub nodes: Option<(u32, u16)>,
}

/// Single-quotes `text` for bash (a `'` inside becomes `'\''`).
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn path_text(p: &Path) -> String {
    quote(&p.display().to_string())
}

/// The script's text.
pub fn render(settings: &SlurmConfig, job: &BatchJob) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/bash\n");
    s.push_str(&format!("# {}: written by {}.\n", job.name, job.submitted_by));
    s.push_str("# Submit it again by hand with `sbatch <this file>`: each task resumes its run folder from its newest\n");
    s.push_str("# checkpoint, and a run that has finished is left as it is.\n");
    let mut opt = |line: String| s.push_str(&format!("#SBATCH {line}\n"));
    opt(format!("--job-name={}", job.name));
    opt(format!("--chdir={}", job.workdir.display()));
    opt(format!("--output={}", job.output.display()));
    // A requeued job appends to its log instead of starting it over.
    opt("--open-mode=append".into());
    if job.runs.len() > 1 {
        let last = job.runs.len() - 1;
        match settings.parallel {
            0 => opt(format!("--array=0-{last}")),
            k => opt(format!("--array=0-{last}%{k}")),
        }
    }
    if !settings.partition.is_empty() {
        opt(format!("--partition={}", settings.partition));
    }
    if !settings.account.is_empty() {
        opt(format!("--account={}", settings.account));
    }
    if !settings.time.is_empty() {
        opt(format!("--time={}", settings.time));
    }
    if settings.cpus > 0 {
        opt(format!("--cpus-per-task={}", settings.cpus));
    }
    if !settings.mem.is_empty() {
        opt(format!("--mem={}", settings.mem));
    }
    if !settings.gres.is_empty() {
        opt(format!("--gres={}", settings.gres));
    }
    if let Some((nodes, _)) = job.nodes {
        opt(format!("--nodes={nodes}"));
        opt("--ntasks-per-node=1".into());
    }
    opt(format!("--signal=B:USR1@{}", settings.signal_seconds));
    opt(if settings.requeue { "--requeue".into() } else { "--no-requeue".into() });
    for line in settings.extra.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        opt(line.to_string());
    }
    s.push_str("set -u\n\nruns=(\n");
    for r in &job.runs {
        s.push_str(&format!("  {}\n", path_text(r)));
    }
    s.push_str(")\n");
    s.push_str("run=\"${runs[${SLURM_ARRAY_TASK_ID:-0}]}\"\n");
    s.push_str(&format!("requeue={}\n\n", u8::from(settings.requeue)));
    s.push_str(concat!(
        "# Slurm sends USR1 to this shell `--signal` seconds before the time limit: ask adaptsv to stop (it finishes\n",
        "# its step, writes a checkpoint, ends `stopped`, exits 75). SIGTERM (the time limit itself, preemption,\n",
        "# scancel) reaches adaptsv directly from Slurm; this shell only outlives it to report its status.\n",
        "warned=0\n",
        "child=\n",
        "trap 'warned=1; [ -n \"$child\" ] && kill -TERM \"$child\" 2>/dev/null' USR1\n",
        "trap ':' TERM\n",
    ));
    let launcher = match job.nodes {
        Some((_, port)) => {
            // One process per node; each reads its rank from SLURM_PROCID; node 0 (the first host) starts the
            // orchestrator the others meet at. A task that fails ends the others.
            s.push_str(&format!(
                "export ADAPTSV_ORCHESTRATOR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1):{port}\"\n"
            ));
            "srun --kill-on-bad-exit=1 "
        }
        None => "",
    };
    s.push_str(&format!(
        "{launcher}{} train --resume \"$run\" --skip-finished &\n",
        path_text(&job.program)
    ));
    s.push_str(concat!(
        "child=$!\n",
        "# A trapped signal interrupts `wait`: wait again until adaptsv itself has ended.\n",
        "while :; do\n",
        "  wait \"$child\"; rc=$?\n",
        "  kill -0 \"$child\" 2>/dev/null || break\n",
        "done\n",
        "wait \"$child\" 2>/dev/null; rc=$?\n",
        "echo \"adaptsv ended with status $rc ($run)\"\n",
        "if [ \"$rc\" -eq 75 ] && [ \"$warned\" -eq 1 ] && [ \"$requeue\" -eq 1 ]; then\n",
        "  echo \"stopped before the time limit: requeueing job $SLURM_JOB_ID to resume it\"\n",
        "  scontrol requeue \"$SLURM_JOB_ID\"\n",
        "fi\n",
        "exit \"$rc\"\n",
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(runs: usize) -> BatchJob {
        BatchJob {
            name: "adaptsv-grid".into(),
            runs: (0..runs).map(|i| PathBuf::from(format!("/shared/runs/r{i} o'k"))).collect(),
            workdir: "/shared/work".into(),
            output: "/shared/sweeps/grid/slurm/%A_%a.out".into(),
            program: "/opt/adaptsv/bin/adaptsv".into(),
            submitted_by: "adaptsv sweep grid.toml --slurm".into(),
            nodes: None,
        }
    }

    #[test]
    fn a_run_over_several_nodes_is_one_srun_task_per_node_meeting_at_the_first() {
        let mut one = job(1);
        one.nodes = Some((4, 41000));
        let text = render(&SlurmConfig::default(), &one);
        assert!(text.contains("#SBATCH --nodes=4\n#SBATCH --ntasks-per-node=1\n"), "{text}");
        assert!(text.contains(
            "export ADAPTSV_ORCHESTRATOR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1):41000\""
        ));
        assert!(text.contains("srun --kill-on-bad-exit=1 '/opt/adaptsv/bin/adaptsv' train --resume \"$run\""), "{text}");
        assert!(!render(&SlurmConfig::default(), &job(1)).contains("srun"));
    }

    #[test]
    fn a_sweep_is_one_array_with_every_setting_as_an_sbatch_line() {
        let settings = SlurmConfig {
            partition: "gpu".into(),
            account: "lab".into(),
            time: "4:00:00".into(),
            cpus: 8,
            mem: "32G".into(),
            gres: "gpu:1".into(),
            parallel: 2,
            extra: vec!["--qos=high".into()],
            signal_seconds: 300,
            requeue: true,
            ..Default::default()
        };
        let text = render(&settings, &job(3));
        for line in [
            "#SBATCH --job-name=adaptsv-grid",
            "#SBATCH --chdir=/shared/work",
            "#SBATCH --array=0-2%2",
            "#SBATCH --partition=gpu",
            "#SBATCH --account=lab",
            "#SBATCH --time=4:00:00",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --mem=32G",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --signal=B:USR1@300",
            "#SBATCH --requeue",
            "#SBATCH --qos=high",
            "  '/shared/runs/r2 o'\\''k'",
            "requeue=1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // sbatch reads options only before the first command.
        let first_command = text.lines().position(|l| l == "set -u").unwrap();
        assert!(text.lines().skip(first_command).all(|l| !l.starts_with("#SBATCH")));
    }

    #[test]
    fn one_run_is_no_array_and_defaults_add_nothing() {
        let text = render(&SlurmConfig { signal_seconds: 120, ..Default::default() }, &job(1));
        assert!(!text.contains("--array"));
        assert!(!text.contains("--partition") && !text.contains("--gres") && !text.contains("--time"));
        assert!(text.contains("#SBATCH --no-requeue") && text.contains("requeue=0"));
    }
}
