//! The app's picture of the runs: for each run folder its events and the series drawn from them, kept up to
//! date incrementally from two sources merged by line number of `metrics.jsonl`: the watcher's file reads (every
//! run, any process) and, for runs this app launched, the engine's channel (no disk round trip). Nothing here
//! reads a file: the watcher and the engine deliver, this module folds.

use super::run_watcher::{RunDelta, WatchMsg};
use crate::config::ExperimentConfig;
use crate::runs::{Damage, EventRecord, LiveState, LogLevel, Notes, RunEvent, RunFilter, RunStatus, Summary};
use std::path::{Path, PathBuf};

/// One optimiser step as plotted.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    pub step: u64,
    pub epoch: f64,
    /// Seconds since the run started.
    pub t: f64,
    pub loss: f64,
    pub accuracy: Option<f64>,
    pub samples_per_sec: Option<f64>,
    pub eta_seconds: Option<f64>,
}

/// A log line: seconds since start, level, text.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub t: f64,
    pub level: LogLevel,
    pub message: String,
}

/// One evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    pub step: u64,
    pub epoch: f64,
    pub trials: String,
    /// The label of a trial list other than the run's own (`None`: the run's own).
    pub list: Option<String>,
    pub eer: f64,
    pub min_dcf: std::collections::BTreeMap<String, f64>,
    pub det: Vec<[f64; 2]>,
}

pub struct RunView {
    pub id: String,
    pub dir: PathBuf,
    pub status: RunStatus,
    pub config: Option<ExperimentConfig>,
    pub events: Vec<EventRecord>,
    /// The next line of `metrics.jsonl` not yet folded in.
    next_line: usize,
    pub steps: Vec<StepRow>,
    /// Learning-rate groups seen, and per group its rate at each step (aligned with `steps`; NaN where absent).
    pub lr_groups: Vec<String>,
    pub lrs: Vec<Vec<f64>>,
    /// Layer-aggregation weights over training: `(step, weights)`.
    pub layer_weights: Vec<(u64, Vec<f64>)>,
    pub evals: Vec<EvalRow>,
    pub log: Vec<LogLine>,
    pub summary: Summary,
    file_summary: Option<Summary>,
    pub damage: Vec<Damage>,
    pub total_steps: Option<u64>,
    pub paused: bool,
    /// The `started` event's host.
    pub host: Option<String>,
    /// A data-parallel run's peers as last reported (`peers` event), with the step of the report.
    pub peers: Option<(u64, Vec<crate::runs::PeerLoad>)>,
    /// Tags and note (`notes.jsonl`), as the watcher last read them.
    pub notes: Notes,
    /// The config as dotted keys, made once it is known (Compare's config columns and grouping).
    flat: std::cell::OnceCell<std::collections::BTreeMap<String, String>>,
    dirty: bool,
}

/// The text field of a run filter ([`RunView::matches`]), as Monitor's list and Compare's table show it.
pub fn filter_edit(ui: &mut eframe::egui::Ui, filter: &mut String, hint: &str, width: f32) {
    ui.add(eframe::egui::TextEdit::singleline(filter).hint_text(hint).desired_width(width))
        .on_hover_text("show the runs whose folder name, method, status, tags or note contain every word; #tag: the runs with that tag");
}

