//! Compare's plots of the ticked runs: DET curves (each run's own trial list), loss curves and layer weights
//! overlaid, and EER against trainable share on a log axis with the Pareto front, coloured by method.

use super::super::det_plot::{det_plot, DetSeries};
use super::super::monitor::{series_plot, smooth, Series};
use super::super::png_export::PngExport;
use super::super::run_view::{RunSet, RunView};
use super::super::theme;
use crate::config::Method;
use eframe::egui::{self, Color32};
use egui_plot::{GridMark, HoverPosition, Legend, Line, MarkerShape, Plot, PlotPoints, Points};
use std::collections::BTreeSet;
use std::path::PathBuf;

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

/// The plots of the runs in `ticked` (run folders).
pub fn plots_ui(ui: &mut egui::Ui, runs: &RunSet, ticked: &BTreeSet<PathBuf>, png: &mut PngExport) {
    let ticked: Vec<&RunView> = runs.runs.iter().filter(|r| ticked.contains(&r.dir)).collect();
    if ticked.is_empty() {
        ui.weak("Tick runs to overlay their DET curves, loss curves and layer weights and place them on the EER / trainable-share plot.");
        return;
    }
    let labels = plot_labels(&ticked);
    let h = theme::PLOT_HEIGHT * 1.4;
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
