//! Compare's sweep view: the runs of one sweep (their config's `sweep`, written by `adaptsv sweep` and the app's
//! "Compare methods"; or simply the runs the filter shows) as parallel coordinates: one vertical axis per config
//! key that varies among them, then the EER on their own trial list, each run a line through its values coloured
//! by its EER (bright = low), so a bottleneck × layers × seed grid reads at a glance. Below, the runs ranked by
//! EER with the varied keys.
//!
//! Axes with at most [`MAX_LEVELS`] distinct values space them evenly (numbers in numeric order, text
//! alphabetically), as a grid's levels are; more values than that are placed linearly between their minimum and
//! maximum. The EER axis is linear, best at the bottom.

use super::super::monitor::ramp;
use super::super::png_export::PngExport;
use super::super::run_view::RunView;
use super::super::theme;
use crate::runs::group::{differing_keys, BOOKKEEPING};
use eframe::egui::{self, Align2, RichText};
use egui_plot::{HoverPosition, Line, Plot, PlotPoint, PlotPoints, Text, VLine};

/// Distinct values up to which an axis spaces its values evenly.
pub const MAX_LEVELS: usize = 12;

/// One vertical axis: a title, where each run sits on it (0 = bottom, 1 = top) and the labelled ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub title: String,
    pub ticks: Vec<(f64, String)>,
}

/// The parallel coordinates of `runs` over `keys` (dotted config keys) and their EER (%): the axes and, per run,
/// its height on each axis (`None` where it lacks the value). Runs without an EER are left out: the returned
/// indices say which runs the rows are.
pub fn coordinates(runs: &[&RunView], keys: &[String]) -> (Vec<Axis>, Vec<(usize, Vec<Option<f64>>)>) {
    let with_eer: Vec<(usize, f64)> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, 100.0 * r.summary.eer?)))
        .collect();
    let mut axes = Vec::new();
    let mut heights: Vec<Vec<Option<f64>>> = vec![Vec::new(); with_eer.len()];
    for key in keys {
        let values: Vec<Option<String>> = with_eer
            .iter()
            .map(|(i, _)| runs[*i].flat_config().get(key).map(|v| v.trim_matches('"').to_string()))
            .collect();
        let (axis, placed) = place(key, &values);
        axes.push(axis);
        for (h, p) in heights.iter_mut().zip(placed) {
            h.push(p);
        }
    }
    let eers: Vec<Option<String>> = with_eer.iter().map(|(_, e)| Some(e.to_string())).collect();
    let (mut axis, placed) = place_linear("EER (%)", &eers, 2);
    // Best at the bottom, as on every other EER axis of the app.
    axis.ticks.iter_mut().for_each(|t| t.0 = t.0.clamp(0.0, 1.0));
    axes.push(axis);
    for (h, p) in heights.iter_mut().zip(placed) {
        h.push(p);
    }
    (axes, with_eer.iter().map(|(i, _)| *i).zip(heights).collect())
}

/// One axis for `values`: evenly spaced levels, or linear when there are more than [`MAX_LEVELS`] numbers.
fn place(title: &str, values: &[Option<String>]) -> (Axis, Vec<Option<f64>>) {
    let mut levels: Vec<&String> = values.iter().flatten().collect();
    let numbers: Option<Vec<f64>> = levels.iter().map(|v| v.parse::<f64>().ok()).collect();
    levels.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    });
    levels.dedup();
    if numbers.is_some() && levels.len() > MAX_LEVELS {
        return place_linear(title, values, 3);
    }
    let at = |i: usize| {
        if levels.len() > 1 {
            i as f64 / (levels.len() - 1) as f64
        } else {
            0.5
        }
    };
    let ticks = levels.iter().enumerate().map(|(i, v)| (at(i), (*v).clone())).collect();
    let placed = values
        .iter()
        .map(|v| v.as_ref().and_then(|v| levels.iter().position(|l| *l == v)).map(at))
        .collect();
    (
        Axis {
            title: title.to_string(),
            ticks,
        },
        placed,
    )
}

/// A linear axis from the smallest to the largest of `values` (numbers), ticks at both ends and the middle.
fn place_linear(title: &str, values: &[Option<String>], digits: usize) -> (Axis, Vec<Option<f64>>) {
    let numbers: Vec<Option<f64>> = values.iter().map(|v| v.as_ref().and_then(|v| v.parse().ok())).collect();
    let (lo, hi) = numbers
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    let span = hi - lo;
    let at = |x: f64| if span > 0.0 { (x - lo) / span } else { 0.5 };
    let ticks = if lo > hi {
        Vec::new()
    } else if span > 0.0 {
        [lo, (lo + hi) / 2.0, hi]
            .iter()
            .map(|x| (at(*x), format!("{x:.digits$}")))
            .collect()
    } else {
        vec![(0.5, format!("{lo:.digits$}"))]
    };
    (
        Axis {
            title: title.to_string(),
            ticks,
        },
        numbers.into_iter().map(|x| x.map(at)).collect(),
    )
}

