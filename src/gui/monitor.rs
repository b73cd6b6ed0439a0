//! The Monitor tab: the run queue and the run list (newest first, word filter) on the left; for the selected run
//! (the newest until another is picked) its figures, controls
//! (pause / resume / stop, continue), its tags and note (`notes_edit`) and plots: loss and accuracy raw and smoothed against step, epoch or
//! wall time; learning rate per group; throughput; the layer-aggregation weights now (bars) and over training
//! (heat map); EER and minDCF per evaluation, the score calibration beside them (`calibration_panel`); the latest
//! DET curve with its EER point; the run's log.
//! Everything is drawn from the run's [`RunView`], so a run read from disk looks exactly like one watched live;
//! long series are reduced per pixel column before drawing.

use super::cluster::ClusterJobs;
use super::commands::UiCommand;
use super::decimate::min_max_per_column;
use super::det_plot::DetSeries;
use super::calibration_panel::CalibrationPanel;
use super::notes_edit::NotesEditor;
use super::png_export::PngExport;
use super::run_queue::RunQueue;
use super::run_view::{filter_edit, RunSet, RunView, StepRow};
use super::theme;
use crate::engine::RunHandle;
use crate::runs::{LogLevel, RunFilter, RunStatus};
use eframe::egui::{self, Color32, RichText, ScrollArea};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the series are plotted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum XAxis {
    Step,
    Epoch,
    /// Minutes since the run started.
    WallTime,
}

impl XAxis {
    pub fn of(self, r: &StepRow) -> f64 {
        match self {
            XAxis::Step => r.step as f64,
            XAxis::Epoch => r.epoch,
            XAxis::WallTime => r.t / 60.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            XAxis::Step => "step",
            XAxis::Epoch => "epoch",
            XAxis::WallTime => "wall time (min)",
        }
    }
}

pub struct MonitorPanel {
    pub selected: Option<PathBuf>,
    /// Words a run must match to be listed ([`RunView::matches`]).
    pub filter: String,
    /// A run folder the user asked to continue, taken by the app.
    pub resume_request: Option<PathBuf>,
    /// A run command (pause, resume, stop) asked from a button, taken by the app.
    pub command: Option<UiCommand>,
    /// Run folders whose Slurm jobs the user asked to cancel, taken by the app.
    pub cancel_request: Option<Vec<PathBuf>>,
    /// A run submitted to Slurm before that the user asked to submit again (to continue it there), taken by the app.
    pub resubmit_request: Option<PathBuf>,
    /// Exponential-moving-average factor for the smoothed series (TensorBoard's "smoothing").
    pub smoothing: f64,
    pub x_axis: XAxis,
    png: PngExport,
    /// The selected run's tags and note.
    pub notes: NotesEditor,
    /// The selected run's score calibration (`calibration.json`, and the form to make one).
    pub calibration: CalibrationPanel,
    /// The selected run's step series, rebuilt only when its events, the x axis or the smoothing change.
    series: Option<StepSeries>,
}

/// What the cached series were built from: run folder, events, x axis, smoothing.
type SeriesKey = (PathBuf, usize, XAxis, u64);

/// The per-step plots of one run, ready to draw.
struct StepSeries {
    key: SeriesKey,
    loss: Vec<Series>,
    accuracy: Vec<Series>,
    lr: Vec<Series>,
    throughput: Vec<Series>,
}

impl StepSeries {
    fn build(run: &RunView, x: XAxis, smoothing: f64, key: SeriesKey) -> Self {
        let raw_and_smoothed = |points: Vec<[f64; 2]>| {
            let smoothed = smooth(&points, smoothing);
            vec![
                Series { name: "raw".into(), points, color: Some(theme::MUTED) },
                Series { name: "smoothed".into(), points: smoothed, color: Some(theme::ACCENT) },
            ]
        };
        let loss = raw_and_smoothed(run.steps.iter().map(|r| [x.of(r), r.loss]).collect());
        let accuracy = raw_and_smoothed(run.steps.iter().filter_map(|r| Some([x.of(r), 100.0 * r.accuracy?])).collect());
        let throughput = raw_and_smoothed(run.steps.iter().filter_map(|r| Some([x.of(r), r.samples_per_sec?])).collect());
        let lr = run
            .lr_groups
            .iter()
            .zip(&run.lrs)
            .map(|(g, v)| Series {
                name: g.clone(),
                points: run
                    .steps
                    .iter()
                    .zip(v)
                    .filter(|(_, lr)| lr.is_finite() && **lr > 0.0)
                    .map(|(r, lr)| [x.of(r), lr.log10()])
                    .collect(),
                color: None,
            })
            .collect();
        Self { key, loss, accuracy, lr, throughput }
    }
}

