//! Compare's plots of the ticked runs: DET curves (each run's own trial list), loss curves and layer weights
//! overlaid, and EER against trainable share on a log axis with the Pareto front, coloured by method. When the
//! table groups runs, each group of ticked runs is one curve or point (`group_curves`: mean loss with a ± std
//! band, mean DET curve, mean EER with an error bar).

use super::super::det_plot::{det_plot, series_colour, DetSeries};
use super::super::monitor::{series_plot, smooth, Series};
use super::group_curves::{mean_band, mean_det};
use super::super::png_export::PngExport;
use super::super::run_view::{RunSet, RunView};
use super::super::theme;
use crate::config::Method;
use eframe::egui::{self, Color32};
use crate::runs::group::Stat;
use egui_plot::{ColorConflictHandling, GridMark, HoverPosition, Legend, Line, MarkerShape, Plot, PlotPoints, Points, FilledArea};
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

/// What the plots draw one curve or point for: a ticked run, or, when the table groups runs, a group of the
/// ticked runs (its mean, with a band or an error bar).
pub struct Unit<'a> {
    pub label: String,
    pub runs: Vec<&'a RunView>,
}

impl Unit<'_> {
    fn method(&self) -> &'static str {
        self.runs[0].method()
    }
}

/// One colour per unit, the same in every plot: its method's where each method is one unit (the Pareto plot's
/// colours), else the `i`-th of a fixed sequence.
fn unit_colours(units: &[Unit<'_>]) -> Vec<Color32> {
    let methods: BTreeSet<&str> = units.iter().map(Unit::method).collect();
    if methods.len() == units.len() {
        units.iter().map(|u| method_colour(u.method())).collect()
    } else {
        (0..units.len()).map(series_colour).collect()
    }
}

/// The units of `ticked`: one per run, or one per group of runs differing only in `except` (grouped table).
pub fn units<'a>(ticked: &[&'a RunView], except: Option<&[String]>) -> Vec<Unit<'a>> {
    match except {
        None => plot_labels(ticked)
            .into_iter()
            .zip(ticked)
            .map(|(label, r)| Unit { label, runs: vec![*r] })
            .collect(),
        Some(except) => super::table::group_rows(ticked, except)
            .into_iter()
            .map(|g| {
                let label = if g.runs.len() > 1 { format!("{} (n = {})", g.label, g.runs.len()) } else { g.label };
                Unit { label, runs: g.runs }
            })
            .collect(),
    }
}

