//! The application shell: the tab bar, command dispatch, and the run list shared by Monitor and Compare.
//! Runtime handles (the watcher thread, open dialogs) live here and in the panels; nothing here touches a
//! tensor or waits on the disk.

use super::commands::UiCommand;
use super::compare::ComparePanel;
use super::configure::ConfigurePanel;
use super::launcher::{Launched, Launcher};
use super::monitor::MonitorPanel;
use super::run_watcher::RunWatcher;
use crate::engine::RunHandle;
use crate::runs::{LoadedRun, RunEvent, RunStore};
use eframe::egui;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Configure,
    Monitor,
    Compare,
}

/// Where the app finds its files, and what it opens first.
pub struct AppOptions {
    pub examples_dir: PathBuf,
    pub runs_root: PathBuf,
    /// (origin, TOML text) to open instead of the built-in default.
    pub initial_config: Option<(String, String)>,
    pub initial_tab: Tab,
}

pub struct AdaptsvApp {
    tab: Tab,
    configure: ConfigurePanel,
    monitor: MonitorPanel,
    compare: ComparePanel,
    runs: Vec<LoadedRun>,
    runs_error: Option<String>,
    runs_root: String,
    watcher: RunWatcher,
    launcher: Launcher,
    /// Runs launched from this app and still training: their commands, and channels drained every frame.
    live: Vec<RunHandle>,
    launch_error: Option<String>,
}

impl AdaptsvApp {
    pub fn new(ctx: &egui::Context, options: AppOptions) -> Self {
        let repaint_ctx = ctx.clone();
        let watcher = RunWatcher::spawn(RunStore::new(options.runs_root.clone()), move || {
            repaint_ctx.request_repaint()
        });
        let repaint_ctx = ctx.clone();
        let launcher = Launcher::spawn(move || repaint_ctx.request_repaint());
        Self {
            tab: options.initial_tab,
            configure: ConfigurePanel::new(options.examples_dir, options.initial_config),
            monitor: MonitorPanel::default(),
            compare: ComparePanel::default(),
            runs: Vec::new(),
            runs_error: None,
            runs_root: options.runs_root.display().to_string(),
            watcher,
            launcher,
            live: Vec::new(),
            launch_error: None,
        }
    }

    /// Takes launch replies and drains the live runs' events (the Monitor reads their folders); a run that
    /// ends triggers a re-read of the run list.
    fn poll_live(&mut self, ctx: &egui::Context) {
        while let Ok(reply) = self.launcher.replies.try_recv() {
            match reply {
                Launched::Run(handle) => {
                    self.monitor.selected = Some(handle.id.clone());
                    self.tab = Tab::Monitor;
                    self.launch_error = None;
                    self.live.push(handle);
                    self.watcher.refresh();
                }
                Launched::Failed { name, error } => self.launch_error = Some(format!("cannot launch {name}: {error}")),
            }
        }
        let mut changed = false;
        for handle in &self.live {
            for rec in handle.events().try_iter() {
                changed = true;
                if matches!(
                    rec.event,
                    RunEvent::Ended { .. } | RunEvent::Eval { .. } | RunEvent::Status { .. }
                ) {
                    self.watcher.refresh();
                }
            }
        }
        self.live.retain(|h| !h.is_finished());
        if !self.live.is_empty() {
            // Keep the Monitor moving while something trains.
            ctx.request_repaint_after(std::time::Duration::from_millis(if changed { 250 } else { 1000 }));
        }
    }

    fn selected_live(&self) -> Option<&RunHandle> {
        let id = self.monitor.selected.as_deref()?;
        self.live.iter().find(|h| h.id == id)
    }

    fn run_command(&mut self, cmd: UiCommand) {
        match cmd {
            UiCommand::ShowConfigure => self.tab = Tab::Configure,
            UiCommand::ShowMonitor => self.tab = Tab::Monitor,
            UiCommand::ShowCompare => self.tab = Tab::Compare,
            UiCommand::OpenConfig => self.configure.open_dialog(),
            UiCommand::SaveConfigAs => self.configure.save_dialog(),
            UiCommand::RefreshRuns => self.watcher.refresh(),
            UiCommand::Launch => self.configure.request_launch(),
            UiCommand::StopRun => {
                if let Some(h) = self.selected_live() {
                    h.stop();
                }
            }
        }
    }

    fn tab_button(&mut self, ui: &mut egui::Ui, tab: Tab, cmd: UiCommand) {
        let hover = cmd.hover_text(ui.ctx());
        if ui
            .selectable_label(self.tab == tab, cmd.label())
            .on_hover_text(hover)
            .clicked()
        {
            self.run_command(cmd);
        }
    }
}

impl eframe::App for AdaptsvApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll_live(ui.ctx());
        while let Ok(list) = self.watcher.lists.try_recv() {
            match list {
                Ok(runs) => {
                    self.runs = runs;
                    self.runs_error = None;
                }
                Err(e) => self.runs_error = Some(e),
            }
        }
        for cmd in UiCommand::ALL {
            if let Some(sc) = cmd.shortcut() {
                if ui.ctx().input_mut(|i| i.consume_shortcut(&sc)) {
                    self.run_command(cmd);
                }
            }
        }

        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("adaptsv");
                ui.separator();
                self.tab_button(ui, Tab::Configure, UiCommand::ShowConfigure);
                self.tab_button(ui, Tab::Monitor, UiCommand::ShowMonitor);
                self.tab_button(ui, Tab::Compare, UiCommand::ShowCompare);
                ui.separator();
                for cmd in [UiCommand::OpenConfig, UiCommand::SaveConfigAs, UiCommand::RefreshRuns] {
                    let hover = cmd.hover_text(ui.ctx());
                    if ui.button(cmd.label()).on_hover_text(hover).clicked() {
                        self.run_command(cmd);
                    }
                }
                if let Some(e) = &self.runs_error {
                    ui.colored_label(super::theme::ERROR, e);
                }
                if let Some(e) = &self.launch_error {
                    ui.colored_label(super::theme::ERROR, e);
                }
                if !self.live.is_empty() {
                    ui.weak(format!("{} run(s) training", self.live.len()));
                }
            });
        });
        match self.tab {
            Tab::Configure => self.configure.ui(ui),
            Tab::Monitor => self.monitor.ui(ui, &self.runs, &self.runs_root, &self.live),
            Tab::Compare => self.compare.ui(ui, &self.runs),
        }
        if let Some(config) = self.configure.take_launch() {
            self.launcher.launch(config);
        }
        if let Some(dir) = self.monitor.resume_request.take() {
            self.launcher.resume(dir);
        }
    }
}
