//! The Configure tab: start from an example or a config file, set the experiment up in the form (or in its
//! TOML, kept in sync both ways), see every problem beside its field and the trainable share as it changes,
//! and launch. Files are read and written by a worker; validation and parameter counts run off the UI thread.

use super::config_form::{form_ui, FormContext};
use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::jobs::Jobs;
use super::param_counter::{summary_line, ConfigChecker, SHARE_DEFINITION};
use super::theme;
use crate::config::{describe, ConfigProblem, ExperimentConfig, DEFAULT_TOML, PRESETS};
use eframe::egui::{self, RichText, ScrollArea};
use std::path::{Path, PathBuf};

/// An experiment config the user can start from.
#[derive(Debug, Clone)]
pub struct Example {
    pub name: String,
    /// `None` for the built-in default.
    pub path: Option<PathBuf>,
}

/// Lists `experiments/*.toml` (sorted) after the built-in default.
pub fn find_examples(dir: &Path) -> Vec<Example> {
    let mut found: Vec<Example> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        // Sweeps (`adaptsv sweep`) live beside the experiments; they are not configs to edit here.
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| !crate::sweep::is_sweep(&t)))
        // experiments/default.toml is the built-in default, listed first under that name.
        .filter(|p| p.file_name().is_none_or(|n| n != "default.toml"))
        .map(|p| Example {
            name: p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: Some(p),
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.insert(
        0,
        Example {
            name: "built-in default".into(),
            path: None,
        },
    );
    found
}

/// Which editor the tab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Form,
    Toml,
}

/// What the panel's file worker answers.
enum IoAnswer {
    Examples(Vec<Example>),
    Loaded { origin: String, text: Result<String, String> },
    Saved { path: PathBuf, result: Result<(), String> },
}

pub struct ConfigurePanel {
    examples_dir: PathBuf,
    examples: Vec<Example>,
    /// Where the text came from, shown in the header and used in error messages.
    origin: String,
    text: String,
    /// The config the text parses to (not yet validated), or the parse error.
    draft: Result<ExperimentConfig, String>,
    pub view: View,
    dialog: Option<PendingDialog>,
    notice: Option<(String, bool)>,
    checker: ConfigChecker,
    devices: super::device_list::DeviceList,
    io: Jobs<IoAnswer>,
    /// A config the user asked to launch, taken by the app.
    launch: Option<ExperimentConfig>,
    /// The name and configs of a "compare methods" sweep the user asked for, taken by the app.
    sweep: Option<(String, Vec<ExperimentConfig>)>,
    /// Where Launch and Compare methods send runs.
    pub run_on: RunOn,
    /// Whether Slurm's `sbatch` answers here (asked by the app on a worker; `None` while asking).
    pub slurm_available: Option<bool>,
}

/// Where the app's Launch sends a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOn {
    /// The run queue of this machine (one run per device at a time).
    ThisMachine,
    /// A Slurm cluster, with the config's `[slurm]` settings (`adaptsv train --slurm`).
    Slurm,
}

/// The methods "Compare methods" queues: the variants of the paper comparison shipped in `experiments/`.
const METHOD_SWEEP: &str = include_str!("../../experiments/paper-comparison.toml");

/// The paper's comparison on `base`: one config per method, named `<base name>-<method variant>`.
pub fn compare_methods(base: &ExperimentConfig) -> anyhow::Result<Vec<ExperimentConfig>> {
    let base_toml = base.to_toml_string();
    let mut sweep = crate::sweep::Sweep::parse(METHOD_SWEEP, "the built-in method comparison", |_| {
        Ok(("the current config".into(), base_toml.clone()))
    })?;
    sweep.name = base.name.clone();
    Ok(sweep.expand()?.into_iter().map(|r| r.config).collect())
}

impl ConfigurePanel {
    pub fn new(examples_dir: PathBuf, initial: Option<(String, String)>) -> Self {
        let (origin, text) = initial.unwrap_or_else(|| ("built-in default".into(), DEFAULT_TOML.to_string()));
        let io = Jobs::spawn("configure-io");
        let dir = examples_dir.clone();
        io.submit(move || IoAnswer::Examples(find_examples(&dir)));
        let mut panel = Self {
            examples_dir,
            examples: vec![Example {
                name: "built-in default".into(),
                path: None,
            }],
            origin: String::new(),
            text: String::new(),
            draft: Err(String::new()),
            view: View::Form,
            dialog: None,
            notice: None,
            checker: ConfigChecker::default(),
            devices: Default::default(),
            io,
            launch: None,
            sweep: None,
            run_on: RunOn::ThisMachine,
            slurm_available: None,
        };
        panel.set_text(origin, text);
        panel
    }

