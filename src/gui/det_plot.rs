//! DET curves as researchers draw them: miss rate against false-alarm rate on normal-deviate (probit) axes,
//! NIST ticks (0.1 % … 40 %), the equal-error diagonal, several curves overlaid, each with its EER marked.

use crate::eval::{det::clamped_probit, nist_ticks};
use egui_plot::{Corner, GridInput, GridMark, HoverPosition, Legend, Line, Plot, PlotPoints};

/// One curve: a label and its `[p_fa, p_miss]` points (fractions), as stored in `eval` events.
pub struct DetSeries<'a> {
    pub label: String,
    pub points: &'a [[f64; 2]],
    /// The EER (fraction), marked on the curve where it crosses the diagonal.
    pub eer: Option<f64>,
    /// Its colour; `None`: the `i`-th of a fixed sequence ([`series_colour`]).
    pub colour: Option<eframe::egui::Color32>,
}

/// Rates shown: 0.05 % to 90 %, so weak systems (EER above 40 %) stay on the plot too.
const SHOWN: (f64, f64) = (0.0005, 0.9);

/// NIST's ticks (0.1 … 40 %) and three more above them for weak systems: `(probit value, label)`.
fn ticks() -> Vec<(f64, String)> {
    let mut t: Vec<(f64, String)> = nist_ticks().iter().map(|(v, l)| (*v, format!("{l} %"))).collect();
    t.extend([(0.6, "60 %"), (0.8, "80 %"), (0.9, "90 %")].map(|(p, l)| (clamped_probit(p), l.to_string())));
    t
}

fn marks(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    // A large step size makes egui_plot treat every tick as a major line and label it.
    ticks()
        .into_iter()
        .filter(|(v, _)| *v >= lo && *v <= hi)
        .map(|(v, _)| GridMark {
            value: v,
            step_size: 10.0,
        })
        .collect()
}

fn label(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    ticks()
        .into_iter()
        .find(|(v, _)| (v - mark.value).abs() < 1e-9)
        .map(|(_, l)| l)
        .unwrap_or_default()
}

/// The colour of series `i`: egui_plot's own sequence (hues a golden ratio apart), fixed per series.
pub fn series_colour(i: usize) -> eframe::egui::Color32 {
    let hue = (i as f32 * (std::f32::consts::GOLDEN_RATIO - 1.0)).fract();
    eframe::egui::ecolor::Hsva::new(hue, 0.85, 0.5, 1.0).into()
}

/// Draws the curves in a square plot `size` points wide and tall (equal scales on both axes, as DET plots are);
/// returns the plot's rect.
pub fn det_plot(ui: &mut eframe::egui::Ui, id: &str, series: &[DetSeries<'_>], size: f32) -> eframe::egui::Rect {
    let lo = clamped_probit(SHOWN.0);
    let hi = clamped_probit(SHOWN.1);
    Plot::new(id)
        // The wheel scrolls the page; Ctrl + wheel zooms the plot.
        .allow_scroll(false)
        .width(size)
        .height(size)
        .legend(Legend::default().position(Corner::LeftBottom))
        .default_x_bounds(lo, hi)
        .default_y_bounds(lo, hi)
        .x_grid_spacer(marks)
        .y_grid_spacer(marks)
        .x_axis_formatter(label)
        .y_axis_formatter(label)
        .x_axis_label("false-alarm rate")
        .y_axis_label("miss rate")
        .label_formatter(|hover| {
            let (name, pos) = match hover {
                HoverPosition::NearDataPoint {
                    plot_name, position, ..
                } => (*plot_name, *position),
                HoverPosition::Elsewhere { position } => ("", *position),
            };
            let pct = |z: f64| 100.0 * crate::eval::det::normal_cdf(z);
            Some(format!("{name}\nP_fa {:.2} %\nP_miss {:.2} %", pct(pos.x), pct(pos.y)))
        })
        .show(ui, |p| {
            p.line(
                Line::new("EER line", PlotPoints::from(vec![[lo, lo], [hi, hi]]))
                    .color(super::theme::MUTED)
                    .style(egui_plot::LineStyle::dashed_dense()),
            );
            for (i, s) in series.iter().enumerate() {
                let pts: Vec<[f64; 2]> = s
                    .points
                    .iter()
                    .map(|[fa, miss]| [clamped_probit(*fa), clamped_probit(*miss)])
                    .collect();
                // The curve and its EER mark share a name and a colour: one legend entry per run, which hides or
                // shows both (ten runs would otherwise make a legend taller than the plot).
                let colour = s.colour.unwrap_or_else(|| series_colour(i));
                p.line(Line::new(s.label.clone(), PlotPoints::from(pts)).color(colour));
                if let Some(eer) = s.eer {
                    let z = clamped_probit(eer);
                    p.points(
                        egui_plot::Points::new(s.label.clone(), PlotPoints::from(vec![[z, z]]))
                            .color(colour)
                            .radius(5.0)
                            .shape(egui_plot::MarkerShape::Diamond),
                    );
                }
            }
        })
        .response
        .rect
}
