//! Where a run's audio lies: for a corpus on disk, the folders the config names; for the built-in synthetic
//! corpus, `<run>/data/synthetic/`, written once (deterministically from its seed) and reused afterwards.

use super::EngineError;
use crate::config::{DataSource, ExperimentConfig};
use crate::data::synthetic::{write_corpus, SynthConfig};
use std::path::{Path, PathBuf};

/// The folders and trial list of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedData {
    /// Training corpus root.
    pub train_root: PathBuf,
    /// Root the trial list's utterance ids are relative to.
    pub eval_root: PathBuf,
    pub trials: PathBuf,
}

/// The synthetic corpus settings of a config (training speakers plus held-out test speakers).
pub fn synth_config(config: &ExperimentConfig) -> SynthConfig {
    let s = &config.data.synthetic;
    SynthConfig {
        test_speakers: s.test_speakers,
        trials_per_utterance: s.trials_per_utterance,
        ..SynthConfig::new(s.speakers + s.test_speakers, s.utterances, s.seconds as f32, s.seed)
    }
}

/// Locates (and for the synthetic corpus, writes if needed) the data of `config` for the run in `run_dir`.
pub fn prepare(
    config: &ExperimentConfig,
    run_dir: &Path,
    progress: Option<&mut dyn FnMut(usize, usize)>,
) -> Result<PreparedData, EngineError> {
    match config.data.source {
        DataSource::Corpus => {
            let missing = |key: &str| EngineError::BadRun {
                dir: run_dir.to_path_buf(),
                reason: format!("{key} is not set"),
            };
            let train_root = config.data.corpus.clone().ok_or_else(|| missing("data.corpus"))?;
            let trials = config.data.trials.clone().ok_or_else(|| missing("data.trials"))?;
            let eval_root = config.data.eval_corpus.clone().unwrap_or_else(|| train_root.clone());
            Ok(PreparedData {
                train_root,
                eval_root,
                trials,
            })
        }
        DataSource::Synthetic => {
            let out = run_dir.join("data").join("synthetic");
            let trials = out.join("trials.txt");
            if !trials.is_file() {
                write_corpus(&out, &synth_config(config), progress)?;
            }
            Ok(PreparedData {
                train_root: out.join("train"),
                eval_root: out.join("test"),
                trials,
            })
        }
    }
}

/// As [`prepare`] for a node other than 0 of a run over several nodes, which must not write the run folder: waits
/// up to `timeout` for node 0 to write the synthetic corpus (its trial list is written last).
pub fn wait_for_data(
    config: &ExperimentConfig,
    run_dir: &Path,
    timeout: std::time::Duration,
) -> Result<PreparedData, EngineError> {
    if config.data.source == DataSource::Synthetic {
        let trials = run_dir.join("data").join("synthetic").join("trials.txt");
        let until = std::time::Instant::now() + timeout;
        while !trials.is_file() {
            if std::time::Instant::now() > until {
                return Err(EngineError::BadRun {
                    dir: run_dir.to_path_buf(),
                    reason: format!(
                        "node 0 did not write the synthetic corpus ({}) within {} s",
                        trials.display(),
                        timeout.as_secs()
                    ),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    prepare(config, run_dir, None)
}