/// The plots of the runs in `ticked` (run folders); `except`: the table's grouping, if it groups.
pub fn plots_ui(
    ui: &mut egui::Ui,
    runs: &RunSet,
    ticked: &BTreeSet<PathBuf>,
    except: Option<&[String]>,
    png: &mut PngExport,
) {
    let ticked: Vec<&RunView> = runs.runs.iter().filter(|r| ticked.contains(&r.dir)).collect();
    if ticked.is_empty() {
        ui.weak("Tick runs to overlay their DET curves, loss curves and layer weights and place them on the EER / trainable-share plot.");
        return;
    }
    let units = units(&ticked, except);
    let colours = unit_colours(&units);
    if except.is_some() {
        ui.weak(
            "Grouped: each group of ticked runs is one curve: its mean, with a band of ± one standard deviation (loss), \
             the mean DET curve (miss rates averaged on probit axes at each false-alarm rate: seeds' scores are not \
             pooled, their scales differ) and the mean EER with an error bar of ± one standard deviation.",
        );
    }
    let h = theme::PLOT_HEIGHT * 1.4;
    ui.columns(2, |cols| {
        cols[0].strong(if except.is_some() { "DET curves (mean of each group)" } else { "DET curves (latest evaluation of each run)" });
        det_ui(&mut cols[0], &units, &colours, h, png);
        cols[1].strong("EER vs trainable share (log axis) with the Pareto front");
        pareto_plot(&mut cols[1], &units, &colours, h, png);
    });
    ui.add_space(theme::GAP);
    ui.columns(2, |cols| {
        cols[0].strong("Training loss (smoothed 0.9)");
        loss_ui(&mut cols[0], &units, &colours, h * 0.8, png);
        cols[1].strong("Layer weights (latest of each run)");
        let weights: Vec<Series> = units
            .iter()
            .zip(&colours)
            .filter_map(|(u, colour)| {
                let per_run: Vec<Vec<[f64; 2]>> = u
                    .runs
                    .iter()
                    .filter_map(|r| r.layer_weights.last())
                    .map(|(_, w)| w.iter().enumerate().map(|(i, v)| [i as f64, *v]).collect())
                    .collect();
                let mean = mean_band(&per_run);
                (!mean.is_empty()).then(|| Series {
                    name: u.label.clone(),
                    points: mean.iter().map(|p| [p[0], p[1]]).collect(),
                    color: Some(*colour),
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

/// Each unit's DET: a run's latest on its own list, a group's mean curve ([`mean_det`]) marked at its mean EER.
fn det_ui(ui: &mut egui::Ui, units: &[Unit<'_>], colours: &[Color32], size: f32, png: &mut PngExport) {
    let curves: Vec<(String, Vec<[f64; 2]>, Option<f64>, Color32)> = units
        .iter()
        .zip(colours)
        .filter_map(|(u, colour)| {
            let evals: Vec<_> = u.runs.iter().filter_map(|r| r.latest_det()).collect();
            match evals.as_slice() {
                [] => None,
                [e] => Some((u.label.clone(), e.det.clone(), Some(e.eer), *colour)),
                many => {
                    let dets: Vec<&[[f64; 2]]> = many.iter().map(|e| e.det.as_slice()).collect();
                    let eer = many.iter().map(|e| e.eer).sum::<f64>() / many.len() as f64;
                    Some((format!("{} mean of {}", u.label, many.len()), mean_det(&dets), Some(eer), *colour))
                }
            }
        })
        .collect();
    if curves.is_empty() {
        ui.weak("None of the ticked runs has been evaluated yet.");
        return;
    }
    let series: Vec<DetSeries<'_>> =
        curves
            .iter()
            .map(|(label, points, eer, colour)| DetSeries { label: label.clone(), points, eer: *eer, colour: Some(*colour) })
            .collect();
    let rect = det_plot(ui, "compare_det", &series, size);
    png.button(ui, rect, "DET overlay");
}

/// Each unit's smoothed loss: a run's line, or a group's mean with a ± one std band (at the steps all its runs
/// reached).
fn loss_ui(ui: &mut egui::Ui, units: &[Unit<'_>], colours: &[Color32], height: f32, png: &mut PngExport) {
    let bands: Vec<(String, Vec<[f64; 3]>, Color32)> = units
        .iter()
        .zip(colours)
        .map(|(u, colour)| {
            let per_run: Vec<Vec<[f64; 2]>> = u
                .runs
                .iter()
                .filter(|r| !r.steps.is_empty())
                .map(|r| smooth(&r.steps.iter().map(|s| [s.step as f64, s.loss]).collect::<Vec<_>>(), 0.9))
                .collect();
            (u.label.clone(), mean_band(&per_run), *colour)
        })
        .filter(|(_, b, _)| !b.is_empty())
        .collect();
    if bands.is_empty() {
        ui.weak("No steps in the ticked runs.");
        return;
    }
    let rect = Plot::new("compare_loss")
        // The wheel scrolls the page; Ctrl + wheel zooms the plot.
        .allow_scroll(false)
        .height(height)
        .legend(Legend::default().color_conflict_handling(ColorConflictHandling::PickFirst))
        .x_axis_label("step")
        .y_axis_label("loss")
        .show(ui, |p| {
            for (name, band, colour) in &bands {
                // The line first: the legend takes an entry's colour from its first item (the band's is faint).
                let mean: Vec<[f64; 2]> = band.iter().map(|b| [b[0], b[1]]).collect();
                p.line(Line::new(name.clone(), PlotPoints::from(mean)).color(*colour));
                if band.iter().any(|b| b[2] > 0.0) {
                    let xs: Vec<f64> = band.iter().map(|b| b[0]).collect();
                    let lo: Vec<f64> = band.iter().map(|b| b[1] - b[2]).collect();
                    let hi: Vec<f64> = band.iter().map(|b| b[1] + b[2]).collect();
                    // Named as its mean line: the legend shows and hides them together.
                    p.add(FilledArea::new(name.clone(), &xs, &lo, &hi).fill_color(colour.gamma_multiply(0.25)));
                }
            }
        })
        .response
        .rect;
    png.button(ui, rect, "loss overlay");
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

/// Each unit at (trainable share, EER): a group at its mean EER with an error bar of ± one std; the Pareto front
/// through the units' (mean) points.
fn pareto_plot(ui: &mut egui::Ui, units: &[Unit<'_>], colours: &[Color32], height: f32, png: &mut PngExport) {
    let points: Vec<(String, &'static str, [f64; 2], f64, Color32)> = units
        .iter()
        .zip(colours)
        .filter_map(|(u, colour)| {
            let share = Stat::of(u.runs.iter().filter_map(|r| r.summary.trainable_percent()))?.mean;
            (share > 0.0).then_some(())?;
            let eer = Stat::of(u.runs.iter().filter_map(|r| r.summary.eer.map(|e| 100.0 * e)))?;
            Some((u.label.clone(), u.method(), [share.log10(), eer.mean], eer.std, *colour))
        })
        .collect();
    if points.is_empty() {
        ui.weak("Needs runs with both an EER and parameter counts.");
        return;
    }
    let xy: Vec<[f64; 2]> = points.iter().map(|(_, _, p, _, _)| *p).collect();
    let front = pareto_front(&xy);
    // At least half a decade of share on the axis, so runs of one share (a sweep over seeds) still get ticks.
    let (lo, hi) = xy.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    let pad = ((0.5 - (hi - lo)) / 2.0).max(0.05);
    let rect = Plot::new("compare_pareto")
        // The wheel scrolls the page; Ctrl + wheel zooms the plot.
        .allow_scroll(false)
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
            for (name, method, pt, std, colour) in points {
                let name = format!("{name} ({method})");
                if std > 0.0 {
                    // The error bar with its caps, named as its point so the legend shows and hides them together.
                    let (x, y, cap) = (pt[0], pt[1], 0.02);
                    for seg in [[[x, y - std], [x, y + std]], [[x - cap, y - std], [x + cap, y - std]], [[x - cap, y + std], [x + cap, y + std]]] {
                        p.line(Line::new(name.clone(), PlotPoints::from(seg.to_vec())).color(colour));
                    }
                }
                p.points(
                    Points::new(name, PlotPoints::from(vec![pt]))
                        .radius(6.0)
                        .shape(MarkerShape::Circle)
                        .color(colour),
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