impl RunView {
    pub fn new(dir: &Path) -> Self {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            summary: Summary::from_events(&id, RunStatus::Running, &[]),
            id,
            dir: dir.to_path_buf(),
            status: RunStatus::Running,
            config: None,
            events: Vec::new(),
            next_line: 0,
            steps: Vec::new(),
            lr_groups: Vec::new(),
            lrs: Vec::new(),
            layer_weights: Vec::new(),
            evals: Vec::new(),
            log: Vec::new(),
            file_summary: None,
            damage: Vec::new(),
            total_steps: None,
            paused: false,
            host: None,
            peers: None,
            notes: Notes::default(),
            flat: std::cell::OnceCell::new(),
            dirty: false,
        }
    }

    /// Whether this run is shown under `filter` (Monitor's list, Compare's table; [`RunFilter`]: every word in
    /// the folder name, method, status, tags or note, `#tag` a tag the run has).
    pub fn matches(&self, filter: &RunFilter) -> bool {
        filter.matches(&self.id, self.method(), self.status, &self.notes)
    }

    /// The config's name, or the folder name when the config is unreadable.
    /// The config as `dotted.key → value` (`runs::group::flatten`); empty while the config is unknown.
    pub fn flat_config(&self) -> &std::collections::BTreeMap<String, String> {
        static EMPTY: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        match &self.config {
            Some(c) => self.flat.get_or_init(|| crate::runs::group::flatten(c)),
            None => &EMPTY,
        }
    }

    pub fn name(&self) -> &str {
        self.config.as_ref().map(|c| c.name.as_str()).unwrap_or(&self.id)
    }

    /// The adaptation method as written in the config, `?` when it is unreadable.
    pub fn method(&self) -> &'static str {
        match &self.config {
            Some(c) if c.pretrain.is_some() => "pretrain",
            Some(c) => c.adaptation.method.name(),
            None => "?",
        }
    }

    /// The device as configured.
    pub fn device(&self) -> Option<&str> {
        self.config.as_ref().map(|c| c.device.as_str())
    }

    /// The latest evaluation with a DET curve.
    pub fn latest_det(&self) -> Option<&EvalRow> {
        self.evals.iter().rev().find(|e| e.list.is_none() && !e.det.is_empty())
    }

    /// The latest evaluation with a DET curve on each trial list other than the run's own, by label.
    pub fn latest_list_dets(&self) -> Vec<&EvalRow> {
        let mut seen = std::collections::BTreeMap::new();
        for e in self.evals.iter().filter(|e| !e.det.is_empty()) {
            if let Some(label) = &e.list {
                seen.insert(label.as_str(), e);
            }
        }
        seen.into_values().collect()
    }

    /// The trial lists this run was evaluated on, its own (`None`) first, then the others by label.
    pub fn eval_lists(&self) -> Vec<Option<&str>> {
        let mut lists: Vec<Option<&str>> = Vec::new();
        for e in &self.evals {
            if !lists.contains(&e.list.as_deref()) {
                lists.push(e.list.as_deref());
            }
        }
        lists.sort();
        lists
    }

    /// Folds in the event on line `line` of `metrics.jsonl`, unless it is already in.
    pub fn push(&mut self, line: usize, rec: EventRecord) {
        if line < self.next_line {
            return;
        }
        self.next_line = line + 1;
        self.fold(&rec);
        self.events.push(rec);
        self.dirty = true;
    }

    fn fold(&mut self, rec: &EventRecord) {
        match &rec.event {
            RunEvent::Started { host, .. } => self.host = Some(host.clone()),
            RunEvent::Model { total_steps, .. } if *total_steps > 0 => self.total_steps = Some(*total_steps),
            RunEvent::Step {
                step,
                epoch,
                loss,
                accuracy,
                samples_per_sec,
                lrs,
                lr,
                eta_seconds,
                ..
            } => {
                self.steps.push(StepRow {
                    step: *step,
                    epoch: *epoch,
                    t: rec.t,
                    loss: *loss,
                    accuracy: *accuracy,
                    samples_per_sec: *samples_per_sec,
                    eta_seconds: *eta_seconds,
                });
                let n = self.steps.len();
                let owned;
                let rates = if lrs.is_empty() {
                    owned = [("adapters".to_string(), *lr)].into_iter().collect();
                    &owned
                } else {
                    lrs
                };
                for (group, value) in rates {
                    let i = match self.lr_groups.iter().position(|g| g == group) {
                        Some(i) => i,
                        None => {
                            self.lr_groups.push(group.clone());
                            self.lrs.push(Vec::new());
                            self.lr_groups.len() - 1
                        }
                    };
                    self.lrs[i].resize(n - 1, f64::NAN);
                    self.lrs[i].push(*value);
                }
            }
            RunEvent::LayerWeights { step, weights } => self.layer_weights.push((*step, weights.clone())),
            RunEvent::Peers { step, peers } => self.peers = Some((*step, peers.clone())),
            RunEvent::Eval {
                step,
                epoch,
                trials,
                list,
                eer,
                min_dcf,
                det,
                ..
            } => self.evals.push(EvalRow {
                step: *step,
                epoch: *epoch,
                trials: trials.clone(),
                list: list.clone(),
                eer: *eer,
                min_dcf: min_dcf.clone(),
                det: det.clone(),
            }),
            RunEvent::Resumed { step, checkpoint, .. } => {
                // Steps after the checkpoint belong to the lost attempt.
                let keep = self.steps.partition_point(|r| r.step <= *step);
                self.steps.truncate(keep);
                for lr in &mut self.lrs {
                    lr.truncate(keep);
                }
                self.layer_weights.retain(|(s, _)| s <= step);
                self.paused = false;
                self.log_line(rec.t, LogLevel::Info, format!("resumed from {checkpoint} (step {step})"));
            }
            RunEvent::Status { state, .. } => self.paused = *state == LiveState::Paused,
            RunEvent::Log { level, message } => self.log_line(rec.t, *level, message.clone()),
            RunEvent::SkippedFile { path, reason } => {
                self.log_line(rec.t, LogLevel::Warn, format!("skipped {path}: {reason}"))
            }
            RunEvent::Ended { status, message, .. } => {
                let level = if *status == crate::runs::EndStatus::Failed {
                    LogLevel::Error
                } else {
                    LogLevel::Info
                };
                self.paused = false;
                self.log_line(rec.t, level, format!("ended {status:?}: {message}").to_lowercase());
            }
            _ => {}
        }
    }

    fn log_line(&mut self, t: f64, level: LogLevel, message: String) {
        self.log.push(LogLine { t, level, message });
    }

    /// Applies a watcher delta.
    pub fn apply(&mut self, delta: RunDelta) {
        if let Some(config) = delta.config {
            self.config = config;
        }
        if delta.reset {
            let config = self.config.take();
            let notes = std::mem::take(&mut self.notes);
            *self = RunView::new(&self.dir.clone());
            self.config = config;
            self.notes = notes;
        }
        if let Some(notes) = delta.notes {
            self.notes = notes;
        }
        for (line, rec) in delta.records {
            self.push(line, rec);
        }
        if delta.status != self.status {
            self.status = delta.status;
            self.dirty = true;
        }
        if delta.summary_file.is_some() {
            self.file_summary = delta.summary_file;
            self.dirty = true;
        }
        if self.status == RunStatus::Running {
            self.file_summary = None;
        }
        self.damage.extend(delta.damage);
    }

    /// Recomputes the summary after a batch of changes (once per batch, not per event).
    pub fn settle(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let derived = Summary::from_events(&self.id, self.status, &self.events);
        self.summary = match (&self.file_summary, self.status) {
            (Some(s), status) if status != RunStatus::Running => Summary {
                status,
                ..s.clone()
            },
            _ => derived,
        };
    }
}

