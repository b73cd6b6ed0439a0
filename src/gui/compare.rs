//! The Compare tab: every run in one table, sortable by any column, with units and sources on the numbers.

use super::det_plot::{det_plot, DetSeries};
use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::theme;
use crate::runs::LoadedRun;
use eframe::egui::{self, ScrollArea};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};
use std::cmp::Ordering;
use std::collections::BTreeSet;

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
    const ALL: [Column; 7] = [
        Column::Run,
        Column::Method,
        Column::Status,
        Column::Steps,
        Column::Loss,
        Column::Eer,
        Column::Trainable,
    ];

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
        Column::Method => a.method().cmp(b.method()),
        Column::Status => a.status.to_string().cmp(&b.status.to_string()),
        Column::Steps => a.summary.steps.cmp(&b.summary.steps),
        Column::Loss => cmp_opt(a.summary.final_loss, b.summary.final_loss),
        Column::Eer => cmp_opt(a.summary.eer, b.summary.eer),
        Column::Trainable => cmp_opt(a.summary.trainable_percent(), b.summary.trainable_percent()),
    }
}

/// The Pareto front of (trainable %, EER) points: those no other point beats on both (lower is better on
/// both axes), sorted by trainable share.
pub fn pareto_front(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut sorted: Vec<[f64; 2]> = points.to_vec();
    sorted.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut front: Vec<[f64; 2]> = Vec::new();
    for p in sorted {
        if front.last().is_none_or(|last| p[1] < last[1]) {
            front.push(p);
        }
    }
    front
}