/// The sweeps among `runs` (config `sweep`), with how many runs each has, newest sweep first.
pub fn sweeps(runs: &[&RunView]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize, String)> = Vec::new();
    for r in runs {
        let Some(name) = r.config.as_ref().and_then(|c| c.sweep.clone()) else {
            continue;
        };
        match out.iter_mut().find(|(n, _, _)| *n == name) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 = entry.2.clone().max(r.id.clone());
            }
            None => out.push((name, 1, r.id.clone())),
        }
    }
    out.sort_by(|a, b| b.2.cmp(&a.2));
    out.into_iter().map(|(n, c, _)| (n, c)).collect()
}

/// Which runs the view shows.
#[derive(Default)]
pub struct SweepView {
    /// A sweep by name; `None`: the runs the filter shows.
    pub sweep: Option<String>,
    /// The sweep was chosen (otherwise the newest is taken).
    chosen: bool,
}

impl SweepView {
    /// The view of `shown` (the filtered runs).
    pub fn ui(&mut self, ui: &mut egui::Ui, shown: &[&RunView], png: &mut PngExport) {
        let found = sweeps(shown);
        if !self.chosen || self.sweep.as_ref().is_some_and(|s| !found.iter().any(|(n, _)| n == s)) {
            self.sweep = found.first().map(|(n, _)| n.clone());
        }
        ui.horizontal(|ui| {
            ui.label("sweep");
            let current = self.sweep.clone().unwrap_or_else(|| "the runs the filter shows".into());
            egui::ComboBox::from_id_salt("sweep_pick")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for (name, n) in &found {
                        if ui
                            .selectable_label(self.sweep.as_ref() == Some(name), format!("{name} ({n} runs)"))
                            .clicked()
                        {
                            self.sweep = Some(name.clone());
                            self.chosen = true;
                        }
                    }
                    if ui
                        .selectable_label(self.sweep.is_none(), "the runs the filter shows")
                        .clicked()
                    {
                        self.sweep = None;
                        self.chosen = true;
                    }
                });
        });
        let runs: Vec<&RunView> = shown
            .iter()
            .filter(|r| self.sweep.is_none() || r.config.as_ref().and_then(|c| c.sweep.as_ref()) == self.sweep.as_ref())
            .copied()
            .collect();
        let configs: Vec<_> = runs.iter().map(|r| r.config.as_ref()).collect();
        let keys: Vec<String> = differing_keys(&configs)
            .into_iter()
            .filter(|k| !BOOKKEEPING.contains(&k.as_str()))
            .collect();
        let (axes, rows) = coordinates(&runs, &keys);
        if rows.is_empty() {
            ui.weak("None of these runs has an EER yet: the view fills as they are evaluated.");
            return;
        }
        ui.weak(format!(
            "{} runs with an EER · {} varied keys · line colour: EER (bright = low) · hover a line for its run",
            rows.len(),
            keys.len()
        ));
        let rect = parallel_plot(ui, &axes, &rows, &runs);
        png.button(ui, rect, "sweep view");
        ui.add_space(theme::GAP);
        ranked_table(ui, &runs, &keys, &rows);
    }
}