/// Every run the app knows, oldest first.
#[derive(Default)]
pub struct RunSet {
    pub runs: Vec<RunView>,
    /// Roots that cannot be read.
    pub errors: Vec<String>,
    /// This machine's host name, once the watcher said.
    pub local_host: Option<String>,
}

impl RunSet {
    pub fn get(&self, dir: &Path) -> Option<&RunView> {
        self.runs.iter().find(|r| r.dir == dir)
    }

    pub fn get_mut_or_insert(&mut self, dir: &Path) -> &mut RunView {
        let i = match self.runs.iter().position(|r| r.dir == dir) {
            Some(i) => i,
            None => {
                self.runs.push(RunView::new(dir));
                self.runs.len() - 1
            }
        };
        &mut self.runs[i]
    }

    /// Applies a watcher message; `live` names runs this app trains (kept even before the watcher lists them).
    pub fn apply(&mut self, msg: WatchMsg, live: &[PathBuf]) {
        match msg {
            WatchMsg::Listing { dirs, errors, host } => {
                self.errors = errors;
                self.local_host = Some(host);
                self.runs.retain(|r| dirs.contains(&r.dir) || live.contains(&r.dir));
                for d in &dirs {
                    self.get_mut_or_insert(d);
                }
                // The watcher's order: roots in turn, folders by name (UTC timestamp first).
                self.runs.sort_by_key(|r| {
                    dirs.iter().position(|d| *d == r.dir).unwrap_or(usize::MAX)
                });
            }
            WatchMsg::Run(delta) => {
                let dir = delta.dir.clone();
                self.get_mut_or_insert(&dir).apply(*delta);
            }
        }
    }

