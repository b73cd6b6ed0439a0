//! The Monitor tab: the run list with live status, and for the selected run its loss (raw and smoothed), the
//! layer-aggregation weights, and EER over training. Everything is drawn from the run's events, so a run
//! reloaded from disk looks exactly like one watched live.

use super::det_plot::DetSeries;
use super::theme;
use crate::runs::{LoadedRun, RunEvent};
use eframe::egui::{self, RichText, ScrollArea};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points};

pub struct MonitorPanel {
    pub selected: Option<String>,
    /// A run folder the user asked to continue, taken by the app.
    pub resume_request: Option<std::path::PathBuf>,
    /// Exponential-moving-average factor for the smoothed loss (TensorBoard's "smoothing").
    pub smoothing: f64,
}

impl Default for MonitorPanel {
    fn default() -> Self {
        Self {
            selected: None,
            resume_request: None,
            smoothing: 0.9,
        }
    }
}

/// `(step, loss)` of every step event.
pub fn loss_series(run: &LoadedRun) -> Vec<[f64; 2]> {
    run.events
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::Step { step, loss, .. } => Some([*step as f64, *loss]),
            _ => None,
        })
        .collect()
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

impl MonitorPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, runs: &[LoadedRun], runs_root: &str, live: &[crate::engine::RunHandle]) {
        egui::Panel::left("run_list")
            .default_size(theme::SIDE_PANEL_WIDTH)
            .show(ui, |ui| {
                ui.heading("Runs");
                ui.weak(runs_root);
                ui.add_space(theme::GAP);
                if runs.is_empty() {
                    ui.label("No runs yet. Launch one from Configure, or `adaptsv train --config FILE`.");
                }
                ScrollArea::vertical().show(ui, |ui| {
                    for run in runs.iter().rev() {
                        let selected = self.selected.as_deref() == Some(run.id.as_str());
                        if ui.selectable_label(selected, &run.id).clicked() {
                            self.selected = Some(run.id.clone());
                        }
                        ui.colored_label(theme::status_colour(run.status), format!("    {}", run.status));
                    }
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(run) = self.selected.as_ref().and_then(|id| runs.iter().find(|r| &r.id == id)) else {
                ui.label("Select a run on the left.");
                return;
            };
            let resumable = matches!(
                run.status,
                crate::runs::RunStatus::Stopped | crate::runs::RunStatus::Crashed | crate::runs::RunStatus::Failed
            );
            if resumable && !live.iter().any(|h| h.id == run.id) {
                if ui
                    .button("Continue training")
                    .on_hover_text("Resume this run from its newest checkpoint, to the end its config sets")
                    .clicked()
                {
                    self.resume_request = Some(run.dir.clone());
                }
            }
            if let Some(handle) = live.iter().find(|h| h.id == run.id) {
                ui.horizontal(|ui| {
                    if ui.button("Pause").on_hover_text("Hold before the next step").clicked() {
                        handle.pause();
                    }
                    if ui.button("Resume").clicked() {
                        handle.resume();
                    }
                    let stop = super::commands::UiCommand::StopRun;
                    if ui
                        .button(stop.label())
                        .on_hover_text(stop.hover_text(ui.ctx()))
                        .clicked()
                    {
                        handle.stop();
                    }
                });
            }
            ScrollArea::vertical().show(ui, |ui| self.run_ui(ui, run));
        });
    }

    fn run_ui(&mut self, ui: &mut egui::Ui, run: &LoadedRun) {
        let s = &run.summary;
        ui.horizontal(|ui| {
            ui.heading(run.name());
            ui.colored_label(theme::status_colour(run.status), run.status.to_string());
        });
        ui.label(format!(
            "{} · device {} · {} steps ({:.2} epochs){}",
            run.id,
            if s.device.is_empty() { "?" } else { &s.device },
            s.steps,
            s.epochs,
            s.trainable_percent()
                .map(|p| format!(" · {p:.2} % trainable"))
                .unwrap_or_default()
        ));
        if let (Some(eer), Some(step)) = (s.eer, s.eer_step) {
            ui.label(format!(
                "EER {:.2} % on {} at step {step}",
                100.0 * eer,
                s.trials.as_deref().unwrap_or("?")
            ));
        }
        if !s.message.is_empty() {
            ui.label(&s.message);
        }
        for d in &run.damage {
            ui.label(RichText::new(format!("⚠ {d}")).color(theme::WARN));
        }
        ui.add_space(theme::GAP);

        let loss = loss_series(run);
        ui.horizontal(|ui| {
            ui.strong("Training loss");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99).text("smoothing"));
        });
        if loss.is_empty() {
            ui.weak("No training steps yet.");
        } else {
            let smoothed = smooth(&loss, self.smoothing);
            Plot::new("loss")
                .height(theme::PLOT_HEIGHT)
                .legend(Legend::default())
                .x_axis_label("step")
                .y_axis_label("loss")
                .show(ui, |p| {
                    p.line(Line::new("raw", PlotPoints::from(loss)).color(theme::MUTED));
                    p.line(Line::new("smoothed", PlotPoints::from(smoothed)));
                });
        }

        ui.strong("Layer weights (softmax, latest)");
        let weights = run.events.iter().rev().find_map(|r| match &r.event {
            RunEvent::LayerWeights { step, weights } => Some((*step, weights.clone())),
            _ => None,
        });
        match weights {
            None => {
                ui.weak("No layer weights reported yet.");
            }
            Some((step, w)) => {
                let bars: Vec<Bar> = w.iter().enumerate().map(|(i, &v)| Bar::new(i as f64, v)).collect();
                Plot::new("layer_weights")
                    .height(theme::PLOT_HEIGHT * 0.7)
                    .x_axis_label(format!("hidden state (0 = CNN output) · step {step}"))
                    .y_axis_label("weight")
                    .show(ui, |p| p.bar_chart(BarChart::new("weights", bars)));
            }
        }

        ui.strong("DET curve (latest evaluation)");
        match run.latest_det() {
            None => {
                ui.weak("No evaluation with a DET curve yet.");
            }
            Some((step, trials, eer, det)) => {
                let label = format!("{trials}, step {step}: EER {:.2} %", 100.0 * eer);
                super::det_plot::det_plot(
                    ui,
                    "monitor_det",
                    &[DetSeries { label, points: det }],
                    theme::PLOT_HEIGHT * 1.8,
                );
            }
        }

        ui.strong("EER over training");
        let eers: Vec<[f64; 2]> = run
            .events
            .iter()
            .filter_map(|r| match &r.event {
                RunEvent::Eval { step, eer, .. } => Some([*step as f64, 100.0 * eer]),
                _ => None,
            })
            .collect();
        if eers.is_empty() {
            ui.weak("No evaluation yet.");
        } else {
            Plot::new("eer")
                .height(theme::PLOT_HEIGHT * 0.7)
                .x_axis_label("step")
                .y_axis_label("EER (%)")
                .show(ui, |p| {
                    p.line(Line::new("EER", PlotPoints::from(eers.clone())));
                    p.points(Points::new("evaluations", PlotPoints::from(eers)).radius(3.0));
                });
        }
    }
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
}