    /// Where the config came from and its TOML, as the app remembers it between launches.
    pub fn current(&self) -> (String, String) {
        (self.origin.clone(), self.text.clone())
    }

    /// The parsed config (valid or not), if the text parses.
    pub fn draft(&self) -> Option<&ExperimentConfig> {
        self.draft.as_ref().ok()
    }

    pub fn set_text(&mut self, origin: String, text: String) {
        self.draft = ExperimentConfig::parse_toml(&text, &origin).map_err(|e| e.to_string());
        self.origin = origin;
        self.text = text;
        self.check();
    }

    /// Replaces the config (after a form edit): the TOML is regenerated from it.
    pub fn set_config(&mut self, config: ExperimentConfig) {
        self.text = config.to_toml_string();
        self.draft = Ok(config);
        self.check();
    }

    fn check(&mut self) {
        if let Ok(c) = &self.draft {
            self.checker.request(c);
        }
    }

    /// The problems of the current config: `None` while they are being checked (or when the text does not
    /// parse).
    fn problems(&self) -> Option<&[ConfigProblem]> {
        self.checker.problems_for(self.draft.as_ref().ok())
    }

    /// Whether the current config's problems are known (checked after its last change).
    /// Whether the device list has been probed (the form then offers every device this machine has).
    pub fn devices_probed(&self) -> bool {
        !self.devices.probing()
    }

    pub fn problems_known(&self) -> bool {
        self.problems().is_some()
    }

    /// The parameter counts of the current config's model, once counted.
    pub fn report(&self) -> Option<&crate::model::param_report::ParamReport> {
        self.checker.report_for(self.draft.as_ref().ok()?)?.as_ref().ok()
    }

    /// The config, if it parses and has no problems.
    pub fn valid_config(&self) -> Option<&ExperimentConfig> {
        let c = self.draft.as_ref().ok()?;
        self.problems()?.is_empty().then_some(c)
    }

