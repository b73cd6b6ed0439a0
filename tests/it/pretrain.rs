//! Pre-training (`[pretrain]` configs): a tiny HuBERT-style run trains, stops and resumes like any run, and ends
//! with a HuggingFace folder that adaptsv loads.

use super::train::tiny_config;
use adaptsv::config::{PretrainConfig, TargetFeatures};
use adaptsv::engine::Engine;
use adaptsv::model::backbone::load_backbone;
use adaptsv::runs::{load_dir, EndStatus, RunEvent, RunStatus};

/// Pre-training for `train::tiny_config`: log-mel targets in 8 clusters, k-means on 400 frames.
pub fn tiny_pretraining(export: Option<std::path::PathBuf>, export_dtype: &str) -> PretrainConfig {
    PretrainConfig {
        targets: TargetFeatures::LogMel,
        clusters: 8,
        mask_prob: 0.08,
        mask_length: 10,
        unmasked_weight: 0.5,
        kmeans_frames: 400,
        kmeans_iterations: 5,
        export,
        export_dtype: export_dtype.into(),
    }
}

#[test]
fn a_tiny_pretraining_run_stops_resumes_and_exports_a_loadable_backbone() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = tiny_config(tmp.path());
    config.name = "pre".into();
    config.optim.epochs = 4;
    config.optim.lr_backbone = 1e-3;
    let export = tmp.path().join("exported");
    // Log-mel targets here (40 values per frame, the centroids' shape checked again on resume); MFCC targets,
    // the default, differ only in the frame features (unit-tested in data::mfcc).
    config.pretrain = Some(tiny_pretraining(Some(export.clone()), "f16"));
    config.validate().unwrap();

    // Stopped after its first steps, then continued.
    let handle = Engine::launch(config).unwrap();
    let dir = handle.dir.clone();
    for rec in handle.events().iter() {
        if let RunEvent::Step { step: 3, .. } = rec.event {
            handle.stop();
        }
    }
    assert_eq!(handle.join().status, EndStatus::Stopped);
    assert!(dir.join("checkpoints/kmeans.safetensors").is_file());
    let outcome = Engine::resume(&dir).unwrap().join();
    assert_eq!(outcome.status, EndStatus::Finished, "{}", outcome.message);

    let run = load_dir(&dir);
    assert_eq!(run.status, RunStatus::Finished);
    assert_eq!(run.method(), "pretrain");
    let steps: Vec<(u64, f64, f64)> = run
        .events
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::Step { step, loss, accuracy, .. } => Some((*step, *loss, accuracy.unwrap_or(-1.0))),
            _ => None,
        })
        .collect();
    assert_eq!(steps.last().map(|s| s.0), Some(run.summary.steps));
    assert!(steps.iter().all(|(_, l, a)| l.is_finite() && (0.0..=1.0).contains(a)));
    assert!(run.events.iter().any(|r| matches!(r.event, RunEvent::Resumed { .. })));
    for folder in [dir.join("backbone"), export] {
        let backbone = load_backbone::<burn::backend::Flex>(&folder, &Default::default()).unwrap();
        assert_eq!(backbone.num_layers(), 4, "{}", folder.display());
    }
}
