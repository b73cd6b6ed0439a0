//! The Compare tab: every run in one table, sortable by any column, with units and sources on the numbers.

use super::theme;
use crate::runs::LoadedRun;
use eframe::egui::{self, ScrollArea};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Run,
    Method,
    Status,
    Steps,
    Loss,
    Eer,
    Trainable,
}

impl Column {
    const ALL: [Column; 7] =
        [Column::Run, Column::Method, Column::Status, Column::Steps, Column::Loss, Column::Eer, Column::Trainable];

    fn title(self) -> &'static str {
        match self {
            Column::Run => "run",
            Column::Method => "method",
            Column::Status => "status",
            Column::Steps => "steps",
            Column::Loss => "final loss",
            Column::Eer => "EER (%)",
            Column::Trainable => "trainable (%)",
        }
    }
}

fn method(run: &LoadedRun) -> String {
    run.config.as_ref().map(|c| c.adaptation.method.name().to_string()).unwrap_or_else(|| "?".into())
}

fn cmp_opt(a: Option<f64>, b: Option<f64>) -> Ordering {
    // Missing values sort last.
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Orders runs by a column (ascending).
pub fn compare_by(col: Column, a: &LoadedRun, b: &LoadedRun) -> Ordering {
    match col {
        Column::Run => a.id.cmp(&b.id),
        Column::Method => method(a).cmp(&method(b)),
        Column::Status => a.status.to_string().cmp(&b.status.to_string()),
        Column::Steps => a.summary.steps.cmp(&b.summary.steps),
        Column::Loss => cmp_opt(a.summary.final_loss, b.summary.final_loss),
        Column::Eer => cmp_opt(a.summary.eer, b.summary.eer),
        Column::Trainable => cmp_opt(a.summary.trainable_percent(), b.summary.trainable_percent()),
    }
}

pub struct ComparePanel {
    sort: Column,
    ascending: bool,
}

impl Default for ComparePanel {
    fn default() -> Self {
        Self { sort: Column::Run, ascending: true }
    }
}

impl ComparePanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, runs: &[LoadedRun]) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Compare runs");
            if runs.is_empty() {
                ui.label("No runs yet: the table fills as runs are launched.");
                return;
            }
            let mut order: Vec<&LoadedRun> = runs.iter().collect();
            order.sort_by(|a, b| {
                let o = compare_by(self.sort, a, b);
                if self.ascending { o } else { o.reverse() }
            });
            ScrollArea::both().show(ui, |ui| {
                egui::Grid::new("compare").striped(true).spacing([theme::GAP * 2.0, theme::GAP / 2.0]).show(ui, |ui| {
                    for col in Column::ALL {
                        let arrow = if col == self.sort { if self.ascending { " ▲" } else { " ▼" } } else { "" };
                        if ui.button(format!("{}{arrow}", col.title())).clicked() {
                            if self.sort == col {
                                self.ascending = !self.ascending;
                            } else {
                                self.sort = col;
                                self.ascending = true;
                            }
                        }
                    }
                    ui.end_row();
                    for run in order {
                        let s = &run.summary;
                        ui.label(&run.id);
                        ui.label(method(run));
                        ui.colored_label(theme::status_colour(run.status), run.status.to_string());
                        ui.label(s.steps.to_string());
                        ui.label(s.final_loss.map(|l| format!("{l:.4}")).unwrap_or_default());
                        let eer = ui.label(s.eer.map(|e| format!("{:.2}", 100.0 * e)).unwrap_or_default());
                        if let (Some(t), Some(step)) = (&s.trials, s.eer_step) {
                            eer.on_hover_text(format!("{t}, step {step}"));
                        }
                        ui.label(s.trainable_percent().map(|p| format!("{p:.2}")).unwrap_or_default());
                        ui.end_row();
                    }
                });
            });
        });
    }
}
