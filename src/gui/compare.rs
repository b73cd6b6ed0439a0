//! The Compare tab: the runs in one sortable table (method, trainable parameters and share, checkpoint size,
//! EER, minDCF at two priors, training time, throughput), narrowed by a word filter, and for the runs ticked:
//! DET curves, loss curves and layer weights overlaid, and EER against trainable share on a log axis with the
//! Pareto front, coloured by method; a run is named by its config name, or its folder name where two ticked
//! runs share one. The table (the runs shown) exports as CSV and every plot as PNG.

use super::det_plot::{det_plot, DetSeries};
use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::jobs::Jobs;
use super::monitor::{series_plot, smooth, Series};
use super::png_export::PngExport;
use super::run_view::{filter_edit, RunSet, RunView};
use super::theme;
use crate::config::Method;
use eframe::egui::{self, Color32, ScrollArea};
use egui_plot::{GridMark, HoverPosition, Legend, Line, MarkerShape, Plot, PlotPoints, Points};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Run,
    Method,
    Status,
    Trainable,
    Share,
    Checkpoint,
    Eer,
    Dcf01,
    Dcf05,
    Time,
    Throughput,
    Loss,
}

impl Column {
    pub const ALL: [Column; 12] = [
        Column::Run,
        Column::Method,
        Column::Status,
        Column::Trainable,
        Column::Share,
        Column::Checkpoint,
        Column::Eer,
        Column::Dcf01,
        Column::Dcf05,
        Column::Time,
        Column::Throughput,
        Column::Loss,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Run => "run",
            Column::Method => "method",
            Column::Status => "status",
            Column::Trainable => "trainable params",
            Column::Share => "share (%)",
            Column::Checkpoint => "checkpoint (MB)",
            Column::Eer => "EER (%)",
            Column::Dcf01 => "minDCF 0.01",
            Column::Dcf05 => "minDCF 0.05",
            Column::Time => "time",
            Column::Throughput => "crops/s",
            Column::Loss => "final loss",
        }
    }

    fn tooltip(self) -> &'static str {
        match self {
            Column::Share => super::param_counter::SHARE_DEFINITION,
            Column::Checkpoint => "size of the run's last checkpoint file (trainable tensors; the whole model for full fine-tuning)",
            Column::Eer => "equal error rate of the latest evaluation (hover a value for its trial list and step)",
            Column::Dcf01 | Column::Dcf05 => "normalised minimum detection cost at this target prior",
            Column::Time => "wall time from the first to the last event",
            Column::Throughput => "training crops per second, mean of the last epoch",
            _ => "",
        }
    }

    /// The cell's numeric value, for sorting (`None` sorts last).
    fn value(self, r: &RunView) -> Option<f64> {
        let s = &r.summary;
        match self {
            Column::Trainable => s.trainable_params.map(|t| t.saturating_sub(s.classifier_params.unwrap_or(0)) as f64),
            Column::Share => s.trainable_percent(),
            Column::Checkpoint => s.checkpoint_bytes.map(|b| b as f64 / 1e6),
            Column::Eer => s.eer.map(|e| 100.0 * e),
            Column::Dcf01 => s.min_dcf.get("0.01").copied(),
            Column::Dcf05 => s.min_dcf.get("0.05").copied(),
            Column::Time => (s.seconds > 0.0).then_some(s.seconds),
            Column::Throughput => s.samples_per_sec,
            Column::Loss => s.final_loss,
            Column::Run | Column::Method | Column::Status => None,
        }
    }

    fn text(self, r: &RunView) -> String {
        match self {
            Column::Run => r.id.clone(),
            Column::Method => r.method().to_string(),
            Column::Status => r.status.to_string(),
            Column::Trainable => self.value(r).map(|v| format!("{v:.0}")).unwrap_or_default(),
            Column::Time => self.value(r).map(super::monitor::duration).unwrap_or_default(),
            Column::Share | Column::Eer | Column::Checkpoint | Column::Throughput => {
                self.value(r).map(|v| format!("{v:.2}")).unwrap_or_default()
            }
            Column::Dcf01 | Column::Dcf05 | Column::Loss => self.value(r).map(|v| format!("{v:.4}")).unwrap_or_default(),
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
pub fn compare_by(col: Column, a: &RunView, b: &RunView) -> Ordering {
    match col {
        Column::Run => a.id.cmp(&b.id),
        Column::Method => a.method().cmp(b.method()),
        Column::Status => a.status.to_string().cmp(&b.status.to_string()),
        c => cmp_opt(c.value(a), c.value(b)),
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

/// A fixed colour per method, the same in every plot.
pub fn method_colour(method: &str) -> Color32 {
    let i = Method::ALL.iter().position(|m| m.name() == method).unwrap_or(Method::ALL.len());
    const PALETTE: [Color32; 9] = [
        Color32::from_rgb(228, 26, 28),
        Color32::from_rgb(152, 78, 163),
        Color32::from_rgb(255, 127, 0),
        Color32::from_rgb(166, 86, 40),
        Color32::from_rgb(77, 175, 74),
        Color32::from_rgb(247, 129, 191),
        Color32::from_rgb(153, 153, 153),
        Color32::from_rgb(55, 126, 184),
        Color32::from_rgb(120, 120, 120),
    ];
    PALETTE[i]
}

/// The comparison table as CSV, one row per run, with units in the header and the source of each EER
/// (trial list, step). Values a run does not have are empty.
pub fn runs_csv(runs: &[&RunView]) -> String {
    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    }
    let opt = |v: Option<f64>, digits: usize| v.map(|x| format!("{x:.digits$}")).unwrap_or_default();
    let mut out = String::from(
        "run,name,method,status,steps,epochs,final_loss,eer_percent,min_dcf_0.01,min_dcf_0.05,trials,eer_step,trainable_percent,trainable_params,total_params,classifier_params,checkpoint_bytes,seconds,samples_per_sec\n",
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
            s.classifier_params.map(|x| x.to_string()).unwrap_or_default(),
            s.checkpoint_bytes.map(|x| x.to_string()).unwrap_or_default(),
            format!("{:.1}", s.seconds),
            opt(s.samples_per_sec, 2),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// The names the plots give `runs`: the config's name, or the run folder's name where two of them share a
/// config name (two sweeps of the same configs), so no two legend entries merge.
pub fn plot_labels(runs: &[&RunView]) -> Vec<String> {
    runs.iter()
        .map(|r| {
            let shared = runs.iter().filter(|o| o.name() == r.name()).count() > 1;
            if shared { r.id.clone() } else { r.name().to_string() }
        })
        .collect()
}

pub struct ComparePanel {
    sort: Column,
    ascending: bool,
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
            sort: Column::Run,
            ascending: true,
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
            let mut order: Vec<&RunView> = runs.runs.iter().filter(|r| r.matches(&self.filter)).collect();
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
                self.table_ui(ui, &order, runs);
                ui.add_space(theme::GAP);
                self.plots_ui(ui, runs);
            });
        });
    }

    fn table_ui(&mut self, ui: &mut egui::Ui, order: &[&RunView], runs: &RunSet) {
        let total = runs.runs.len();
        ui.horizontal(|ui| {
            ui.label("filter");
            filter_edit(ui, &mut self.filter, "e.g. paper, frozen seed, crashed", 220.0);
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
        ScrollArea::horizontal().show(ui, |ui| {
            egui::Grid::new("compare")
                .striped(true)
                .spacing([theme::GAP * 2.0, theme::GAP / 2.0])
                .show(ui, |ui| {
                    ui.label("plot");
                    for col in Column::ALL {
                        let arrow = match (col == self.sort, self.ascending) {
                            (true, true) => " ^",
                            (true, false) => " v",
                            _ => "",
                        };
                        let mut b = ui.button(format!("{}{arrow}", col.title()));
                        if !col.tooltip().is_empty() {
                            b = b.on_hover_text(col.tooltip());
                        }
                        if b.clicked() {
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
                        let mut ticked = self.ticked.contains(&run.dir);
                        let label = format!("plot {}", run.id);
                        let r = ui.checkbox(&mut ticked, "");
                        r.widget_info(|| egui::WidgetInfo::selected(egui::Role::CheckBox, true, ticked, &label));
                        if r.changed() {
                            if ticked {
                                self.ticked.insert(run.dir.clone());
                            } else {
                                self.ticked.remove(&run.dir);
                            }
                        }
                        for col in Column::ALL {
                            let text = col.text(run);
                            let cell = match col {
                                Column::Status => ui.colored_label(theme::status_colour(run.status), text),
                                Column::Method => ui.colored_label(method_colour(run.method()), text),
                                _ => ui.label(text),
                            };
                            if col == Column::Eer {
                                if let (Some(t), Some(step)) = (&run.summary.trials, run.summary.eer_step) {
                                    cell.on_hover_text(format!("{t}, step {step}"));
                                }
                            }
                        }
                        ui.end_row();
                    }
                });
        });
    }

    fn plots_ui(&mut self, ui: &mut egui::Ui, runs: &RunSet) {
        let ticked: Vec<&RunView> = runs.runs.iter().filter(|r| self.ticked.contains(&r.dir)).collect();
        if ticked.is_empty() {
            ui.weak("Tick runs to overlay their DET curves, loss curves and layer weights and place them on the EER / trainable-share plot.");
            return;
        }
        let labels = plot_labels(&ticked);
        let h = theme::PLOT_HEIGHT * 1.4;
        let png = &mut self.png;
        ui.columns(2, |cols| {
            cols[0].strong("DET curves (latest evaluation of each run)");
            let series: Vec<DetSeries<'_>> = ticked
                .iter()
                .zip(&labels)
                .filter_map(|(r, label)| {
                    r.latest_det().map(|e| DetSeries {
                        label: label.clone(),
                        points: &e.det,
                        eer: Some(e.eer),
                    })
                })
                .collect();
            if series.is_empty() {
                cols[0].weak("None of the ticked runs has been evaluated yet.");
            } else {
                let rect = det_plot(&mut cols[0], "compare_det", &series, h);
                png.button(&mut cols[0], rect, "DET overlay");
            }
            cols[1].strong("EER vs trainable share (log axis) with the Pareto front");
            pareto_plot(&mut cols[1], &ticked, &labels, h, png);
        });
        ui.add_space(theme::GAP);
        ui.columns(2, |cols| {
            cols[0].strong("Training loss (smoothed 0.9)");
            let loss: Vec<Series> = ticked
                .iter()
                .zip(&labels)
                .filter(|(r, _)| !r.steps.is_empty())
                .map(|(r, label)| Series {
                    name: label.clone(),
                    points: smooth(&r.steps.iter().map(|s| [s.step as f64, s.loss]).collect::<Vec<_>>(), 0.9),
                    color: None,
                })
                .collect();
            if loss.is_empty() {
                cols[0].weak("No steps in the ticked runs.");
            } else {
                let rect = series_plot(&mut cols[0], "compare_loss", "step", "loss", &loss, h * 0.8);
                png.button(&mut cols[0], rect, "loss overlay");
            }
            cols[1].strong("Layer weights (latest of each run)");
            let weights: Vec<Series> = ticked
                .iter()
                .zip(&labels)
                .filter_map(|(r, label)| {
                    let (_, w) = r.layer_weights.last()?;
                    Some(Series {
                        name: label.clone(),
                        points: w.iter().enumerate().map(|(i, v)| [i as f64, *v]).collect(),
                        color: None,
                    })
                })
                .collect();
            if weights.is_empty() {
                cols[1].weak("None of the ticked runs reported layer weights.");
            } else {
                let rect = series_plot(&mut cols[1], "compare_weights", "hidden state (0 = CNN output)", "weight", &weights, h * 0.8);
                png.button(&mut cols[1], rect, "layer-weight overlay");
            }
        });
    }
}

/// Shares shown as ticks on the log axis (percent).
const SHARE_TICKS: [f64; 13] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// Ticks of the log share axis: the round shares in view, or five evenly spaced ones when the view is narrower
/// than two round values (runs of similar size).
fn share_marks(input: egui_plot::GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let round: Vec<GridMark> = SHARE_TICKS
        .iter()
        .map(|t| t.log10())
        .filter(|v| *v >= lo && *v <= hi)
        .map(|value| GridMark { value, step_size: 1.0 })
        .collect();
    if round.len() >= 2 || hi <= lo {
        return round;
    }
    (0..5)
        .map(|i| GridMark {
            value: lo + (hi - lo) * (i as f64 + 0.5) / 5.0,
            step_size: 1.0,
        })
        .collect()
}

/// A share in percent with three significant digits.
fn share_label(percent: f64) -> String {
    let digits = (2 - percent.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{percent:.digits$}")
}

/// `labels`: [`plot_labels`] of `ticked`.
fn pareto_plot(ui: &mut egui::Ui, ticked: &[&RunView], labels: &[String], height: f32, png: &mut PngExport) {
    let points: Vec<(String, &'static str, [f64; 2])> = ticked
        .iter()
        .zip(labels)
        .filter_map(|(r, label)| {
            let share = r.summary.trainable_percent()?;
            (share > 0.0).then_some(())?;
            Some((label.clone(), r.method(), [share.log10(), 100.0 * r.summary.eer?]))
        })
        .collect();
    if points.is_empty() {
        ui.weak("Needs runs with both an EER and parameter counts.");
        return;
    }
    let xy: Vec<[f64; 2]> = points.iter().map(|(_, _, p)| *p).collect();
    let front = pareto_front(&xy);
    // At least half a decade of share on the axis, so runs of one share (a sweep over seeds) still get ticks.
    let (lo, hi) = xy.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    let pad = ((0.5 - (hi - lo)) / 2.0).max(0.05);
    let rect = Plot::new("compare_pareto")
        .height(height)
        .include_x(lo - pad)
        .include_x(hi + pad)
        .legend(Legend::default())
        .x_axis_label("trainable share (%, log scale)")
        .y_axis_label("EER (%)")
        .x_grid_spacer(share_marks)
        .x_axis_formatter(|mark, _| share_label(10f64.powf(mark.value)))
        .label_formatter(|hover| {
            let (name, pos) = match hover {
                HoverPosition::NearDataPoint { plot_name, position, .. } => (*plot_name, *position),
                HoverPosition::Elsewhere { position } => ("", *position),
            };
            Some(format!("{name}\nshare {:.3} %\nEER {:.2} %", 10f64.powf(pos.x), pos.y))
        })
        .show(ui, |p| {
            p.line(Line::new("Pareto front", PlotPoints::from(front)).color(theme::MUTED));
            for (name, method, pt) in points {
                p.points(
                    Points::new(format!("{name} ({method})"), PlotPoints::from(vec![pt]))
                        .radius(6.0)
                        .shape(MarkerShape::Circle)
                        .color(method_colour(method)),
                );
            }
        })
        .response
        .rect;
    png.button(ui, rect, "EER vs share");
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
        let loaded = crate::runs::RunStore::new(dir.path()).list().unwrap();
        let mut view = RunView::new(&loaded[0].dir);
        view.config = loaded[0].config.clone();
        let mut tail = crate::runs::MetricsTail::new(loaded[0].dir.join(crate::runs::METRICS_FILE));
        for (line, rec) in tail.poll().unwrap().records {
            view.push(line, rec);
        }
        view.status = loaded[0].status;
        view.settle();
        let csv = runs_csv(&[&view]);
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
    fn plot_labels_fall_back_to_the_folder_name_where_config_names_repeat() {
        let run = |folder: &str, name: &str| {
            let mut config = crate::config::ExperimentConfig::builtin_default();
            config.name = name.into();
            let mut r = RunView::new(std::path::Path::new(folder));
            r.config = Some(config);
            r
        };
        let (a, b, c) = (run("/r/T1-paper-lora", "paper-lora"), run("/r/T2-paper-lora", "paper-lora"), run("/r/T3-x", "x"));
        assert_eq!(plot_labels(&[&a, &b, &c]), ["T1-paper-lora", "T2-paper-lora", "x"]);
        assert_eq!(plot_labels(&[&a, &c]), ["paper-lora", "x"]);
    }

    #[test]
    fn share_labels_keep_three_significant_digits() {
        assert_eq!(share_label(57.49), "57.5");
        assert_eq!(share_label(5.06), "5.06");
        assert_eq!(share_label(0.123), "0.123");
        assert_eq!(share_label(100.0), "100");
    }

    #[test]
    fn pareto_front_keeps_only_undominated_points() {
        let pts = [[5.0, 2.0], [100.0, 2.5], [1.0, 4.0], [5.5, 3.0], [0.5, 6.0], [6.0, 1.8]];
        assert_eq!(pareto_front(&pts), vec![[0.5, 6.0], [1.0, 4.0], [5.0, 2.0], [6.0, 1.8]]);
    }
}