    /// Recomputes summaries after a batch of changes.
    pub fn settle(&mut self) {
        for r in &mut self.runs {
            r.settle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_needs_every_word_in_the_name_method_status_tags_or_note() {
        let mut config = crate::config::ExperimentConfig::builtin_default();
        config.adaptation.method = crate::config::Method::Frozen;
        let mut run = RunView::new(std::path::Path::new("/runs/20261203T095044Z-frozen-long-pretrained-long-seed-42"));
        run.config = Some(config);
        run.status = crate::runs::RunStatus::Crashed;
        for shown in ["", "  ", "seed-42", "FROZEN seed", "crashed", "frozen crashed 42", "pretrained"] {
            assert!(run.matches(&RunFilter::parse(shown)), "{shown:?}");
        }
        for hidden in ["paper", "seed-43", "frozen finished", "lora"] {
            assert!(!run.matches(&RunFilter::parse(hidden)), "{hidden:?}");
        }
    }

    fn rec(t: f64, event: RunEvent) -> EventRecord {
        EventRecord {
            t,
            utc: "2026-12-03T00:00:00Z".into(),
            event,
        }
    }

    fn step(s: u64) -> RunEvent {
        RunEvent::Step {
            step: s,
            epoch: s as f64 / 10.0,
            loss: 10.0 - s as f64,
            lr: 1e-3,
            accuracy: None,
            margin: None,
            samples_per_sec: Some(5.0),
            lrs: [("adapters".to_string(), 1e-3), ("head".to_string(), 2e-3)].into_iter().collect(),
            grad_norm: None,
            eta_seconds: None,
        }
    }

    #[test]
    fn merges_two_sources_by_line_and_drops_a_lost_attempt_on_resume() {
        let mut v = RunView::new(Path::new("/runs/x"));
        for s in 0..5 {
            v.push(s as usize, rec(s as f64, step(s + 1)));
        }
        // The same lines again (the watcher after the channel): ignored.
        for s in 0..5 {
            v.push(s as usize, rec(s as f64, step(s + 1)));
        }
        assert_eq!(v.steps.len(), 5);
        assert_eq!(v.lr_groups, vec!["adapters", "head"]);
        assert!(v.lrs.iter().all(|l| l.len() == 5));
        v.push(
            5,
            rec(
                6.0,
                RunEvent::Resumed {
                    step: 3,
                    epoch: 0.3,
                    checkpoint: "checkpoints/step-3".into(),
                },
            ),
        );
        assert_eq!(v.steps.iter().map(|r| r.step).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(v.lrs.iter().all(|l| l.len() == 3));
        v.push(6, rec(7.0, step(4)));
        assert_eq!(v.steps.len(), 4);
        v.settle();
        assert_eq!(v.summary.steps, 4);
    }
}
