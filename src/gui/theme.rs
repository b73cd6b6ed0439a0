//! Design tokens: the spacing, sizes and colours panels use, named for their role, never written as literals
//! in panel code.

use eframe::egui::Color32;

/// Gap between groups of controls.
pub const GAP: f32 = 8.0;
/// Width of the side lists (examples, runs).
pub const SIDE_PANEL_WIDTH: f32 = 260.0;
/// Height of a plot inside a tab.
pub const PLOT_HEIGHT: f32 = 240.0;

pub const OK: Color32 = Color32::from_rgb(90, 170, 90);
pub const WARN: Color32 = Color32::from_rgb(220, 170, 60);
pub const ERROR: Color32 = Color32::from_rgb(220, 80, 70);
pub const MUTED: Color32 = Color32::from_rgb(140, 140, 140);

/// Colour of a run status badge.
pub fn status_colour(status: crate::runs::RunStatus) -> Color32 {
    use crate::runs::RunStatus::*;
    match status {
        Running => Color32::from_rgb(90, 150, 230),
        Finished => OK,
        Stopped => WARN,
        Failed | Crashed => ERROR,
        Queued => MUTED,
    }
}

/// Highlights: adapters in the stack picture, the live series.
pub const ACCENT: Color32 = Color32::from_rgb(90, 150, 230);
