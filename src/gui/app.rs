//! The application shell: the tab bar, command dispatch, the run queue, and the run set shared by Monitor and
//! Compare. Each frame it folds in what the background threads sent (launch replies, the live runs' events,
//! the watcher's deltas) and starts queued runs whose device is free; nothing here touches a tensor or waits
//! on the disk.

use super::cluster::ClusterJobs;
use super::commands::UiCommand;
use super::compare::ComparePanel;
use super::configure::{ConfigurePanel, RunOn};
use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::launcher::{Launched, Launcher, Request};
use super::monitor::{MonitorPanel, XAxis};
use super::run_queue::RunQueue;
use super::run_view::RunSet;
use super::run_watcher::{RunWatcher, WatchRequest};
use crate::engine::RunHandle;
use crate::runs::RunStatus;
use eframe::egui;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    Configure,
    Monitor,
    Compare,
}

/// What the app remembers between launches (eframe stores it; the window's size and place too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Remembered {
    pub dark: bool,
    pub tab: Tab,
    /// (origin, TOML) of the config last shown in Configure.
    pub config: Option<(String, String)>,
    pub smoothing: f64,
    pub x_axis: XAxis,
    /// Run folders and roots opened by hand.
    pub opened: Vec<PathBuf>,
}

impl Default for Remembered {
    fn default() -> Self {
        Self {
            dark: true,
            tab: Tab::Configure,
            config: None,
            smoothing: 0.9,
            x_axis: XAxis::Step,
            opened: Vec::new(),
        }
    }
}

/// The key under which [`Remembered`] is stored.
pub const STORAGE_KEY: &str = "adaptsv";

/// Where the app finds its files, and what it opens first.
pub struct AppOptions {
    pub examples_dir: PathBuf,
    pub runs_root: PathBuf,
    /// (origin, TOML text) to open instead of the remembered or built-in config.
    pub initial_config: Option<(String, String)>,
    /// The tab to open on, instead of the remembered one.
    pub initial_tab: Option<Tab>,
    /// Ignore what was remembered (theme, tab, last config, opened folders).
    pub fresh: bool,
}

/// A run this app launched, and how many of its channel's events were taken.
struct LiveRun {
    handle: RunHandle,
    received: usize,
}

pub struct AdaptsvApp {
    pub tab: Tab,
    pub configure: ConfigurePanel,
    pub monitor: MonitorPanel,
    pub compare: ComparePanel,
    pub runs: RunSet,
    runs_root: PathBuf,
    watcher: RunWatcher,
    launcher: Launcher,
    pub queue: RunQueue,
    /// Devices with a launch on its way through the launcher.
    starting: BTreeSet<String>,
    live: Vec<LiveRun>,
    launch_error: Option<String>,
    dark: bool,
    opened: Vec<PathBuf>,
    open_dialog: Option<PendingDialog>,
    notice: Option<String>,
    /// Slurm: whether it is here, the states of submitted runs' jobs, cancelling.
    pub cluster: ClusterJobs,
    /// Runs were just submitted: ask for their job states now.
    submitted: bool,
}

