//! Counts an experiment's parameters on a background thread whenever the config changes, so the Configure tab
//! can say "5.06 % trainable, 18.9 MB adapter checkpoint" without freezing the window while a 95M-parameter
//! model is built. Only the newest request is worked on; stale ones are dropped.

use crate::cli::params_cmd::{count, ParamReport};
use crate::config::ExperimentConfig;
use crossbeam_channel::{unbounded, Receiver, Sender};

/// Classes assumed for the classifier when only the share without the classifier is shown.
const PLACEHOLDER_SPEAKERS: usize = 2;

pub struct ParamCounter {
    requests: Sender<ExperimentConfig>,
    results: Receiver<(ExperimentConfig, Result<ParamReport, String>)>,
    /// The latest answer and the config it belongs to.
    pub latest: Option<(ExperimentConfig, Result<ParamReport, String>)>,
    pending: Option<ExperimentConfig>,
}

impl Default for ParamCounter {
    fn default() -> Self {
        let (requests, rx) = unbounded::<ExperimentConfig>();
        let (tx, results) = unbounded();
        std::thread::Builder::new()
            .name("param-counter".into())
            .spawn(move || {
                while let Ok(mut config) = rx.recv() {
                    // Skip to the newest request.
                    while let Ok(newer) = rx.try_recv() {
                        config = newer;
                    }
                    let report = count(&config, PLACEHOLDER_SPEAKERS).map_err(|e| format!("{e:#}"));
                    if tx.send((config, report)).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning a thread succeeds");
        Self {
            requests,
            results,
            latest: None,
            pending: None,
        }
    }
}

impl ParamCounter {
    /// Asks for the counts of `config` unless they are known or already asked for.
    pub fn request(&mut self, config: &ExperimentConfig) {
        let known = self.latest.as_ref().is_some_and(|(c, _)| c == config);
        if !known && self.pending.as_ref() != Some(config) {
            self.pending = Some(config.clone());
            let _ = self.requests.send(config.clone());
        }
    }

    /// Takes answers that arrived; true while a request is outstanding.
    pub fn poll(&mut self) -> bool {
        while let Ok(answer) = self.results.try_recv() {
            if self.pending.as_ref() == Some(&answer.0) {
                self.pending = None;
            }
            self.latest = Some(answer);
        }
        self.pending.is_some()
    }

    /// A one-line summary for `config`, if its counts are known.
    pub fn summary(&self, config: &ExperimentConfig) -> Option<Result<String, String>> {
        let (c, report) = self.latest.as_ref()?;
        if c != config {
            return None;
        }
        Some(match report {
            Ok(r) => Ok(format!(
                "{:.2} % of the model trainable without the classifier ({} of {} parameters) · adapter checkpoint {:.1} MB",
                r.trainable_percent_without_classifier(),
                r.total.trainable - r.classifier.trainable,
                r.total.total - r.classifier.total,
                r.checkpoint_bytes() as f64 / 1e6
            )),
            Err(e) => Err(e.clone()),
        })
    }
}
