//! A run's headline figures, derived from its events by one function used both by the writer (to save
//! `summary.json`) and by the store (for runs that never wrote one, e.g. crashed or still running).

use super::events::{EndStatus, EventRecord, RunEvent};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its process is alive and writing.
    Running,
    Finished,
    Stopped,
    Failed,
    /// Its process died without writing an end event.
    Crashed,
    /// Submitted to a scheduler and not started yet: a folder with its config and job record, no event.
    Queued,
}

impl From<EndStatus> for RunStatus {
    fn from(s: EndStatus) -> Self {
        match s {
            EndStatus::Finished => RunStatus::Finished,
            EndStatus::Stopped => RunStatus::Stopped,
            EndStatus::Failed => RunStatus::Failed,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Crashed => "crashed",
            RunStatus::Queued => "queued",
        };
        f.write_str(s)
    }
}

/// The trainable share in percent, as adaptsv defines it everywhere (CLI, GUI, summaries): trainable ÷ all
/// parameters with the speaker classifier (always trainable, discarded for verification) left out of both.
pub fn trainable_share(trainable: u64, total: u64, classifier: u64) -> Option<f64> {
    (total > classifier).then(|| 100.0 * trainable.saturating_sub(classifier) as f64 / (total - classifier) as f64)
}

/// Final (or latest) figures of a run, as saved in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub run_id: String,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_utc: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub device: String,
    /// Optimiser steps taken.
    pub steps: u64,
    pub epochs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_params: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainable_params: Option<u64>,
    /// Parameters of the speaker classifier, included in the two counts above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_params: Option<u64>,
    /// The run's own trial list (file name), as of its latest evaluation on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<String>,
    /// Latest EER (fraction) on the run's own trial list and the step it was measured at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eer: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eer_step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_eer: Option<f64>,
    #[serde(default)]
    pub min_dcf: BTreeMap<String, f64>,
    /// The latest evaluation on each other trial list, by its label (`eval --run DIR --trials FILE [--label L]`,
    /// or `eval.lists` during training). Never folded into `eer` / `min_dcf`, which are the run's own list's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<String, ListEval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<String>,
    /// Size of the last checkpoint in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_bytes: Option<u64>,
    /// Training files that could not be used (each named in a `skipped_file` event and the log).
    #[serde(default)]
    pub skipped_files: u64,
    /// Seconds from the first event to the last of training (evaluations appended after the run ended do not
    /// count: they are another session's work, an idle gap before them).
    #[serde(default)]
    pub seconds: f64,
    /// Mean training throughput of the last epoch (utterance crops per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_per_sec: Option<f64>,
}

/// A run's latest evaluation on one trial list other than its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEval {
    /// The trial list's file name.
    pub trials: String,
    pub step: u64,
    /// Equal error rate as a fraction.
    pub eer: f64,
    #[serde(default)]
    pub min_dcf: BTreeMap<String, f64>,
    pub n_target: u64,
    pub n_nontarget: u64,
}