impl Default for MonitorPanel {
    fn default() -> Self {
        Self {
            selected: None,
            filter: String::new(),
            resume_request: None,
            command: None,
            cancel_request: None,
            resubmit_request: None,
            smoothing: 0.9,
            x_axis: XAxis::Step,
            png: PngExport::default(),
            notes: NotesEditor::default(),
            calibration: CalibrationPanel::default(),
            series: None,
        }
    }
}

/// TensorBoard-style debiased exponential moving average.
pub fn smooth(points: &[[f64; 2]], factor: f64) -> Vec<[f64; 2]> {
    let mut avg = 0.0;
    let mut weight = 0.0;
    points
        .iter()
        .map(|&[x, y]| {
            avg = factor * avg + (1.0 - factor) * y;
            weight = factor * weight + (1.0 - factor);
            [x, avg / weight]
        })
        .collect()
}

/// A line of a [`series_plot`].
pub struct Series {
    pub name: String,
    pub points: Vec<[f64; 2]>,
    pub color: Option<Color32>,
}

/// Draws lines, each reduced to the plot's pixel columns over the visible x range; returns the plot's rect.
pub fn series_plot(ui: &mut egui::Ui, id: &str, x_label: &str, y_label: &str, series: &[Series], height: f32) -> egui::Rect {
    Plot::new(id)
        // The wheel scrolls the page; Ctrl + wheel zooms the plot.
        .allow_scroll(false)
        .height(height)
        .legend(Legend::default())
        .x_axis_label(x_label)
        .y_axis_label(y_label)
        .show(ui, |p| {
            let bounds = p.plot_bounds();
            let auto_x = p.auto_bounds().x;
            let columns = p.transform().frame().width().max(1.0) as usize;
            for s in series {
                let (Some(first), Some(last)) = (s.points.first(), s.points.last()) else {
                    continue;
                };
                let (lo, hi) = if auto_x {
                    (first[0], last[0])
                } else {
                    (bounds.min()[0], bounds.max()[0])
                };
                let pts = min_max_per_column(&s.points, lo, hi, columns);
                let mut line = Line::new(s.name.clone(), PlotPoints::from(pts));
                if let Some(c) = s.color {
                    line = line.color(c);
                }
                p.line(line);
            }
        })
        .response
        .rect
}

