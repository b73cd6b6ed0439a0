//! The event schema: what a run reports, as it happens, to the GUI (over a channel) and to `metrics.jsonl`.
//!
//! Each line of `metrics.jsonl` is one [`EventRecord`]: `{"t": <seconds since start>, "utc": "...",
//! "event": "<kind>", ...fields}`. The same records travel over a crossbeam channel to the GUI, so a run
//! reloaded from disk and a run watched live are drawn by the same code. New kinds may be added; readers skip
//! kinds they do not know (and report them) rather than failing.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One timestamped event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Seconds since the run started.
    pub t: f64,
    /// Wall-clock time, RFC 3339 UTC.
    pub utc: String,
    #[serde(flatten)]
    pub event: RunEvent,
}

/// How a run ended, as written by the run itself. A run that never writes one has crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndStatus {
    /// Ran to its last step.
    Finished,
    /// Stopped on request; everything up to the stop is kept.
    Stopped,
    /// Ended by an error it could report (the message says which).
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// First event of every run.
    Started {
        run_id: String,
        /// The device as configured (`cpu`, `cuda:0`) and as probed.
        device: String,
        host: String,
        pid: u32,
        /// Parameter counts, once the model is built.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_params: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trainable_params: Option<u64>,
    },
    /// The model is built: its parameter counts (PyTorch's definition: batch-norm statistics excluded) and the
    /// trainable count per learning-rate group.
    Model {
        total_params: u64,
        trainable_params: u64,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        groups: BTreeMap<String, u64>,
        /// Training speakers (the classifier's classes).
        #[serde(default)]
        speakers: u64,
        /// Optimiser steps the run will take in all (epochs × steps per epoch, capped by `optim.max_steps`).
        #[serde(default)]
        total_steps: u64,
        /// Parameters of the speaker classifier (included in both counts above; verification discards it, so
        /// the trainable share leaves it out: see [`crate::runs::Summary::trainable_percent`]).
        #[serde(default)]
        classifier_params: u64,
    },
    /// Long work (indexing, loading, extracting embeddings) reporting how far it is.
    Progress {
        stage: String,
        done: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    /// One optimiser step.
    Step {
        step: u64,
        /// Fractional epoch (1.5 = half-way through the second epoch).
        epoch: f64,
        loss: f64,
        /// Learning rate of the adapter group at this step.
        lr: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accuracy: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        margin: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        samples_per_sec: Option<f64>,
        /// Learning rate per parameter group (`backbone`, `adapters`, `aggregation`, `head`) that trains.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        lrs: BTreeMap<String, f64>,
        /// Global L2 norm of all gradients before clipping.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grad_norm: Option<f64>,
        /// Estimated seconds until the last step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eta_seconds: Option<f64>,
    },
    /// One finished epoch (1-based): means over its steps.
    Epoch {
        epoch: u64,
        step: u64,
        loss: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accuracy: Option<f64>,
        seconds: f64,
        samples_per_sec: f64,
    },
    /// The run continues from a checkpoint (after a stop or a crash); step events after `step` written before
    /// this event belong to the lost attempt and are superseded by the ones that follow.
    Resumed {
        step: u64,
        epoch: f64,
        checkpoint: String,
    },
    /// Training paused or running again (on request).
    Status {
        state: LiveState,
        step: u64,
    },
    /// A training file that could not be used (it is skipped and replaced).
    SkippedFile {
        path: String,
        reason: String,
    },
    /// The current softmax layer-aggregation weights, index 0 = the CNN/projection output.
    LayerWeights {
        step: u64,
        weights: Vec<f64>,
    },
    /// One evaluation on a trial list.
    Eval {
        step: u64,
        epoch: f64,
        /// The trial list's file name.
        trials: String,
        /// The label of a trial list other than the run's own (e.g. `vox1-E`, or the list's path as given);
        /// absent for the run's own list. Figures of different lists are never mixed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        list: Option<String>,
        n_target: u64,
        n_nontarget: u64,
        /// Equal error rate as a fraction (0.021 = 2.1 %).
        eer: f64,
        /// Normalised minDCF keyed by p_target as written ("0.01").
        min_dcf: BTreeMap<String, f64>,
        /// DET points (p_fa, p_miss) reduced for plotting.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        det: Vec<[f64; 2]>,
        /// Score file, relative to the run folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scores_file: Option<String>,
    },
    /// How the peers of a data-parallel run (this node's) spent the steps since the last report, one entry per
    /// peer in peer order.
    Peers { step: u64, peers: Vec<PeerLoad> },
    /// A checkpoint was written (path relative to the run folder).
    Checkpoint {
        step: u64,
        path: String,
        bytes: u64,
        /// What it holds: `trainable` (adapters, head, …: what trains) or `full` (the whole model).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        contents: String,
    },
    Log {
        level: LogLevel,
        message: String,
    },
    /// Last event of a run that ended on its own terms.
    Ended {
        status: EndStatus,
        message: String,
        /// The last step taken (for `failed`: the step that failed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<u64>,
    },
}

/// One data-parallel peer's share of the recent steps (means per optimiser step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerLoad {
    /// The device as configured (`cpu`, `cuda:1`).
    pub device: String,
    /// Seconds computing (forward, backward, update) per step.
    pub compute_seconds: f64,
    /// Seconds waiting in the all-reduce for the other peers per step (the slowest peer waits least).
    pub wait_seconds: f64,
    /// Crops this peer computed per second of its computing.
    pub crops_per_sec: f64,
}

/// Whether a live run is training or paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    Paused,
    Running,
}

impl RunEvent {
    /// The `event` tag as written in `metrics.jsonl`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunEvent::Started { .. } => "started",
            RunEvent::Model { .. } => "model",
            RunEvent::Progress { .. } => "progress",
            RunEvent::Step { .. } => "step",
            RunEvent::LayerWeights { .. } => "layer_weights",
            RunEvent::Eval { .. } => "eval",
            RunEvent::Epoch { .. } => "epoch",
            RunEvent::Resumed { .. } => "resumed",
            RunEvent::Status { .. } => "status",
            RunEvent::SkippedFile { .. } => "skipped_file",
            RunEvent::Peers { .. } => "peers",
            RunEvent::Checkpoint { .. } => "checkpoint",
            RunEvent::Log { .. } => "log",
            RunEvent::Ended { .. } => "ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_serialise_flat_with_an_event_tag() {
        let rec = EventRecord {
            t: 1.5,
            utc: "2026-11-27T10:15:00Z".into(),
            event: RunEvent::Step {
                step: 3,
                epoch: 0.25,
                loss: 2.5,
                lr: 1e-3,
                accuracy: None,
                margin: Some(0.2),
                samples_per_sec: None,
                lrs: BTreeMap::new(),
                grad_norm: None,
                eta_seconds: None,
            },
        };
        let line = serde_json::to_string(&rec).unwrap();
        assert!(line.contains("\"event\":\"step\""), "{line}");
        assert!(!line.contains("accuracy"), "{line}");
        let back: EventRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, rec);
    }
}
