//! DET curves as researchers draw them: miss rate against false-alarm rate on normal-deviate (probit) axes,
//! NIST ticks (0.1 % … 40 %), the equal-error diagonal, several curves overlaid.

use crate::eval::{det::clamped_probit, nist_ticks};
use egui_plot::{GridInput, GridMark, HoverPosition, Legend, Line, Plot, PlotPoints};

/// One curve: a label and its `[p_fa, p_miss]` points (fractions), as stored in `eval` events.
pub struct DetSeries<'a> {
    pub label: String,
    pub points: &'a [[f64; 2]],
}

fn nist_marks(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    nist_ticks()
        .iter()
        .filter(|(v, _)| *v >= lo && *v <= hi)
        .map(|(v, _)| GridMark {
            value: *v,
            step_size: 1.0,
        })
        .collect()
}

fn nist_label(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    nist_ticks()
        .iter()
        .find(|(v, _)| (v - mark.value).abs() < 1e-9)
        .map(|(_, label)| format!("{label} %"))
        .unwrap_or_default()
}

/// Draws the curves in a square-ish plot `height` points tall.
pub fn det_plot(ui: &mut eframe::egui::Ui, id: &str, series: &[DetSeries<'_>], height: f32) {
    let lo = clamped_probit(0.0005);
    let hi = clamped_probit(0.5);
    Plot::new(id)
        .height(height)
        .data_aspect(1.0)
        .legend(Legend::default())
        .include_x(lo)
        .include_x(hi)
        .include_y(lo)
        .include_y(hi)
        .x_grid_spacer(nist_marks)
        .y_grid_spacer(nist_marks)
        .x_axis_formatter(nist_label)
        .y_axis_formatter(nist_label)
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
            for s in series {
                let pts: Vec<[f64; 2]> = s
                    .points
                    .iter()
                    .map(|[fa, miss]| [clamped_probit(*fa), clamped_probit(*miss)])
                    .collect();
                p.line(Line::new(s.label.clone(), PlotPoints::from(pts)));
            }
        });
}