impl MonitorPanel {
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        runs: &RunSet,
        runs_root: &Path,
        live: &[&RunHandle],
        queue: &mut RunQueue,
        cluster: &ClusterJobs,
    ) {
        self.png.poll(ui.ctx());
        // Nothing (or a run since removed) selected: show the newest run (folder names start with their UTC start).
        if self.selected.as_ref().is_none_or(|d| runs.get(d).is_none()) {
            self.selected = runs.runs.iter().max_by(|a, b| a.id.cmp(&b.id)).map(|r| r.dir.clone());
        }
        egui::Panel::left("run_list")
            .default_size(theme::SIDE_PANEL_WIDTH)
            .show(ui, |ui| self.list_ui(ui, runs, runs_root, queue, cluster));
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(run) = self.selected.as_ref().and_then(|d| runs.get(d)) else {
                ui.label("Select a run on the left.");
                return;
            };
            let handle = live.iter().find(|h| h.dir == run.dir);
            self.header_ui(ui, run, handle.is_some());
            self.notes.ui(ui, run);
            self.job_ui(ui, run, cluster);
            self.axis_ui(ui);
            if let Some((msg, ok)) = &self.png.notice {
                ui.colored_label(if *ok { theme::OK } else { theme::ERROR }, msg);
            }
            ScrollArea::vertical().id_salt("monitor_scroll").show(ui, |ui| self.plots_ui(ui, run));
        });
    }

    fn list_ui(&mut self, ui: &mut egui::Ui, runs: &RunSet, runs_root: &Path, queue: &mut RunQueue, cluster: &ClusterJobs) {
        ui.heading("Runs");
        ui.weak(runs_root.display().to_string());
        ui.add_space(theme::GAP);
        self.cluster_ui(ui, runs, cluster);
        if !queue.entries.is_empty() {
            ui.strong("Queued");
            let mut remove = None;
            for e in &queue.entries {
                ui.horizontal(|ui| {
                    let label = format!("remove {} from the queue", e.name);
                    let r = ui.small_button("x").on_hover_text(&label);
                    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                    if r.clicked() {
                        remove = Some(e.ticket);
                    }
                    ui.label(&e.name);
                    ui.weak(format!("queued #{} on {}", queue.position(e.ticket).unwrap_or(0), e.device));
                });
            }
            if let Some(t) = remove {
                queue.remove(t);
            }
            ui.separator();
        }
        if runs.runs.is_empty() {
            ui.label("No runs yet. Launch one from Configure, or `adaptsv train --config FILE`.");
        } else {
            filter_edit(ui, &mut self.filter, "filter: name, method, status, #tag", f32::INFINITY);
            let filter = RunFilter::parse(&self.filter);
            let shown = runs.runs.iter().filter(|r| r.matches(&filter)).count();
            if shown < runs.runs.len() {
                ui.weak(format!("{shown} of {} runs", runs.runs.len()));
            }
        }
        let filter = RunFilter::parse(&self.filter);
        ScrollArea::vertical().show(ui, |ui| {
            for run in runs.runs.iter().rev().filter(|r| r.matches(&filter)) {
                let selected = self.selected.as_ref() == Some(&run.dir);
                if ui
                    .selectable_label(selected, &run.id)
                    .on_hover_text(run.dir.display().to_string())
                    .clicked()
                {
                    self.selected = Some(run.dir.clone());
                }
                let status = if run.paused && run.status == RunStatus::Running {
                    "paused".to_string()
                } else {
                    run.status.to_string()
                };
                ui.colored_label(theme::status_colour(run.status), format!("    {status} · {}", run.method()));
                if !run.notes.tags.is_empty() {
                    let tags: Vec<String> = run.notes.tags.iter().map(|t| format!("#{t}")).collect();
                    ui.weak(format!("    {}", tags.join(" ")));
                }
                if let Some(job) = cluster.line(&run.dir) {
                    ui.weak(format!("    {job}"));
                }
            }
        });
    }

    /// The runs whose Slurm jobs are pending or running, with their states, each with a cancel button.
    fn cluster_ui(&mut self, ui: &mut egui::Ui, runs: &RunSet, cluster: &ClusterJobs) {
        let active: Vec<&RunView> = runs.runs.iter().filter(|r| cluster.active(&r.dir)).collect();
        if let Some((msg, ok)) = &cluster.notice {
            ui.colored_label(if *ok { theme::OK } else { theme::ERROR }, msg);
        }
        if active.is_empty() {
            return;
        }
        ui.horizontal(|ui| {
            ui.strong(format!("On the cluster ({})", active.len()));
            if ui
                .small_button("Cancel all")
                .on_hover_text("scancel every job listed here: a running run stops after its step, with a checkpoint")
                .clicked()
            {
                self.cancel_request = Some(active.iter().map(|r| r.dir.clone()).collect());
            }
        });
        for run in &active {
            ui.horizontal(|ui| {
                let label = format!("cancel the Slurm job of {}", run.id);
                let r = ui.small_button("x").on_hover_text(&label);
                r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                if r.clicked() {
                    self.cancel_request = Some(vec![run.dir.clone()]);
                }
                if ui.selectable_label(self.selected.as_ref() == Some(&run.dir), run.name()).clicked() {
                    self.selected = Some(run.dir.clone());
                }
                ui.weak(cluster.line(&run.dir).unwrap_or_default());
            });
        }
        ui.separator();
    }

    /// The selected run's Slurm job, if it was submitted, with Cancel while it is pending or running.
    fn job_ui(&mut self, ui: &mut egui::Ui, run: &RunView, cluster: &ClusterJobs) {
        let Some(line) = cluster.line(&run.dir) else { return };
        ui.horizontal(|ui| {
            ui.label(format!("Slurm {line}"));
            if cluster.active(&run.dir) {
                if ui
                    .button("Cancel job")
                    .on_hover_text("scancel: a running run stops after its step, with a checkpoint; resubmit to continue")
                    .clicked()
                {
                    self.cancel_request = Some(vec![run.dir.clone()]);
                }
            } else if matches!(run.status, RunStatus::Stopped | RunStatus::Crashed | RunStatus::Failed | RunStatus::Queued)
                && ui
                    .button("Resubmit to Slurm")
                    .on_hover_text("submit it again (adaptsv train --resume DIR --slurm): the job continues from its newest checkpoint")
                    .clicked()
            {
                self.resubmit_request = Some(run.dir.clone());
            }
        });
    }

    fn header_ui(&mut self, ui: &mut egui::Ui, run: &RunView, live: bool) {
        let s = &run.summary;
        ui.horizontal(|ui| {
            ui.heading(run.name());
            let status = if run.paused && run.status == RunStatus::Running {
                "paused".to_string()
            } else {
                run.status.to_string()
            };
            ui.colored_label(theme::status_colour(run.status), RichText::new(status).strong());
            if live {
                for cmd in [UiCommand::PauseRun, UiCommand::ResumeRun, UiCommand::StopRun] {
                    let enabled = match cmd {
                        UiCommand::PauseRun => !run.paused,
                        UiCommand::ResumeRun => run.paused,
                        _ => true,
                    };
                    if ui
                        .add_enabled(enabled, egui::Button::new(cmd.label()))
                        .on_hover_text(cmd.hover_text(ui.ctx()))
                        .clicked()
                    {
                        self.command = Some(cmd);
                    }
                }
            }
            let resumable = matches!(run.status, RunStatus::Stopped | RunStatus::Crashed | RunStatus::Failed);
            if resumable
                && !live
                && ui
                    .button("Continue training")
                    .on_hover_text("Queue this run to resume from its newest checkpoint, to the end its config sets")
                    .clicked()
            {
                self.resume_request = Some(run.dir.clone());
            }
        });
        let last = run.steps.last();
        let mut facts = vec![run.id.clone()];
        facts.push(format!("device {}", if s.device.is_empty() { run.device().unwrap_or("?") } else { &s.device }));
        facts.push(match (last, run.total_steps) {
            (Some(r), Some(t)) => format!("step {} of {t} (epoch {:.2})", r.step, r.epoch),
            (Some(r), None) => format!("step {} (epoch {:.2})", r.step, r.epoch),
            (None, _) => "no step yet".into(),
        });
        if let Some(v) = last.and_then(|r| r.samples_per_sec) {
            facts.push(format!("{v:.1} crops/s"));
        }
        if run.status == RunStatus::Running {
            if let Some(eta) = last.and_then(|r| r.eta_seconds) {
                facts.push(format!("ETA {}", duration(eta)));
            }
        }
        if let Some(r) = last {
            facts.push(format!("{} elapsed", duration(r.t)));
        }
        if let Some(p) = s.trainable_percent() {
            facts.push(format!("{p:.2} % trainable"));
        }
        if let (Some(eer), Some(step)) = (s.eer, s.eer_step) {
            facts.push(format!("EER {:.2} % at step {step}", 100.0 * eer));
        }
        ui.label(facts.join(" · "));
        if let Some((step, peers)) = &run.peers {
            peers_ui(ui, *step, peers);
        }
        if !s.message.is_empty() {
            ui.label(&s.message);
        }
        for d in run.damage.iter().take(5) {
            ui.label(RichText::new(format!("! {d}")).color(theme::WARN));
        }
    }

    /// What the plots are drawn against, and how smoothed.
    fn axis_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("x axis:");
            for a in [XAxis::Step, XAxis::Epoch, XAxis::WallTime] {
                ui.selectable_value(&mut self.x_axis, a, a.label());
            }
            ui.separator();
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.999).text("smoothing"))
                .on_hover_text("debiased exponential moving average, as TensorBoard's");
        });
    }

    fn plots_ui(&mut self, ui: &mut egui::Ui, run: &RunView) {
        let x = self.x_axis;
        let h = theme::PLOT_HEIGHT;
        let key = (run.dir.clone(), run.events.len(), x, self.smoothing.to_bits());
        if self.series.as_ref().is_none_or(|c| c.key != key) {
            self.series = Some(StepSeries::build(run, x, self.smoothing, key));
        }
        let Some(series) = &self.series else { return };
        let png = &mut self.png;
        let calibration = &mut self.calibration;
        for (row, (left, right)) in [
            (("Training loss", "loss", &series.loss, "No training steps yet."), ("Training accuracy (%)", "accuracy (%)", &series.accuracy, "No accuracy reported yet.")),
            (
                ("Learning rate per group (log10)", "log10 learning rate", &series.lr, "No steps yet."),
                ("Throughput (training crops per second)", "crops/s", &series.throughput, "No throughput reported yet."),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            if row > 0 {
                ui.add_space(theme::GAP);
            }
            ui.columns(2, |cols| {
                for (col, (title, y_label, lines, empty)) in [left, right].into_iter().enumerate() {
                    let ui = &mut cols[col];
                    ui.strong(title);
                    if lines.iter().all(|l| l.points.is_empty()) {
                        ui.weak(empty);
                        continue;
                    }
                    let height = if row == 0 { h } else { h * 0.8 };
                    let rect = series_plot(ui, title, x.label(), y_label, lines, height);
                    png.button(ui, rect, y_label);
                }
            });
        }
        ui.add_space(theme::GAP);
        ui.columns(2, |cols| {
            cols[0].strong("Layer weights (softmax, latest)");
            match run.layer_weights.last() {
                None => {
                    cols[0].weak("No layer weights reported yet.");
                }
                Some((step, w)) => {
                    let bars: Vec<Bar> = w.iter().enumerate().map(|(i, &v)| Bar::new(i as f64, v).name(format!("h{i}"))).collect();
                    let rect = Plot::new("layer_weights")
                        // The wheel scrolls the page; Ctrl + wheel zooms the plot.
                        .allow_scroll(false)
                        .height(h * 0.8)
                        .x_axis_label(format!("hidden state (0 = CNN output) · step {step}"))
                        .y_axis_label("weight")
                        .show(&mut cols[0], |p| p.bar_chart(BarChart::new("weights", bars).color(theme::ACCENT)))
                        .response
                        .rect;
                    png.button(&mut cols[0], rect, "layer weights");
                }
            }
            cols[1].strong("Layer weights over training");
            if run.layer_weights.len() < 2 {
                cols[1].weak("The heat map needs two reports or more.");
            } else {
                let rect = heat_map(&mut cols[1], &run.layer_weights, h * 0.8);
                png.button(&mut cols[1], rect, "layer-weight history");
            }
        });
        ui.add_space(theme::GAP);
        ui.columns(2, |cols| {
            cols[0].strong("Evaluations");
            if run.evals.is_empty() {
                cols[0].weak("No evaluation yet.");
            } else {
                // One line per trial list: figures of different lists are never joined.
                let lists = run.eval_lists();
                let rect = Plot::new("eer")
                    // The wheel scrolls the page; Ctrl + wheel zooms the plot.
                    .allow_scroll(false)
                    .height(h * 0.6)
                    .x_axis_label("step")
                    .y_axis_label("EER (%)")
                    .legend(egui_plot::Legend::default())
                    .show(&mut cols[0], |p| {
                        for (i, list) in lists.iter().enumerate() {
                            let eers: Vec<[f64; 2]> = run
                                .evals
                                .iter()
                                .filter(|e| e.list.as_deref() == *list)
                                .map(|e| [e.step as f64, 100.0 * e.eer])
                                .collect();
                            let name = list.map_or("own trial list".to_string(), str::to_string);
                            // One colour for a list's line and points (and its legend entry), as on the DET.
                            let colour = super::det_plot::series_colour(i);
                            p.line(Line::new(name.clone(), PlotPoints::from(eers.clone())).color(colour));
                            p.points(Points::new(name, PlotPoints::from(eers)).radius(3.0).color(colour));
                        }
                    })
                    .response
                    .rect;
                png.button(&mut cols[0], rect, "EER");
                egui::Grid::new("evals").striped(true).show(&mut cols[0], |ui| {
                    for t in ["step", "epoch", "trials", "EER (%)", "minDCF 0.01", "minDCF 0.05"] {
                        ui.strong(t);
                    }
                    ui.end_row();
                    for e in run.evals.iter().rev() {
                        ui.label(e.step.to_string());
                        ui.label(format!("{:.2}", e.epoch));
                        match &e.list {
                            None => ui.label(&e.trials),
                            Some(label) => ui.label(format!("{label} ({})", e.trials)),
                        };
                        ui.label(format!("{:.2}", 100.0 * e.eer));
                        for p in ["0.01", "0.05"] {
                            ui.label(e.min_dcf.get(p).map(|v| format!("{v:.3}")).unwrap_or_default());
                        }
                        ui.end_row();
                    }
                });
            }
            cols[0].add_space(theme::GAP);
            egui::CollapsingHeader::new(RichText::new("Score calibration").strong())
                .id_salt("calibration")
                .show(&mut cols[0], |ui| calibration.ui(ui, run));
            cols[1].strong("DET curve (latest evaluation of each trial list)");
            match run.latest_det() {
                None => {
                    cols[1].weak("No evaluation with a DET curve yet.");
                }
                Some(e) => {
                    let label = format!("{}, step {}: EER {:.2} %", e.trials, e.step, 100.0 * e.eer);
                    let mut series = vec![DetSeries { label, points: &e.det, eer: Some(e.eer), colour: None }];
                    for other in run.latest_list_dets() {
                        series.push(DetSeries {
                            label: format!(
                                "{}, step {}: EER {:.2} %",
                                other.list.as_deref().unwrap_or_default(),
                                other.step,
                                100.0 * other.eer
                            ),
                            points: &other.det,
                            eer: Some(other.eer),
                            colour: None,
                        });
                    }
                    let rect = super::det_plot::det_plot(&mut cols[1], "monitor_det", &series, h * 1.4);
                    png.button(&mut cols[1], rect, "DET");
                }
            }
        });
        ui.add_space(theme::GAP);
        egui::CollapsingHeader::new(RichText::new(format!("Log ({} lines)", run.log.len())).strong())
            .default_open(true)
            .show(ui, |ui| {
                ScrollArea::vertical()
                    .id_salt("log")
                    .max_height(h)
                    .stick_to_bottom(true)
                    .show(ui, |ui| {
                        let start = run.log.len().saturating_sub(500);
                        for l in &run.log[start..] {
                            let colour = match l.level {
                                LogLevel::Info => ui.visuals().text_color(),
                                LogLevel::Warn => theme::WARN,
                                LogLevel::Error => theme::ERROR,
                            };
                            ui.label(RichText::new(format!("{:>8} {}", duration(l.t), l.message)).monospace().color(colour));
                        }
                    });
            });
    }
}

