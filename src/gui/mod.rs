//! The desktop app (eframe/egui): Configure, Monitor and Compare tabs over the same engine and run folders
//! the CLI uses. Background threads do every disk read and write, model build and training step; the UI
//! thread folds their answers in each frame and draws.
//!
//! | module          | job                                                                    |
//! |-----------------|------------------------------------------------------------------------|
//! | `app`           | tab shell, command dispatch, run queue, the run set shared by the tabs |
//! | `calibration_panel` | a run's score calibration shown, and made on a worker (Monitor)   |
//! | `commands`      | every action with its label, tooltip and shortcut                      |
//! | `configure`     | examples, the form and the TOML view kept in sync, Launch              |
//! | `config_form`   | the experiment as widgets, problems beside their fields                |
//! | `layer_stack`   | the clickable Transformer stack (adapter placement, layer choices)     |
//! | `param_counter` | validation and parameter counts on worker threads                      |
//! | `monitor`       | run list and queue; loss, LR, throughput, layer weights, EER, DET, log |
//! | `notes_edit`    | the selected run's tags and note, written on a worker                  |
//! | `compare/`      | sortable table (own and other trial lists), overlays, CSV, Pareto plot |
//! | `run_view`      | a run's events and series, merged from the channel and the file        |
//! | `run_watcher`   | background thread following run folders incrementally                  |
//! | `run_queue`     | one run per device at a time; the others wait their turn               |
//! | `launcher`      | background thread starting and resuming runs through the engine, or submitting them to Slurm |
//! | `cluster`       | Slurm seen from the app: is it here, each submitted run's job state, cancel |
//! | `decimate`      | min/max per pixel column for long series                               |
//! | `det_plot`      | DET curves on probit axes                                              |
//! | `device_list`   | the devices the form offers (CPU, wgpu adapters, CUDA), probed on a worker |
//! | `png_export`    | plots to PNG (screenshot, crop, encode on a worker)                    |
//! | `file_dialog`   | native dialogs off the UI thread                                       |
//! | `jobs`          | a worker thread for a panel's file work                                |
//! | `theme`         | spacing and colour tokens                                              |

mod app;
mod calibration_panel;
mod cluster;
mod commands;
mod compare;
mod config_form;
mod configure;
mod decimate;
mod det_plot;
mod device_list;
mod file_dialog;
mod jobs;
mod launcher;
mod layer_stack;
mod monitor;
mod notes_edit;
mod param_counter;
mod png_export;
mod run_queue;
mod run_view;
mod run_watcher;
mod theme;

pub use app::{AdaptsvApp, AppOptions, Remembered, Tab, STORAGE_KEY};
pub use configure::{find_examples, RunOn, View};
pub use decimate::min_max_per_column;
pub use compare::CompareView;
pub use monitor::{smooth, XAxis};
pub use run_view::{RunSet, RunView, StepRow};

/// Opens the main window and blocks until it is closed.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("adaptsv — adapter tuning for speaker verification")
            .with_inner_size([1400.0, 900.0]),
        ..Default::default()
    };
    eframe::run_native(
        "adaptsv",
        native,
        Box::new(|cc| {
            let remembered = if options.fresh {
                Remembered::default()
            } else {
                cc.storage
                    .and_then(|s| eframe::get_value::<Remembered>(s, STORAGE_KEY))
                    .unwrap_or_default()
            };
            Ok(Box::new(AdaptsvApp::new(&cc.egui_ctx, options, remembered)))
        }),
    )
    .map_err(|e| {
        anyhow::anyhow!("cannot open the window: {e} (is a display available? for servers use the CLI subcommands)")
    })
}