impl AdaptsvApp {
    pub fn new(ctx: &egui::Context, options: AppOptions, remembered: Remembered) -> Self {
        let repaint_ctx = ctx.clone();
        let watcher = RunWatcher::spawn(options.runs_root.clone(), move || repaint_ctx.request_repaint());
        for p in &remembered.opened {
            watcher.request(WatchRequest::AddRoot(p.clone()));
            watcher.request(WatchRequest::AddRun(p.clone()));
        }
        let repaint_ctx = ctx.clone();
        let launcher = Launcher::spawn(move || repaint_ctx.request_repaint());
        ctx.set_theme(if remembered.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        let initial = options.initial_config.or(remembered.config.clone());
        let mut monitor = MonitorPanel::default();
        monitor.smoothing = remembered.smoothing;
        monitor.x_axis = remembered.x_axis;
        Self {
            tab: options.initial_tab.unwrap_or(remembered.tab),
            configure: ConfigurePanel::new(options.examples_dir, initial),
            monitor,
            compare: ComparePanel::default(),
            runs: RunSet::default(),
            runs_root: options.runs_root,
            watcher,
            launcher,
            queue: RunQueue::default(),
            starting: BTreeSet::new(),
            live: Vec::new(),
            launch_error: None,
            dark: remembered.dark,
            opened: remembered.opened,
            open_dialog: None,
            notice: None,
            cluster: ClusterJobs::spawn(),
            submitted: false,
        }
    }

    /// What to remember for the next launch.
    pub fn remembered(&self) -> Remembered {
        Remembered {
            dark: self.dark,
            tab: self.tab,
            config: Some(self.configure.current()),
            smoothing: self.monitor.smoothing,
            x_axis: self.monitor.x_axis,
            opened: self.opened.clone(),
        }
    }

    /// Folds in everything the background threads sent, and starts queued runs whose device is free.
    fn poll(&mut self, ctx: &egui::Context) {
        while let Ok(reply) = self.launcher.replies.try_recv() {
            match reply {
                Launched::Run(handle) => {
                    self.starting.remove(&handle.device);
                    self.monitor.selected = Some(handle.dir.clone());
                    self.launch_error = None;
                    self.runs.get_mut_or_insert(&handle.dir);
                    // The run is written under its config's `output_dir`, which need not be the folder shown:
                    // watched from now on, it keeps its config, method and summary in the lists after it ends.
                    if let Some(root) = handle.dir.parent() {
                        self.watch_folder(root.to_path_buf());
                    }
                    self.live.push(LiveRun { handle, received: 0 });
                    self.watcher.refresh();
                }
                Launched::Failed { name, device, error } => {
                    self.starting.remove(&device);
                    self.launch_error = Some(format!("cannot launch {name}: {error}"));
                }
                Launched::Submitted { name, job_id, dirs } => {
                    self.launch_error = None;
                    self.notice = Some(format!("{name}: submitted to Slurm as job {job_id} ({} run(s))", dirs.len()));
                    for dir in &dirs {
                        self.runs.get_mut_or_insert(dir);
                        if let Some(root) = dir.parent() {
                            self.watch_folder(root.to_path_buf());
                        }
                    }
                    self.monitor.selected = dirs.first().cloned();
                    self.watcher.refresh();
                    self.submitted = true;
                }
            }
        }
        let dirs = self.runs.runs.iter().map(|r| &r.dir);
        if self.cluster.poll(dirs, std::mem::take(&mut self.submitted)) || self.cluster.any_active() {
            // Keep the job states moving while something waits or runs on the cluster.
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        }
        let mut changed = false;
        for live in &mut self.live {
            let view = self.runs.get_mut_or_insert(&live.handle.dir);
            for rec in live.handle.events().try_iter() {
                view.push(live.handle.first_line + live.received, rec);
                live.received += 1;
                changed = true;
            }
        }
        let mut ended = false;
        self.live.retain(|l| {
            let done = l.handle.is_finished() && l.handle.events().is_empty();
            ended |= done;
            !done
        });
        if ended {
            self.watcher.refresh();
        }
        let live_dirs: Vec<PathBuf> = self.live.iter().map(|l| l.handle.dir.clone()).collect();
        while let Ok(msg) = self.watcher.messages.try_recv() {
            self.runs.apply(msg, &live_dirs);
        }
        self.runs.settle();
        self.start_queued();
        if !self.live.is_empty() || !self.queue.entries.is_empty() {
            // Keep the Monitor moving while something trains.
            ctx.request_repaint_after(std::time::Duration::from_millis(if changed { 100 } else { 500 }));
        }
    }

    /// Devices where a run trains now: launched here, starting, or a run of another process on this machine.
    fn busy_devices(&self) -> BTreeSet<String> {
        let mut busy: BTreeSet<String> = self.starting.clone();
        busy.extend(self.live.iter().map(|l| l.handle.device.clone()));
        let local = self.runs.local_host.as_deref();
        for r in &self.runs.runs {
            if r.status == RunStatus::Running && r.host.as_deref() == local && local.is_some() {
                if let Some(d) = r.device() {
                    busy.insert(d.to_string());
                }
            }
        }
        busy
    }

    fn start_queued(&mut self) {
        if self.queue.entries.is_empty() {
            return;
        }
        let busy = self.busy_devices();
        for entry in self.queue.take_startable(&busy) {
            self.starting.insert(entry.device.clone());
            self.launcher.start(entry.request);
        }
    }

    /// Queues a launch of `config` on its device.
    pub fn enqueue_launch(&mut self, config: crate::config::ExperimentConfig) {
        let device = config.device.clone();
        self.queue.push(config.name.clone(), device, Request::Launch(config));
        self.tab = Tab::Monitor;
    }

    fn enqueue_resume(&mut self, dir: PathBuf) {
        let device = self.runs.get(&dir).and_then(|r| r.device()).unwrap_or("cpu").to_string();
        let name = self.runs.get(&dir).map_or_else(|| dir.display().to_string(), |r| r.id.clone());
        self.queue.push(format!("continue {name}"), device, Request::Resume(dir));
    }

    fn selected_live(&self) -> Option<&RunHandle> {
        let dir = self.monitor.selected.as_ref()?;
        self.live.iter().map(|l| &l.handle).find(|h| &h.dir == dir)
    }

    fn run_command(&mut self, ctx: &egui::Context, cmd: UiCommand) {
        match cmd {
            UiCommand::ShowConfigure => self.tab = Tab::Configure,
            UiCommand::ShowMonitor => self.tab = Tab::Monitor,
            UiCommand::ShowCompare => self.tab = Tab::Compare,
            UiCommand::OpenConfig => self.configure.open_dialog(),
            UiCommand::SaveConfigAs => self.configure.save_dialog(),
            UiCommand::OpenRuns => {
                if self.open_dialog.is_none() {
                    self.open_dialog = Some(PendingDialog::open(DialogPurpose::OpenRuns, self.runs_root.clone()));
                }
            }
            UiCommand::RefreshRuns => self.watcher.refresh(),
            UiCommand::Launch => self.configure.request_launch(),
            UiCommand::PauseRun => {
                if let Some(h) = self.selected_live() {
                    h.pause();
                }
            }
            UiCommand::ResumeRun => {
                if let Some(h) = self.selected_live() {
                    h.resume();
                }
            }
            UiCommand::StopRun => {
                if let Some(h) = self.selected_live() {
                    h.stop();
                }
            }
            UiCommand::ToggleTheme => {
                self.dark = !self.dark;
                ctx.set_theme(if self.dark {
                    egui::Theme::Dark
                } else {
                    egui::Theme::Light
                });
            }
        }
    }

    fn poll_open_dialog(&mut self) {
        let Some(answer) = self.open_dialog.as_ref().and_then(|d| d.poll()) else {
            return;
        };
        let Some(dialog) = self.open_dialog.take() else { return };
        match answer {
            Some(path) => self.open_runs(path),
            None if dialog.closed_unseen() => self.notice = Some(NO_DIALOG_HINT.to_string()),
            None => {}
        }
    }

    /// Watches a run folder, or every run folder under a folder, from now on (and in later sessions), and shows
    /// the Monitor.
    pub fn open_runs(&mut self, path: PathBuf) {
        self.watch_folder(path);
        self.tab = Tab::Monitor;
    }

    /// Watches `path` (a run folder, or a folder of runs) from now on and in later sessions; the runs folder shown
    /// at start is watched already.
    fn watch_folder(&mut self, path: PathBuf) {
        if path == self.runs_root {
            return;
        }
        // Which one it is is the watcher's question (it looks at the folder); both requests are harmless, and it
        // ignores a folder it already watches under another spelling.
        self.watcher.request(WatchRequest::AddRoot(path.clone()));
        self.watcher.request(WatchRequest::AddRun(path.clone()));
        if !self.opened.contains(&path) {
            self.opened.push(path);
        }
    }

    fn tab_button(&mut self, ui: &mut egui::Ui, tab: Tab, cmd: UiCommand) {
        let hover = cmd.hover_text(ui.ctx());
        if ui
            .selectable_label(self.tab == tab, cmd.label())
            .on_hover_text(hover)
            .clicked()
        {
            self.run_command(ui.ctx(), cmd);
        }
    }

    /// One frame of the whole app (what eframe and the tests call).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        self.poll_open_dialog();
        for cmd in UiCommand::ALL {
            if let Some(sc) = cmd.shortcut() {
                if ctx.input_mut(|i| i.consume_shortcut(&sc)) {
                    self.run_command(&ctx, cmd);
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
                for cmd in [UiCommand::OpenConfig, UiCommand::SaveConfigAs, UiCommand::OpenRuns, UiCommand::RefreshRuns] {
                    let hover = cmd.hover_text(ui.ctx());
                    if ui.button(cmd.label()).on_hover_text(hover).clicked() {
                        self.run_command(&ctx, cmd);
                    }
                }
                let theme_cmd = UiCommand::ToggleTheme;
                if ui
                    .button(if self.dark { "Light theme" } else { "Dark theme" })
                    .on_hover_text(theme_cmd.hover_text(ui.ctx()))
                    .clicked()
                {
                    self.run_command(&ctx, theme_cmd);
                }
                for e in &self.runs.errors {
                    ui.colored_label(super::theme::ERROR, e);
                }
                if let Some(e) = &self.launch_error {
                    ui.colored_label(super::theme::ERROR, e);
                }
                if let Some(n) = &self.notice {
                    ui.colored_label(super::theme::WARN, n);
                }
                let training = self.live.len();
                let queued = self.queue.entries.len();
                if training + queued > 0 {
                    ui.weak(format!("{training} training · {queued} queued"));
                }
            });
        });
        self.configure.slurm_available = self.cluster.available();
        match self.tab {
            Tab::Configure => self.configure.ui(ui),
            Tab::Monitor => {
                let live: Vec<&RunHandle> = self.live.iter().map(|l| &l.handle).collect();
                self.monitor.ui(ui, &self.runs, &self.runs_root, &live, &mut self.queue, &self.cluster);
            }
            Tab::Compare => self.compare.ui(ui, &self.runs),
        }
        if let Some(config) = self.configure.take_launch() {
            match self.configure.run_on {
                RunOn::ThisMachine => self.enqueue_launch(config),
                RunOn::Slurm => {
                    self.launcher.start(Request::Submit(config));
                    self.tab = Tab::Monitor;
                }
            }
        }
        if let Some((name, configs)) = self.configure.take_sweep() {
            self.compare.auto_tick.extend(configs.iter().map(|c| c.name.clone()));
            match self.configure.run_on {
                RunOn::ThisMachine => {
                    for c in configs {
                        self.enqueue_launch(c);
                    }
                }
                RunOn::Slurm => {
                    self.launcher.start(Request::SubmitSweep { name, configs });
                    self.tab = Tab::Monitor;
                }
            }
        }
        if let Some(dirs) = self.monitor.cancel_request.take() {
            self.cluster.cancel(dirs);
        }
        if let Some(dir) = self.monitor.resubmit_request.take() {
            self.launcher.start(Request::Resubmit(dir));
        }
        if let Some(dir) = self.monitor.resume_request.take() {
            self.enqueue_resume(dir);
        }
        if let Some(cmd) = self.monitor.command.take() {
            self.run_command(&ctx, cmd);
        }
        self.monitor.notes.poll();
        if std::mem::take(&mut self.monitor.notes.written) {
            // A tag or note was written: read it back now rather than at the next poll.
            self.watcher.refresh();
        }
    }
}

impl eframe::App for AdaptsvApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.remembered());
    }
}
