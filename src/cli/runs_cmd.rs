//! `adaptsv runs`: the run list of the Monitor tab, on a terminal. EER is the run's own trial list's; evaluations on
//! other lists are listed apart, by label (`summary.lists` in `--json`).

use crate::runs::{LoadedRun, RunStore};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Folder holding run folders.
    #[arg(long, default_value = "experiments/runs")]
    pub root: PathBuf,
    /// Print one JSON object per run (id, status, name, method, tags, note, summary, damage) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only the runs the app's filter shows: every word in the folder name, method, status, tags or note;
    /// `#tag` = runs with that tag.
    #[arg(long, value_name = "WORDS")]
    pub filter: Option<String>,
}

pub fn run(args: &RunsArgs) -> anyhow::Result<()> {
    let filter = crate::runs::RunFilter::parse(args.filter.as_deref().unwrap_or(""));
    let mut runs = RunStore::new(&args.root).list()?;
    runs.retain(|r| r.matches(&filter));
    // The scheduler is asked once for every submitted run (one query per job), not once per run.
    let jobs = crate::slurm::job_states(&runs.iter().map(|r| r.dir.clone()).collect::<Vec<_>>());
    if args.json {
        for run in &runs {
            println!("{}", serde_json::to_string(&json_of(run, jobs.get(&run.dir)))?);
        }
        return Ok(());
    }
    if runs.is_empty() {
        match &args.filter {
            Some(f) => println!("no runs under {} match {f:?}", args.root.display()),
            None => println!("no runs under {}", args.root.display()),
        }
        return Ok(());
    }
    println!("{}", table(&runs, &jobs));
    Ok(())
}

/// Each submitted run folder's job and its state (`crate::slurm::job_states`).
type Jobs = std::collections::BTreeMap<std::path::PathBuf, (crate::slurm::JobRecord, Option<crate::slurm::JobState>)>;

fn json_of(run: &LoadedRun, job: Option<&(crate::slurm::JobRecord, Option<crate::slurm::JobState>)>) -> serde_json::Value {
    serde_json::json!({
        "slurm": job.map(|(record, state)| serde_json::json!({
            "job": record.slurm_id(),
            "state": state.as_ref().map(|s| s.state.clone()),
            "describe": state.as_ref().map(|s| s.describe()),
        })),
        "id": run.id,
        "status": run.status,
        "name": run.name(),
        "method": run.method().to_string(),
        "tags": run.notes.tags,
        "note": run.notes.note,
        "summary": run.summary,
        "damage": run.damage.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    })
}

/// A fixed-width table: one row per run, figures with their units; runs submitted to Slurm get their job and
/// its state as the scheduler reports it.
pub fn table(runs: &[LoadedRun], jobs: &Jobs) -> String {
    let mut rows = vec![[
        "RUN".to_string(),
        "STATUS".into(),
        "METHOD".into(),
        "STEPS".into(),
        "LOSS".into(),
        "EER %".into(),
        "TRAINABLE %".into(),
        "OTHER LISTS (EER %)".into(),
        "TAGS".into(),
        if jobs.is_empty() { String::new() } else { "SLURM".into() },
    ]];
    let mut below = Vec::new();
    for run in runs {
        let s = &run.summary;
        let scheduler = match jobs.get(&run.dir) {
            Some((record, Some(state))) => format!("{} {}", record.slurm_id(), state.describe()),
            Some((record, None)) => format!("{} (no longer known to Slurm)", record.slurm_id()),
            None => String::new(),
        };
        rows.push([
            run.id.clone(),
            run.status.to_string(),
            run.method().to_string(),
            s.steps.to_string(),
            s.final_loss.map(|l| format!("{l:.4}")).unwrap_or_else(|| "-".into()),
            s.eer.map(|e| format!("{:.2}", 100.0 * e)).unwrap_or_else(|| "-".into()),
            s.trainable_percent()
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "-".into()),
            s.lists
                .iter()
                .map(|(label, l)| format!("{label} {:.2}", 100.0 * l.eer))
                .collect::<Vec<_>>()
                .join(", "),
            run.notes.tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" "),
            scheduler,
        ]);
        if let Some(first) = run.notes.note.lines().next() {
            below.push(format!("  note {}: {first}", run.id));
        }
        for d in &run.damage {
            below.push(format!("  ! {}: {d}", run.id));
        }
    }
    let mut out = vec![align(&rows)];
    out.extend(below);
    out.join("\n")
}

/// Rows of cells as left-aligned columns two spaces apart.
pub(crate) fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
