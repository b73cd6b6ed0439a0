//! The desktop app (eframe/egui): Configure, Monitor and Compare tabs over the same engine and run folders
//! the CLI uses.
//!
//! | module        | job                                                        |
//! |---------------|------------------------------------------------------------|
//! | `app`         | tab shell, command dispatch, run list shared by the tabs   |
//! | `commands`    | every action with its label, tooltip and shortcut          |
//! | `configure`   | examples, TOML editor with live validation                 |
//! | `monitor`     | run list, loss / layer-weight / EER plots of one run       |
//! | `compare`     | sortable table of all runs                                 |
//! | `run_watcher` | background thread re-reading run folders                   |
//! | `file_dialog` | native dialogs off the UI thread                           |
//! | `param_counter` | background parameter counts for the Configure tab        |
//! | `theme`       | spacing and colour tokens                                  |

mod app;
mod commands;
mod compare;
mod configure;
mod det_plot;
mod file_dialog;
mod launcher;
mod monitor;
mod param_counter;
mod run_watcher;
mod theme;

pub use app::{AdaptsvApp, AppOptions, Tab};
pub use configure::{describe, find_examples};
pub use monitor::smooth;

/// Opens the main window and blocks until it is closed.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("adaptsv — adapter tuning for speaker verification")
            .with_inner_size([1280.0, 800.0]),
        ..Default::default()
    };
    eframe::run_native(
        "adaptsv",
        native,
        Box::new(|cc| Ok(Box::new(AdaptsvApp::new(&cc.egui_ctx, options)))),
    )
    .map_err(|e| {
        anyhow::anyhow!("cannot open the window: {e} (is a display available? for servers use the CLI subcommands)")
    })
}
