//! `adaptsv params`: how many parameters an experiment trains, per group, before anything is launched; the
//! numbers behind "5.x % trainable, 9 MB adapter checkpoint".

use crate::config::{DataSource, ExperimentConfig};
use crate::data::Corpus;
use crate::model::param_report::count;
use anyhow::{bail, Context};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ParamsArgs {
    /// The experiment config (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Number of training speakers (classifier classes). Default: from the synthetic corpus settings, or by
    /// indexing `data.corpus`.
    #[arg(long, value_name = "N")]
    pub speakers: Option<usize>,
    /// Print exactly one JSON object: total, trainable, trainable_percent,
    /// trainable_percent_without_classifier, checkpoint_bytes, groups (name → {params, trainable}), batch
    /// ({global, peers, per_peer}: the data-parallel split).
    #[arg(long)]
    pub json: bool,
}

fn speakers(config: &ExperimentConfig, given: Option<usize>) -> anyhow::Result<usize> {
    if let Some(n) = given {
        if n < 2 {
            bail!("--speakers {n}: need at least 2 training speakers");
        }
        return Ok(n);
    }
    match config.data.source {
        DataSource::Synthetic => Ok(config.data.synthetic.speakers),
        DataSource::Corpus => {
            let Some(root) = &config.data.corpus else {
                bail!("data.corpus is not set; give --speakers N")
            };
            let corpus = Corpus::index(root, config.data.layout, None).with_context(|| {
                format!(
                    "counting speakers in data.corpus {} (or give --speakers N)",
                    root.display()
                )
            })?;
            Ok(corpus.speakers.len())
        }
    }
}

pub fn run(args: &ParamsArgs) -> anyhow::Result<()> {
    let config = ExperimentConfig::load(&args.config)?;
    let speakers = speakers(&config, args.speakers)?;
    let valid = config.clone().into_valid().map_err(|problems| {
        let text: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        anyhow::anyhow!("{}: {} problem(s):\n{}", args.config.display(), problems.len(), text.join("\n"))
    })?;
    let report = count(&valid, speakers)?;
    if args.json {
        let mut json = report.to_json();
        json["batch"] = serde_json::json!({
            "global": config.optim.batch_size,
            "peers": config.peer_count(),
            "per_peer": config.per_peer_batch(),
        });
        println!("{json}");
        return Ok(());
    }
    let total = report.total.total as f64;
    println!("{} ({} training speakers)", args.config.display(), speakers);
    let peers = config.peer_count();
    if peers > 1 {
        println!(
            "batch: global {} = {peers} data-parallel peers x {} per device ({} device(s) x {} node(s))",
            config.optim.batch_size,
            config.per_peer_batch(),
            config.peer_devices().len(),
            config.parallel.as_ref().map_or(1, |p| p.nodes)
        );
    }
    println!("{:<18}{:>14}{:>14}{:>10}", "group", "params", "trainable", "% of all");
    for (name, c) in &report.groups {
        println!(
            "{name:<18}{:>14}{:>14}{:>9.2}%",
            c.total,
            c.trainable,
            100.0 * c.trainable as f64 / total
        );
    }
    println!(
        "{:<18}{:>14}{:>14}{:>9.2}%",
        "total",
        report.total.total,
        report.total.trainable,
        report.total.trainable_percent()
    );
    println!(
        "trainable share without the classifier: {:.2} %; trainable checkpoint (f32, no classifier): {:.1} MB",
        report.trainable_percent_without_classifier(),
        report.checkpoint_bytes() as f64 / 1e6
    );
    Ok(())
}