impl Summary {
    /// Folds a run's events into its figures. `status` is decided by the caller (it needs the lock as well).
    pub fn from_events(run_id: &str, status: RunStatus, events: &[EventRecord]) -> Self {
        let mut s = Summary {
            run_id: run_id.to_string(),
            status,
            started_utc: None,
            ended_utc: None,
            message: String::new(),
            device: String::new(),
            steps: 0,
            epochs: 0.0,
            classifier_params: None,
            final_loss: None,
            total_params: None,
            trainable_params: None,
            trials: None,
            eer: None,
            eer_step: None,
            best_eer: None,
            min_dcf: BTreeMap::new(),
            lists: BTreeMap::new(),
            last_checkpoint: None,
            checkpoint_bytes: None,
            skipped_files: 0,
            seconds: 0.0,
            samples_per_sec: None,
        };
        let mut skipped = std::collections::BTreeSet::new();
        // Whether the run has ended (and not been resumed since): events then are evaluations done afterwards.
        let mut ended = false;
        for rec in events {
            match &rec.event {
                RunEvent::Started {
                    device,
                    total_params,
                    trainable_params,
                    ..
                } => {
                    s.started_utc = Some(rec.utc.clone());
                    s.device = device.clone();
                    s.total_params = *total_params;
                    s.trainable_params = *trainable_params;
                }
                RunEvent::Model {
                    total_params,
                    trainable_params,
                    classifier_params,
                    ..
                } => {
                    s.total_params = Some(*total_params);
                    s.trainable_params = Some(*trainable_params);
                    s.classifier_params = Some(*classifier_params);
                }
                RunEvent::Step { step, epoch, loss, .. } => {
                    s.steps = *step;
                    s.epochs = *epoch;
                    s.final_loss = Some(*loss);
                }
                RunEvent::Eval {
                    step,
                    trials,
                    list: Some(label),
                    eer,
                    min_dcf,
                    n_target,
                    n_nontarget,
                    ..
                } => {
                    s.lists.insert(
                        label.clone(),
                        ListEval {
                            trials: trials.clone(),
                            step: *step,
                            eer: *eer,
                            min_dcf: min_dcf.clone(),
                            n_target: *n_target,
                            n_nontarget: *n_nontarget,
                        },
                    );
                }
                RunEvent::Eval {
                    step,
                    trials,
                    eer,
                    min_dcf,
                    list: None,
                    ..
                } => {
                    s.trials = Some(trials.clone());
                    s.eer = Some(*eer);
                    s.eer_step = Some(*step);
                    s.best_eer = Some(s.best_eer.map_or(*eer, |b| b.min(*eer)));
                    s.min_dcf = min_dcf.clone();
                }
                RunEvent::Checkpoint { path, bytes, .. } => {
                    s.last_checkpoint = Some(path.clone());
                    s.checkpoint_bytes = Some(*bytes);
                }
                RunEvent::Epoch { samples_per_sec, .. } => s.samples_per_sec = Some(*samples_per_sec),
                RunEvent::Resumed { step, epoch, .. } => {
                    ended = false;
                    s.steps = *step;
                    s.epochs = *epoch;
                    s.ended_utc = None;
                    s.message.clear();
                }
                RunEvent::SkippedFile { path, .. } => {
                    skipped.insert(path.clone());
                    s.skipped_files = skipped.len() as u64;
                }
                RunEvent::Ended { message, .. } => {
                    ended = true;
                    s.ended_utc = Some(rec.utc.clone());
                    s.message = message.clone();
                }
                RunEvent::Progress { .. }
                | RunEvent::LayerWeights { .. }
                | RunEvent::Peers { .. }
                | RunEvent::Log { .. }
                | RunEvent::Status { .. } => {}
            }
            if !(ended && matches!(rec.event, RunEvent::Eval { .. } | RunEvent::Progress { .. } | RunEvent::Log { .. })) {
                s.seconds = s.seconds.max(rec.t);
            }
        }
        s
    }

    /// Trainable share of all parameters, in percent.
    /// The trainable share, as adaptsv defines it everywhere: trainable ÷ all parameters, the speaker
    /// classifier left out of both (verification discards it).
    pub fn trainable_percent(&self) -> Option<f64> {
        trainable_share(self.trainable_params?, self.total_params?, self.classifier_params.unwrap_or(0))
    }
}



#[cfg(test)]
mod tests {
    use super::*;

    fn eval(t: f64, step: u64, eer: f64, list: Option<&str>) -> EventRecord {
        EventRecord {
            t,
            utc: String::new(),
            event: RunEvent::Eval {
                step,
                epoch: 1.0,
                trials: "trials.txt".into(),
                list: list.map(str::to_string),
                n_target: 2,
                n_nontarget: 8,
                eer,
                min_dcf: BTreeMap::from([("0.01".to_string(), eer * 2.0)]),
                det: Vec::new(),
                scores_file: None,
            },
        }
    }

    #[test]
    fn other_lists_and_later_evaluations_leave_the_runs_own_figures_and_time_alone() {
        let ended = EventRecord {
            t: 112.0,
            utc: String::new(),
            event: RunEvent::Ended { status: EndStatus::Finished, message: String::new(), step: Some(40) },
        };
        let events = vec![
            eval(100.0, 40, 0.156, None),
            eval(105.0, 40, 0.30, Some("vox1-E")),
            ended,
            // Two hours later, on another corpus.
            eval(7300.0, 40, 0.287, Some("/data/other/trials.txt")),
        ];
        let s = Summary::from_events("r", RunStatus::Finished, &events);
        assert_eq!((s.eer, s.best_eer, s.eer_step), (Some(0.156), Some(0.156), Some(40)));
        assert_eq!(s.min_dcf["0.01"], 0.312);
        assert_eq!(s.seconds, 112.0);
        assert_eq!(s.lists.len(), 2);
        assert_eq!(s.lists["vox1-E"].eer, 0.30);
        assert_eq!(s.lists["/data/other/trials.txt"].eer, 0.287);
        assert_eq!(s.lists["vox1-E"].n_nontarget, 8);
        // An evaluation of its own list afterwards updates its figures, still not its time.
        let mut later = events.clone();
        later.push(eval(7400.0, 40, 0.150, None));
        let s = Summary::from_events("r", RunStatus::Finished, &later);
        assert_eq!((s.eer, s.seconds), (Some(0.150), 112.0));
    }
}
