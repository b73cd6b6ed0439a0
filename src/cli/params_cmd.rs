//! `adaptsv params`: how many parameters an experiment trains, per group, before anything is launched; the
//! numbers behind "5.x % trainable, 9 MB adapter checkpoint".

use crate::config::{DataSource, ExperimentConfig, Method};
use crate::data::Corpus;
use crate::model::{count_params_by_group, ParamCount, SpeakerModel};
use anyhow::{bail, Context};
use burn::backend::{Autodiff, Flex};
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
    /// trainable_percent_without_classifier, checkpoint_bytes, groups (name → {params, trainable}).
    #[arg(long)]
    pub json: bool,
}

/// Parameter counts of one experiment.
#[derive(Debug, Clone)]
pub struct ParamReport {
    pub groups: Vec<(String, ParamCount)>,
    pub total: ParamCount,
    pub classifier: ParamCount,
}

impl ParamReport {
    pub fn trainable_percent_without_classifier(&self) -> f64 {
        let total = self.total.total - self.classifier.total;
        let trainable = self.total.trainable - self.classifier.trainable;
        if total == 0 {
            0.0
        } else {
            100.0 * trainable as f64 / total as f64
        }
    }

    /// Bytes of a checkpoint holding only the trainable parameters (f32), excluding the classifier, which
    /// verification does not need.
    pub fn checkpoint_bytes(&self) -> usize {
        4 * (self.total.trainable - self.classifier.trainable)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let groups: serde_json::Map<String, serde_json::Value> = self
            .groups
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    serde_json::json!({ "params": c.total, "trainable": c.trainable }),
                )
            })
            .collect();
        serde_json::json!({
            "total": self.total.total,
            "trainable": self.total.trainable,
            "trainable_percent": self.total.trainable_percent(),
            "trainable_percent_without_classifier": self.trainable_percent_without_classifier(),
            "checkpoint_bytes": self.checkpoint_bytes(),
            "groups": groups,
        })
    }
}

/// The group names of the report, in model order: the fields of [`SpeakerModel`] named for a reader.
fn group_name(field: &str, method: Method) -> String {
    match field {
        "adapters" => match method {
            Method::Adapters => "inner adapters".into(),
            Method::Houlsby => "houlsby adapters".into(),
            Method::Lora => "lora".into(),
            Method::Prefix => "prefixes".into(),
            _ => "layer adapters".into(),
        },
        "inter" => "inter adapters".into(),
        other => other.into(),
    }
}

/// Builds the experiment's model on the CPU (random weights for presets; a checkpoint is loaded) and counts.
pub fn count(config: &ExperimentConfig, speakers: usize) -> anyhow::Result<ParamReport> {
    let device = Default::default();
    let model = SpeakerModel::<Autodiff<Flex>>::from_config(config, speakers, &device)?;
    let raw = count_params_by_group(&model, 1);
    let mut groups: Vec<(String, ParamCount)> = raw
        .iter()
        .map(|(field, c)| (group_name(field, config.adaptation.method), *c))
        .collect();
    for name in ["inter adapters", "aggregation"] {
        if !groups.iter().any(|(g, _)| g == name) {
            groups.push((name.into(), ParamCount::default()));
        }
    }
    let total = raw.iter().fold(ParamCount::default(), |a, (_, c)| a + *c);
    let classifier = raw
        .iter()
        .find(|(f, _)| f == "classifier")
        .map(|(_, c)| *c)
        .unwrap_or_default();
    Ok(ParamReport {
        groups,
        total,
        classifier,
    })
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
    let report = count(&config, speakers)?;
    if args.json {
        println!("{}", report.to_json());
        return Ok(());
    }
    let total = report.total.total as f64;
    println!("{} ({} training speakers)", args.config.display(), speakers);
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
