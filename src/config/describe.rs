//! One line saying in words what an experiment does, shared by `adaptsv config` and the GUI.

use super::{ExperimentConfig, Method};

/// One line saying what the experiment does, e.g. "inner (both, b=64) + inter (b=128) adapters on preset
/// wavlm-base-plus · weighted-sum · xvector 256-d · aam-softmax · cpu".
pub fn describe(c: &ExperimentConfig) -> String {
    let a = &c.adaptation;
    if let Some(p) = &c.pretrain {
        return format!(
            "pre-training of {} (masked prediction of {} MFCC clusters, spans of {} frames, p = {}) · {}",
            model_text(c),
            p.clusters,
            p.mask_length,
            p.mask_prob,
            c.device
        );
    }
    let method = match a.method {
        Method::Adapters => {
            let mut parts = Vec::new();
            if a.inner_enabled() {
                parts.push(format!(
                    "inner ({} in layers {}, b={})",
                    name_of(&a.inner.position),
                    a.inner.layers,
                    a.inner.bottleneck
                ));
            }
            if a.inter_enabled() {
                parts.push(format!("inter (b={})", a.inter.bottleneck));
            }
            format!("{} adapters", parts.join(" + "))
        }
        m => m.name().to_string(),
    };
    let model = model_text(c);
    format!(
        "{method} on {model} · {} aggregation · {} head {}-d · {} · {}",
        name_of(&c.aggregation.kind),
        name_of(&c.head.kind),
        c.head.embedding_dim,
        name_of(&c.loss.kind),
        c.device
    )
}

fn model_text(c: &ExperimentConfig) -> String {
    match (&c.model.preset, &c.model.checkpoint) {
        (Some(p), _) => format!("preset {p} (random init)"),
        (_, Some(path)) => format!("checkpoint {}", path.display()),
        _ => "no model".into(),
    }
}

/// An option's value as written in TOML (`weighted-sum`, `aam-softmax`).
pub fn name_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}