/// `1 h 02 min`, `3 min 07 s`, `12 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

/// A perceptual ramp from dark blue through teal to yellow (close to viridis), for `v` in 0..=1.
pub fn ramp(v: f64) -> Color32 {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let v = v.clamp(0.0, 1.0) as f32 * (STOPS.len() - 1) as f32;
    let i = (v.floor() as usize).min(STOPS.len() - 2);
    let f = v - i as f32;
    let c = |k: usize| (STOPS[i][k] + f * (STOPS[i + 1][k] - STOPS[i][k])).round() as u8;
    Color32::from_rgb(c(0), c(1), c(2))
}

/// The layer weights over training: one column per report (sampled down to the width), one row per hidden
/// state (h0 at the bottom), colour = weight. Hover names the cell.
fn heat_map(ui: &mut egui::Ui, history: &[(u64, Vec<f64>)], height: f32) -> egui::Rect {
    let layers = history.iter().map(|(_, w)| w.len()).max().unwrap_or(0).max(1);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(ui.available_width(), height), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let label_w = 34.0;
    let plot = egui::Rect::from_min_max(rect.min + egui::vec2(label_w, 0.0), rect.max - egui::vec2(0.0, 16.0));
    let columns = history.len().min((plot.width() / 2.0).max(1.0) as usize).max(1);
    // Colours span the weights' own range, so small shifts between layers stay visible.
    let (vmin, vmax) = history
        .iter()
        .flat_map(|(_, w)| w.iter().copied())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let span = (vmax - vmin).max(1e-12);
    let cw = plot.width() / columns as f32;
    let ch = plot.height() / layers as f32;
    let pick = |c: usize| &history[c * history.len() / columns];
    for c in 0..columns {
        let (_, w) = pick(c);
        for (l, &v) in w.iter().enumerate() {
            let min = egui::pos2(plot.min.x + c as f32 * cw, plot.max.y - (l + 1) as f32 * ch);
            painter.rect_filled(egui::Rect::from_min_size(min, egui::vec2(cw + 0.5, ch + 0.5)), 0.0, ramp((v - vmin) / span));
        }
    }
    let text = ui.visuals().text_color();
    let font = egui::FontId::proportional(10.0);
    let every = (layers / 8).max(1);
    for l in (0..layers).step_by(every) {
        let y = plot.max.y - (l as f32 + 0.5) * ch;
        painter.text(egui::pos2(rect.min.x + 2.0, y), egui::Align2::LEFT_CENTER, format!("h{l}"), font.clone(), text);
    }
    let (first, last) = (history[0].0, history[history.len() - 1].0);
    painter.text(egui::pos2(plot.min.x, rect.max.y), egui::Align2::LEFT_BOTTOM, format!("step {first}"), font.clone(), text);
    painter.text(egui::pos2(plot.max.x, rect.max.y), egui::Align2::RIGHT_BOTTOM, format!("step {last} · colour {vmin:.3} (dark) to {vmax:.3} (bright)"), font, text);
    if let Some(pos) = response.hover_pos() {
        if plot.contains(pos) {
            let c = (((pos.x - plot.min.x) / cw) as usize).min(columns - 1);
            let l = (((plot.max.y - pos.y) / ch) as usize).min(layers - 1);
            let (step, w) = pick(c);
            if let Some(v) = w.get(l) {
                response.on_hover_text_at_pointer(format!("step {step} · h{l} · weight {v:.4}"));
            }
        }
    }
    rect
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_debiased_and_follows_a_constant() {
        let pts: Vec<[f64; 2]> = (0..10).map(|i| [i as f64, 2.0]).collect();
        for [_, y] in smooth(&pts, 0.9) {
            assert!((y - 2.0).abs() < 1e-12);
        }
        assert_eq!(smooth(&pts, 0.0), pts);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(12.4), "12 s");
        assert_eq!(duration(187.0), "3 min 07 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }

    #[test]
    fn the_ramp_runs_dark_to_bright() {
        let lum = |c: Color32| c.r() as u32 + c.g() as u32 + c.b() as u32;
        assert!(lum(ramp(0.0)) < lum(ramp(0.5)) && lum(ramp(0.5)) < lum(ramp(1.0)));
        assert_eq!(ramp(-1.0), ramp(0.0));
    }
}

/// A data-parallel run's peers: one line each with its device, its computing and waiting per step and its crops per
/// second; the slowest peer (most computing) is the one the others wait for.
fn peers_ui(ui: &mut egui::Ui, step: u64, peers: &[crate::runs::PeerLoad]) {
    let slowest = peers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.compute_seconds.total_cmp(&b.1.compute_seconds))
        .map(|(i, _)| i);
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(format!("{} peers (step {step}):", peers.len())).strong())
            .on_hover_text("data-parallel: each peer computes its shard of every batch; gradients are averaged in \
                            an all-reduce before each step, where faster peers wait for the slowest");
        for (i, p) in peers.iter().enumerate() {
            let text = format!(
                "#{i} {}: {:.2} s compute + {:.2} s wait per step, {:.1} crops/s",
                p.device, p.compute_seconds, p.wait_seconds, p.crops_per_sec
            );
            if Some(i) == slowest && peers.len() > 1 {
                ui.label(RichText::new(text).color(theme::WARN)).on_hover_text("the slowest peer");
            } else {
                ui.label(text);
            }
            ui.separator();
        }
    });
}
