//! The Compare tab: the runs in one sortable table (method, trainable parameters and share, checkpoint size,
//! EER and minDCF at two priors on the runs' own trial list and on each other list they were evaluated on, training
//! time, throughput), narrowed by a word filter, and for the runs ticked:
//! DET curves, loss curves and layer weights overlaid, and EER against trainable share on a log axis with the
//! Pareto front, coloured by method; a run is named by its config name, or its folder name where two ticked
//! runs share one. Runs that differ only in chosen config keys (seeds) can be grouped into one row each, and any
//! config key can be a column; grouped, the plots draw each group as one (mean with a band or error bar). Runs
//! carry their tags (a tag clicked filters by it). The Sweep view draws one sweep's runs as parallel coordinates.
//! The table (the runs shown) exports as CSV and every plot as PNG.
//!
//! | module         | what it holds                                                         |
//! |----------------|-----------------------------------------------------------------------|
//! | `columns`      | the table's columns (fixed and per trial list): titles, values, order |
//! | `export`       | the table as CSV                                                      |
//! | `table`        | the table: run or group rows (n, mean ± std), sorting, column choice |
//! | `plots`        | DET, loss, layer-weight overlays and the EER-vs-share Pareto plot     |
//! | `group_curves` | a group's mean loss with its ± std band, its mean DET curve           |
//! | `sweep_view`   | one sweep's runs as parallel coordinates of varied keys and EER      |

use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::jobs::Jobs;
use super::png_export::PngExport;
use super::run_view::{filter_edit, RunSet, RunView};
use super::theme;
use crate::runs::RunFilter;

mod columns;
mod export;
mod group_curves;
mod plots;
mod sweep_view;
mod table;

pub use export::runs_csv;
pub use table::TableView;
use eframe::egui::{self, ScrollArea};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What the Compare tab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareView {
    /// The table and the plots of the ticked runs.
    Runs,
    /// One sweep as parallel coordinates.
    Sweep,
}

pub struct ComparePanel {
    pub view: CompareView,
    pub sweep: sweep_view::SweepView,
    /// Sort, grouping and the chosen columns.
    pub table: TableView,
    /// Words a run must match to be shown ([`RunView::matches`]).
    pub filter: String,
    /// Runs ticked for the overlaid plots.
    pub ticked: BTreeSet<PathBuf>,
    /// Config names whose runs are ticked as soon as they appear (a "compare methods" sweep).
    pub auto_tick: BTreeSet<String>,
    export: Option<(PendingDialog, String)>,
    writes: Jobs<Result<PathBuf, String>>,
    notice: Option<(String, bool)>,
    png: PngExport,
}

impl Default for ComparePanel {
    fn default() -> Self {
        Self {
            view: CompareView::Runs,
            sweep: sweep_view::SweepView::default(),
            table: TableView::default(),
            filter: String::new(),
            ticked: BTreeSet::new(),
            auto_tick: BTreeSet::new(),
            export: None,
            writes: Jobs::spawn("compare-export"),
            notice: None,
            png: PngExport::default(),
        }
    }
}

impl ComparePanel {
    /// Hands the CSV to the worker once the user has chosen where.
    fn poll_export(&mut self) {
        if let Some(done) = self.writes.poll() {
            self.notice = Some(match done {
                Ok(p) => (format!("wrote {}", p.display()), true),
                Err(e) => (e, false),
            });
        }
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
        self.writes.submit(move || {
            crate::runs::write_atomic(&path, csv.as_bytes())
                .map(|()| path.clone())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        });
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, runs: &RunSet) {
        self.poll_export();
        for r in &runs.runs {
            if self.auto_tick.remove(r.name()) {
                self.ticked.insert(r.dir.clone());
            }
        }
        self.png.poll(ui.ctx());
        egui::CentralPanel::default().show(ui, |ui| {
            let filter = RunFilter::parse(&self.filter);
            let mut order: Vec<&RunView> = runs.runs.iter().filter(|r| r.matches(&filter)).collect();
            self.table.sort(&mut order);
            ui.horizontal(|ui| {
                ui.heading("Compare runs");
                ui.selectable_value(&mut self.view, CompareView::Runs, "Runs")
                    .on_hover_text("the table of runs (or groups) and the plots of the ticked ones");
                ui.selectable_value(&mut self.view, CompareView::Sweep, "Sweep")
                    .on_hover_text("one sweep's runs as parallel coordinates: the keys it varies, and the EER");
                ui.separator();
                let export = ui
                    .add_enabled(!order.is_empty() && self.export.is_none(), egui::Button::new("Export CSV…"))
                    .on_hover_text("Save this table (the runs shown, in the order shown) as CSV, for papers and scripts");
                if export.clicked() {
                    let dialog =
                        PendingDialog::open(DialogPurpose::ExportCsv, std::env::current_dir().unwrap_or_default());
                    self.export = Some((dialog, runs_csv(&order)));
                }
                for (msg, ok) in [&self.notice, &self.png.notice].into_iter().flatten() {
                    ui.colored_label(if *ok { theme::OK } else { theme::ERROR }, msg);
                }
            });
            if runs.runs.is_empty() {
                ui.label("No runs yet: the table fills as runs are launched.");
                return;
            }
            ScrollArea::vertical().id_salt("compare_scroll").show(ui, |ui| {
                if self.view == CompareView::Sweep {
                    self.filter_ui(ui, &order, runs);
                    self.sweep.ui(ui, &order, &mut self.png);
                    return;
                }
                self.table_ui(ui, &order, runs);
                ui.add_space(theme::GAP);
                let except = self.table.grouped.then(|| table::parse_keys(&self.table.except));
                plots::plots_ui(ui, runs, &self.ticked, except.as_deref(), &mut self.png);
            });
        });
    }

    fn table_ui(&mut self, ui: &mut egui::Ui, order: &[&RunView], runs: &RunSet) {
        self.filter_ui(ui, order, runs);
        self.table.controls_ui(ui, order);
        if let Some(tag) = self.table.ui(ui, order, &mut self.ticked) {
            self.filter = format!("#{tag}");
        }
    }

    /// The filter and the tick buttons, with how many runs are shown and ticked.
    fn filter_ui(&mut self, ui: &mut egui::Ui, order: &[&RunView], runs: &RunSet) {
        let total = runs.runs.len();
        ui.horizontal(|ui| {
            ui.label("filter");
            filter_edit(ui, &mut self.filter, "e.g. paper, frozen seed, #baseline", 220.0);
            if !self.filter.is_empty() && ui.small_button("clear").clicked() {
                self.filter.clear();
            }
            if ui.small_button("tick shown").clicked() {
                self.ticked.extend(order.iter().map(|r| r.dir.clone()));
            }
            if ui.small_button("tick none").clicked() {
                self.ticked.clear();
            }
            // Ticked runs the filter hides (runs since deleted are neither shown nor plotted).
            let hidden = self
                .ticked
                .iter()
                .filter(|d| runs.get(d).is_some() && !order.iter().any(|r| &r.dir == *d))
                .count();
            let mut status = format!("{} of {total} runs shown · {} ticked", order.len(), self.ticked.len());
            if hidden > 0 {
                status.push_str(&format!(" ({hidden} of them hidden by the filter, still plotted)"));
            }
            ui.weak(status);
        });
    }
}