fn parallel_plot(
    ui: &mut egui::Ui,
    axes: &[Axis],
    rows: &[(usize, Vec<Option<f64>>)],
    runs: &[&RunView],
) -> egui::Rect {
    let eers: Vec<f64> = rows.iter().filter_map(|(i, _)| runs[*i].summary.eer).collect();
    let (lo, hi) = eers
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    let colour = |eer: f64| ramp(if hi > lo { 1.0 - (eer - lo) / (hi - lo) } else { 0.5 });
    let text_colour = ui.visuals().text_color();
    let last = axes.len().saturating_sub(1) as f64;
    Plot::new("sweep_parallel")
        .height(theme::PLOT_HEIGHT * 1.8)
        .show_axes([false, false])
        .show_grid(false)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_x(-0.35)
        .include_x(last + 0.35)
        .include_y(-0.08)
        .include_y(1.12)
        .label_formatter(|hover| match hover {
            HoverPosition::NearDataPoint { plot_name, .. } if !plot_name.is_empty() => Some(plot_name.to_string()),
            _ => None,
        })
        .show(ui, |p| {
            for (x, axis) in axes.iter().enumerate() {
                let x = x as f64;
                p.vline(VLine::new("", x).color(theme::MUTED).width(1.5));
                p.text(
                    Text::new("", PlotPoint::new(x, 1.08), RichText::new(&axis.title).strong().size(14.0))
                        .color(text_colour)
                        .anchor(Align2::CENTER_BOTTOM),
                );
                for (y, label) in &axis.ticks {
                    p.text(
                        Text::new("", PlotPoint::new(x + 0.03, *y), RichText::new(label).size(13.0))
                            .color(text_colour)
                            .anchor(Align2::LEFT_CENTER),
                    );
                }
            }
            for (i, heights) in rows {
                let run = runs[*i];
                let points: Vec<[f64; 2]> = heights
                    .iter()
                    .enumerate()
                    .filter_map(|(x, h)| Some([x as f64, (*h)?]))
                    .collect();
                let eer = run.summary.eer.unwrap_or(hi);
                p.line(
                    Line::new(
                        format!("{} · EER {:.2} %", run.id, 100.0 * eer),
                        PlotPoints::from(points),
                    )
                    .color(colour(eer))
                    .width(2.0),
                );
            }
        })
        .response
        .rect
}

/// The runs ranked by EER (best first) with their values of the varied keys.
fn ranked_table(ui: &mut egui::Ui, runs: &[&RunView], keys: &[String], rows: &[(usize, Vec<Option<f64>>)]) {
    let mut ranked: Vec<&RunView> = rows.iter().map(|(i, _)| runs[*i]).collect();
    ranked.sort_by(|a, b| {
        a.summary
            .eer
            .unwrap_or(f64::MAX)
            .total_cmp(&b.summary.eer.unwrap_or(f64::MAX))
    });
    egui::Grid::new("sweep_ranked")
        .striped(true)
        .spacing([theme::GAP * 2.0, theme::GAP / 2.0])
        .show(ui, |ui| {
            ui.strong("rank");
            ui.strong("run");
            for k in keys {
                ui.strong(k.as_str());
            }
            ui.strong("EER (%)");
            ui.strong("minDCF 0.01");
            ui.end_row();
            for (rank, r) in ranked.iter().enumerate() {
                ui.label((rank + 1).to_string());
                ui.label(&r.id);
                for k in keys {
                    ui.label(r.flat_config().get(k).map(|v| v.trim_matches('"')).unwrap_or("-"));
                }
                ui.label(r.summary.eer.map(|e| format!("{:.2}", 100.0 * e)).unwrap_or_default());
                ui.label(
                    r.summary
                        .min_dcf
                        .get("0.01")
                        .map(|d| format!("{d:.4}"))
                        .unwrap_or_default(),
                );
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, bottleneck: u64, seed: u64, eer: f64) -> RunView {
        let mut c = crate::config::ExperimentConfig::builtin_default();
        c.adaptation.inner.bottleneck = bottleneck as usize;
        c.seed = seed;
        c.sweep = Some("grid".into());
        let mut r = RunView::new(std::path::Path::new(id));
        r.config = Some(c);
        r.summary.eer = Some(eer);
        r
    }

    #[test]
    fn a_grid_sits_on_evenly_spaced_levels_and_the_eer_axis_is_linear() {
        let runs = [
            run("a", 8, 1, 0.20),
            run("b", 32, 1, 0.10),
            run("c", 16, 2, 0.15),
            run("d", 8, 2, 0.30),
        ];
        let refs: Vec<&RunView> = runs.iter().collect();
        let keys = vec!["adaptation.inner.bottleneck".to_string(), "seed".to_string()];
        let (axes, rows) = coordinates(&refs, &keys);
        assert_eq!(axes.len(), 3);
        assert_eq!(
            axes[0].ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            ["8", "16", "32"],
            "numeric order"
        );
        let h: Vec<&Vec<Option<f64>>> = rows.iter().map(|(_, h)| h).collect();
        assert_eq!(h[0][0], Some(0.0));
        assert_eq!(h[1][0], Some(1.0));
        assert_eq!(h[2][0], Some(0.5));
        assert_eq!(h[0][1], Some(0.0));
        assert_eq!(h[3][1], Some(1.0));
        // EER 10 % at the bottom, 30 % at the top, 20 % halfway.
        assert_eq!(h[1][2], Some(0.0));
        assert_eq!(h[3][2], Some(1.0));
        assert!((h[0][2].unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(sweeps(&refs), [("grid".to_string(), 4)]);
    }
}