/// The comparison table as CSV, one row per run, with units in the header and the source of each EER
/// (trial list, step). Values a run does not have are empty.
pub fn runs_csv(runs: &[&LoadedRun]) -> String {
    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    }
    let opt = |v: Option<f64>, digits: usize| v.map(|x| format!("{x:.digits$}")).unwrap_or_default();
    let mut out = String::from(
        "run,name,method,status,steps,epochs,final_loss,eer_percent,min_dcf_0.01,min_dcf_0.05,trials,eer_step,trainable_percent,trainable_params,total_params\n",
    );
    for run in runs {
        let s = &run.summary;
        let row = [
            field(&run.id),
            field(run.name()),
            run.method().to_string(),
            run.status.to_string(),
            s.steps.to_string(),
            format!("{:.3}", s.epochs),
            opt(s.final_loss, 5),
            opt(s.eer.map(|e| 100.0 * e), 4),
            opt(s.min_dcf.get("0.01").copied(), 5),
            opt(s.min_dcf.get("0.05").copied(), 5),
            field(s.trials.as_deref().unwrap_or("")),
            s.eer_step.map(|x| x.to_string()).unwrap_or_default(),
            opt(s.trainable_percent(), 4),
            s.trainable_params.map(|x| x.to_string()).unwrap_or_default(),
            s.total_params.map(|x| x.to_string()).unwrap_or_default(),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

pub struct ComparePanel {
    sort: Column,
    ascending: bool,
    /// Runs ticked for the overlaid plots.
    ticked: BTreeSet<String>,
    export: Option<(PendingDialog, String)>,
    notice: Option<(String, bool)>,
}

impl Default for ComparePanel {
    fn default() -> Self {
        Self {
            sort: Column::Run,
            ascending: true,
            ticked: BTreeSet::new(),
            export: None,
            notice: None,
        }
    }
}

impl ComparePanel {
    /// Writes the CSV the export dialog was opened for, once the user has chosen where.
    fn poll_export(&mut self) {
        let Some(answer) = self.export.as_ref().and_then(|(d, _)| d.poll()) else {
            return;
        };
        let Some((dialog, csv)) = self.export.take() else {
            return;
        };
        let Some(path) = answer else {
            if dialog.closed_unseen() {
                self.notice = Some((NO_DIALOG_HINT.to_string(), false));
            }
            return;
        };
        self.notice = Some(match crate::runs::write_atomic(&path, csv.as_bytes()) {
            Ok(()) => (format!("wrote {}", path.display()), true),
            Err(e) => (format!("cannot write {}: {e}", path.display()), false),
        });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, runs: &[LoadedRun]) {
        self.poll_export();
        egui::CentralPanel::default().show(ui, |ui| {
            let mut order: Vec<&LoadedRun> = runs.iter().collect();
            order.sort_by(|a, b| {
                let o = compare_by(self.sort, a, b);
                if self.ascending {
                    o
                } else {
                    o.reverse()
                }
            });
            ui.horizontal(|ui| {
                ui.heading("Compare runs");
                let export = ui
                    .add_enabled(
                        !runs.is_empty() && self.export.is_none(),
                        egui::Button::new("Export CSV…"),
                    )
                    .on_hover_text("Save this table (every run, in the order shown) as CSV, for papers and scripts");
                if export.clicked() {
                    let dialog =
                        PendingDialog::open(DialogPurpose::ExportCsv, std::env::current_dir().unwrap_or_default());
                    self.export = Some((dialog, runs_csv(&order)));
                }
                if let Some((msg, ok)) = &self.notice {
                    ui.colored_label(if *ok { theme::OK } else { theme::ERROR }, msg);
                }
            });
            if runs.is_empty() {
                ui.label("No runs yet: the table fills as runs are launched.");
                return;
            }
            ScrollArea::vertical().show(ui, |ui| {
                self.table_ui(ui, &order);
                ui.add_space(theme::GAP);
                self.plots_ui(ui, runs);
            });
        });
    }

    fn table_ui(&mut self, ui: &mut egui::Ui, order: &[&LoadedRun]) {
        ScrollArea::horizontal().show(ui, |ui| {
            egui::Grid::new("compare")
                .striped(true)
                .spacing([theme::GAP * 2.0, theme::GAP / 2.0])
                .show(ui, |ui| {
                    ui.label("plot");
                    for col in Column::ALL {
                        let arrow = if col == self.sort {
                            if self.ascending {
                                " ^"
                            } else {
                                " v"
                            }
                        } else {
                            ""
                        };
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
                        let mut ticked = self.ticked.contains(&run.id);
                        if ui.checkbox(&mut ticked, "").changed() {
                            if ticked {
                                self.ticked.insert(run.id.clone());
                            } else {
                                self.ticked.remove(&run.id);
                            }
                        }
                        ui.label(&run.id);
                        ui.label(run.method().to_string());
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
    }

    fn plots_ui(&self, ui: &mut egui::Ui, runs: &[LoadedRun]) {
        let ticked: Vec<&LoadedRun> = runs.iter().filter(|r| self.ticked.contains(&r.id)).collect();
        if ticked.is_empty() {
            ui.weak("Tick runs to overlay their DET curves and place them on the EER / trainable-share plot.");
            return;
        }
        ui.columns(2, |cols| {
            cols[0].strong("DET curves (latest evaluation of each run)");
            let series: Vec<DetSeries<'_>> = ticked
                .iter()
                .filter_map(|r| {
                    r.latest_det().map(|(_, _, _, points)| DetSeries {
                        label: r.name().to_string(),
                        points,
                    })
                })
                .collect();
            if series.is_empty() {
                cols[0].weak("None of the ticked runs has been evaluated yet.");
            } else {
                det_plot(&mut cols[0], "compare_det", &series, theme::PLOT_HEIGHT * 1.5);
            }

            cols[1].strong("EER vs trainable parameters (Pareto front)");
            let points: Vec<(String, [f64; 2])> = ticked
                .iter()
                .filter_map(|r| {
                    Some((
                        r.name().to_string(),
                        [r.summary.trainable_percent()?, 100.0 * r.summary.eer?],
                    ))
                })
                .collect();
            if points.is_empty() {
                cols[1].weak("Needs runs with both an EER and parameter counts.");
                return;
            }
            let xy: Vec<[f64; 2]> = points.iter().map(|(_, p)| *p).collect();
            let front = pareto_front(&xy);
            Plot::new("compare_pareto")
                .height(theme::PLOT_HEIGHT * 1.5)
                .legend(Legend::default())
                .x_axis_label("trainable parameters (%)")
                .y_axis_label("EER (%)")
                .show(&mut cols[1], |p| {
                    p.line(Line::new("Pareto front", PlotPoints::from(front)).color(theme::MUTED));
                    for (name, pt) in points {
                        p.points(Points::new(name, PlotPoints::from(vec![pt])).radius(5.0));
                    }
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::RunEvent;

    #[test]
    fn csv_has_one_row_per_run_with_units_and_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::ExperimentConfig::builtin_default();
        config.name = "a".into();
        let mut w = crate::runs::RunWriter::create(dir.path(), &config).unwrap();
        let mut dcf = std::collections::BTreeMap::new();
        dcf.insert("0.01".to_string(), 0.25);
        w.emit(RunEvent::Eval {
            step: 7,
            epoch: 1.0,
            trials: "veri test, 2.txt".into(),
            n_target: 1,
            n_nontarget: 1,
            eer: 0.0123,
            min_dcf: dcf,
            det: vec![],
            scores_file: None,
        })
        .unwrap();
        w.end(crate::runs::EndStatus::Finished, "", None).unwrap();
        let runs = crate::runs::RunStore::new(dir.path()).list().unwrap();
        let csv = runs_csv(&runs.iter().collect::<Vec<_>>());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("run,name,method,status,steps,epochs,final_loss,eer_percent,"));
        let cells = lines[1].split(',').collect::<Vec<_>>();
        assert_eq!(cells[1], "a");
        assert_eq!(cells[2], "adapters");
        assert_eq!(cells[3], "finished");
        assert_eq!(cells[7], "1.2300");
        assert_eq!(cells[8], "0.25000");
        assert!(lines[1].contains("\"veri test, 2.txt\",7,"), "{}", lines[1]);
    }

    #[test]
    fn pareto_front_keeps_only_undominated_points() {
        let pts = [[5.0, 2.0], [100.0, 2.5], [1.0, 4.0], [5.5, 3.0], [0.5, 6.0], [6.0, 1.8]];
        assert_eq!(pareto_front(&pts), vec![[0.5, 6.0], [1.0, 4.0], [5.0, 2.0], [6.0, 1.8]]);
    }
}
