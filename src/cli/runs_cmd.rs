//! `adaptsv runs`: the run list of the Monitor tab, on a terminal.

use crate::runs::{LoadedRun, RunStore};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Folder holding run folders.
    #[arg(long, default_value = "experiments/runs")]
    pub root: PathBuf,
    /// Print one JSON object per run (id, status, name, method, summary, damage) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &RunsArgs) -> anyhow::Result<()> {
    let runs = RunStore::new(&args.root).list()?;
    if args.json {
        for run in &runs {
            println!("{}", serde_json::to_string(&json_of(run))?);
        }
        return Ok(());
    }
    if runs.is_empty() {
        println!("no runs under {}", args.root.display());
        return Ok(());
    }
    println!("{}", table(&runs));
    Ok(())
}

fn json_of(run: &LoadedRun) -> serde_json::Value {
    serde_json::json!({
        "id": run.id,
        "status": run.status,
        "name": run.name(),
        "method": run.method().to_string(),
        "summary": run.summary,
        "damage": run.damage.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    })
}

/// A fixed-width table: one row per run, figures with their units.
pub fn table(runs: &[LoadedRun]) -> String {
    let mut rows = vec![[
        "RUN".to_string(),
        "STATUS".into(),
        "METHOD".into(),
        "STEPS".into(),
        "LOSS".into(),
        "EER %".into(),
        "TRAINABLE %".into(),
    ]];
    let mut notes = Vec::new();
    for run in runs {
        let s = &run.summary;
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
        ]);
        for d in &run.damage {
            notes.push(format!("  ! {}: {d}", run.id));
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect();
    out.extend(notes);
    out.join("\n")
}
