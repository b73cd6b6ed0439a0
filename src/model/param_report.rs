//! Parameter counts of an experiment before anything is launched: per group, trainable or not, and the size of
//! the checkpoint a run would write. One definition of "trainable share" for the CLI (`adaptsv params`), the
//! GUI's Configure tab and run summaries: trainable parameters over all parameters, the classifier (which
//! verification throws away) left out of both.

use super::{count_params_by_group, ParamCount, SpeakerModel};
use crate::config::{Method, ValidConfig};
use burn::backend::{Autodiff, Flex};

/// The backbone's shape, as built (from a preset or read from a checkpoint's `config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// `wavlm`, `hubert` or `wav2vec2`.
    pub family: String,
    pub layers: usize,
    pub hidden: usize,
    pub backbone_params: usize,
}

/// Parameter counts of one experiment.
#[derive(Debug, Clone)]
pub struct ParamReport {
    pub architecture: Architecture,
    pub groups: Vec<(String, ParamCount)>,
    pub total: ParamCount,
    pub classifier: ParamCount,
}

impl ParamReport {
    /// The trainable share as defined in [`crate::runs::trainable_share`].
    pub fn trainable_percent_without_classifier(&self) -> f64 {
        crate::runs::trainable_share(
            self.total.trainable as u64,
            self.total.total as u64,
            self.classifier.total as u64,
        )
        .unwrap_or(0.0)
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
pub fn count(config: &ValidConfig, speakers: usize) -> anyhow::Result<ParamReport> {
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
    let architecture = Architecture {
        family: format!("{:?}", model.backbone.config.model_type).to_lowercase(),
        layers: model.backbone.num_layers(),
        hidden: model.backbone.config.hidden_size,
        backbone_params: raw
            .iter()
            .find(|(f, _)| f == "backbone")
            .map(|(_, c)| c.total)
            .unwrap_or_default(),
    };
    Ok(ParamReport {
        architecture,
        groups,
        total,
        classifier,
    })
}