    fn load_file(&mut self, path: &Path) {
        let path = path.to_path_buf();
        self.io.submit(move || IoAnswer::Loaded {
            origin: path.display().to_string(),
            text: std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display())),
        });
    }

    pub fn open_dialog(&mut self) {
        self.open(DialogPurpose::OpenConfig);
    }

    pub fn save_dialog(&mut self) {
        self.open(DialogPurpose::SaveConfig);
    }

    fn open(&mut self, purpose: DialogPurpose) {
        if self.dialog.is_none() {
            self.dialog = Some(PendingDialog::open(purpose, self.examples_dir.clone()));
        }
    }

    fn poll_io(&mut self) {
        while let Some(answer) = self.io.poll() {
            match answer {
                IoAnswer::Examples(list) => self.examples = list,
                IoAnswer::Loaded { origin, text } => match text {
                    Ok(text) => {
                        self.set_text(origin, text);
                        self.notice = None;
                    }
                    Err(e) => self.notice = Some((e, false)),
                },
                IoAnswer::Saved { path, result } => {
                    self.notice = Some(match result {
                        Ok(()) => {
                            self.origin = path.display().to_string();
                            (format!("saved {}", path.display()), true)
                        }
                        Err(e) => (format!("cannot write {}: {e}", path.display()), false),
                    })
                }
            }
        }
    }

    fn poll_dialog(&mut self) {
        let Some(answer) = self.dialog.as_ref().and_then(|d| d.poll()) else {
            return;
        };
        let Some(dialog) = self.dialog.take() else { return };
        let Some(path) = answer else {
            if dialog.closed_unseen() {
                self.notice = Some((NO_DIALOG_HINT.to_string(), false));
            }
            return;
        };
        match dialog.purpose {
            DialogPurpose::OpenConfig => self.load_file(&path),
            DialogPurpose::SaveConfig => {
                let text = self.text.clone();
                self.io.submit(move || IoAnswer::Saved {
                    result: crate::runs::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string()),
                    path,
                });
            }
            purpose => {
                let Ok(mut c) = self.draft.clone() else { return };
                match purpose {
                    DialogPurpose::PickCheckpoint => {
                        c.model.checkpoint = Some(path);
                        c.model.preset = None;
                    }
                    DialogPurpose::PickCorpus => c.data.corpus = Some(path),
                    DialogPurpose::PickTrials => c.data.trials = Some(path),
                    DialogPurpose::PickEvalCorpus => c.data.eval_corpus = Some(path),
                    _ => return,
                }
                self.set_config(c);
            }
        }
    }

    /// Transformer layers of the draft's backbone: from the preset table, or from the counted checkpoint.
    fn layers(&self) -> Option<usize> {
        let c = self.draft.as_ref().ok()?;
        if let Some(p) = &c.model.preset {
            return PRESETS.iter().find(|(n, _)| n == p).map(|(_, l)| *l);
        }
        match self.checker.report_for(c)? {
            Ok(r) => Some(r.architecture.layers),
            Err(_) => None,
        }
    }

    fn architecture(&self) -> Option<String> {
        let c = self.draft.as_ref().ok()?;
        match self.checker.report_for(c)? {
            Ok(r) => {
                let a = &r.architecture;
                Some(format!(
                    "{} · {} layers · {} wide · {:.1} M backbone parameters",
                    a.family,
                    a.layers,
                    a.hidden,
                    a.backbone_params as f64 / 1e6
                ))
            }
            Err(e) => Some(format!("cannot build this model: {e}")),
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.poll_io();
        self.poll_dialog();
        if self.checker.poll() | self.devices.poll() {
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
        }
        egui::Panel::left("examples")
            .default_size(theme::SIDE_PANEL_WIDTH * 0.8)
            .show(ui, |ui| {
                ui.heading("Start from");
                ui.weak(format!("{}", self.examples_dir.display()));
                ui.add_space(theme::GAP);
                let mut pick = None;
                ScrollArea::vertical().show(ui, |ui| {
                    for ex in &self.examples {
                        let selected = match &ex.path {
                            Some(p) => self.origin == p.display().to_string(),
                            None => self.origin == "built-in default",
                        };
                        if ui.selectable_label(selected, &ex.name).clicked() {
                            pick = Some(ex.clone());
                        }
                    }
                });
                if let Some(ex) = pick {
                    match ex.path {
                        Some(p) => self.load_file(&p),
                        None => self.set_text("built-in default".into(), DEFAULT_TOML.to_string()),
                    }
                }
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.header_ui(ui);
            ui.separator();
            match self.view {
                View::Form => self.form_view(ui),
                View::Toml => self.toml_view(ui),
            }
        });
    }

    fn header_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let cmd = super::commands::UiCommand::Launch;
            let hover = cmd.hover_text(ui.ctx());
            let valid = self.valid_config().is_some();
            if ui
                .add_enabled(valid, egui::Button::new(RichText::new(cmd.label()).strong()))
                .on_hover_text(hover)
                .on_disabled_hover_text("the config has problems (shown beside their fields)")
                .clicked()
            {
                self.request_launch();
            }
            if ui
                .add_enabled(valid, egui::Button::new("Compare methods"))
                .on_hover_text(
                    "Queue the paper's comparison on this config, one run per method: full and partial fine-tuning, \
                     frozen, BitFit, LoRA, prefix, Houlsby, inner, inter, inner + inter (the variants of \
                     experiments/paper-comparison.toml; CLI: adaptsv sweep). The runs are ticked in Compare.",
                )
                .clicked()
            {
                self.request_compare_methods();
            }
            self.run_on_ui(ui);
            ui.heading("Experiment");
            ui.weak(&self.origin);
            ui.separator();
            ui.selectable_value(&mut self.view, View::Form, "Form");
            ui.selectable_value(&mut self.view, View::Toml, "TOML (advanced)");
        });
        match &self.draft {
            Err(e) => {
                ui.label(RichText::new(e).color(theme::ERROR).monospace());
            }
            Ok(c) => {
                ui.label(describe(c));
                ui.horizontal(|ui| {
                    match self.checker.report_for(c) {
                        Some(Ok(r)) => {
                            ui.strong(summary_line(r));
                        }
                        Some(Err(e)) => {
                            ui.colored_label(theme::WARN, format!("cannot count parameters: {e}"));
                        }
                        None => {
                            ui.spinner();
                            ui.weak("building the model to count its parameters…");
                        }
                    }
                    ui.weak("(definition)").on_hover_text(SHARE_DEFINITION);
                });
                match self.problems() {
                    None => {
                        ui.weak("checking…");
                    }
                    Some([]) => {
                        ui.colored_label(theme::OK, "valid: ready to launch");
                    }
                    Some(p) => {
                        ui.colored_label(theme::ERROR, format!("{} problem(s), shown beside their fields", p.len()));
                    }
                }
            }
        }
        if let Some((msg, ok)) = &self.notice {
            ui.colored_label(if *ok { theme::OK } else { theme::ERROR }, msg);
        }
    }

    /// "on [this machine | Slurm cluster]": Slurm is offered when `sbatch` answers here or the config names a
    /// command prefix that reaches a submit host. Choosing it gives the config a `[slurm]` table to fill in.
    fn run_on_ui(&mut self, ui: &mut egui::Ui) {
        let prefix_set = self.draft.as_ref().is_ok_and(|c| c.slurm.as_ref().is_some_and(|s| !s.prefix.is_empty()));
        let offered = prefix_set || self.slurm_available == Some(true);
        let before = self.run_on;
        let label = ui.label("on");
        egui::ComboBox::from_id_salt("run_on")
            .selected_text(match self.run_on {
                RunOn::ThisMachine => "this machine",
                RunOn::Slurm => "Slurm cluster",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.run_on, RunOn::ThisMachine, "this machine")
                    .on_hover_text("the run queue here: one run per device at a time");
                let why = match self.slurm_available {
                    None => "looking for Slurm's sbatch…",
                    Some(_) => "no sbatch here: install Slurm's client, or set slurm.prefix (e.g. \"ssh login-node\") in the TOML",
                };
                ui.add_enabled_ui(offered, |ui| {
                    ui.selectable_value(&mut self.run_on, RunOn::Slurm, "Slurm cluster")
                        .on_hover_text("submit with sbatch (the [slurm] settings below); Compare methods submits one job array")
                        .on_disabled_hover_text(why);
                });
            })
            .response
            .labelled_by(label.id);
        if self.run_on == RunOn::Slurm && before != RunOn::Slurm {
            if let Ok(c) = &self.draft {
                if c.slurm.is_none() {
                    let mut c = c.clone();
                    c.slurm = Some(crate::config::SlurmConfig::default());
                    self.set_config(c);
                }
            }
        }
    }

    fn form_view(&mut self, ui: &mut egui::Ui) {
        let Ok(mut c) = self.draft.clone() else {
            ui.label("The TOML does not parse: fix it in the TOML tab (the error is above).");
            return;
        };
        let problems = self.problems().unwrap_or_default().to_vec();
        let mut cx = FormContext::new(&problems, self.layers(), self.architecture());
        cx.devices = self.devices.entries(&c.device);
        cx.probing_devices = self.devices.probing();
        let mut dialogs = Vec::new();
        let changed = ScrollArea::vertical()
            .id_salt("form")
            .show(ui, |ui| form_ui(ui, &mut c, &cx, &mut dialogs))
            .inner;
        if changed {
            self.set_config(c);
        }
        if let Some(purpose) = dialogs.pop() {
            self.open(purpose);
        }
    }

    fn toml_view(&mut self, ui: &mut egui::Ui) {
        ui.weak("Edits here update the form; edits in the form rewrite this text (comments are not kept).");
        ScrollArea::vertical().id_salt("toml").show(ui, |ui| {
            let edited = ui
                .add(
                    egui::TextEdit::multiline(&mut self.text)
                        .code_editor()
                        .desired_width(f32::INFINITY)
                        .desired_rows(30),
                )
                .changed();
            if edited {
                let text = std::mem::take(&mut self.text);
                self.set_text(self.origin.clone(), text);
            }
            if let Some(problems) = self.problems() {
                for p in problems {
                    ui.label(RichText::new(format!("• {p}")).color(theme::ERROR));
                }
            }
        });
    }

    /// The sweep name and configs of the method comparison, if the user asked for it.
    pub fn take_sweep(&mut self) -> Option<(String, Vec<ExperimentConfig>)> {
        self.sweep.take()
    }

    /// Asks to queue the paper's comparison on the current config.
    pub fn request_compare_methods(&mut self) {
        let Some(c) = self.valid_config() else {
            self.notice = Some(("fix the problems shown before launching".into(), false));
            return;
        };
        match compare_methods(c) {
            Ok(configs) => self.sweep = Some((format!("{}-methods", c.name), configs)),
            Err(e) => self.notice = Some((format!("cannot compare methods on this config: {e:#}"), false)),
        }
    }

    /// The config to launch, if the user asked (button or shortcut) and it is valid.
    pub fn take_launch(&mut self) -> Option<ExperimentConfig> {
        self.launch.take()
    }

    /// Asks to launch the current config (the Launch command); an invalid one is refused with a notice.
    pub fn request_launch(&mut self) {
        match self.valid_config() {
            Some(c) => self.launch = Some(c.clone()),
            None => self.notice = Some(("fix the problems shown before launching".into(), false)),
        }
    }
}
