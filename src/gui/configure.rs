//! The Configure tab: pick an example experiment or open a config file, edit its TOML with live validation,
//! and read what the experiment will do before launching it.

use super::file_dialog::{DialogPurpose, PendingDialog, NO_DIALOG_HINT};
use super::param_counter::ParamCounter;
use super::theme;
use crate::config::{ConfigError, ExperimentConfig, Method, DEFAULT_TOML};
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

pub struct ConfigurePanel {
    examples_dir: PathBuf,
    examples: Vec<Example>,
    /// Where the text came from, shown in the header and used in error messages.
    origin: String,
    text: String,
    checked: Result<ExperimentConfig, ConfigError>,
    dialog: Option<PendingDialog>,
    notice: Option<(String, bool)>,
    params: ParamCounter,
    /// A config the user asked to launch, taken by the app.
    launch: Option<ExperimentConfig>,
}

impl ConfigurePanel {
    pub fn new(examples_dir: PathBuf, initial: Option<(String, String)>) -> Self {
        let examples = find_examples(&examples_dir);
        let (origin, text) = initial.unwrap_or_else(|| ("built-in default".into(), DEFAULT_TOML.to_string()));
        let checked = ExperimentConfig::from_toml_str(&text, &origin);
        Self {
            examples_dir,
            examples,
            origin,
            text,
            checked,
            dialog: None,
            notice: None,
            params: ParamCounter::default(),
            launch: None,
        }
    }

    fn set_text(&mut self, origin: String, text: String) {
        self.checked = ExperimentConfig::from_toml_str(&text, &origin);
        self.origin = origin;
        self.text = text;
    }

    fn load_file(&mut self, path: &Path) {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                self.set_text(path.display().to_string(), text);
                self.notice = None;
            }
            Err(e) => self.notice = Some((format!("cannot read {}: {e}", path.display()), false)),
        }
    }

    pub fn open_dialog(&mut self) {
        self.dialog = Some(PendingDialog::open(
            DialogPurpose::OpenConfig,
            self.examples_dir.clone(),
        ));
    }

    pub fn save_dialog(&mut self) {
        self.dialog = Some(PendingDialog::open(
            DialogPurpose::SaveConfig,
            self.examples_dir.clone(),
        ));
    }

    fn poll_dialog(&mut self) {
        let Some(answer) = self.dialog.as_ref().and_then(|d| d.poll()) else {
            return;
        };
        let Some(dialog) = self.dialog.take() else { return };
        let purpose = Some(dialog.purpose);
        let Some(path) = answer else {
            if dialog.closed_unseen() {
                self.notice = Some((NO_DIALOG_HINT.to_string(), false));
            }
            return;
        };
        match purpose {
            Some(DialogPurpose::OpenConfig) => self.load_file(&path),
            Some(DialogPurpose::SaveConfig) => match crate::runs::write_atomic(&path, self.text.as_bytes()) {
                Ok(()) => {
                    self.notice = Some((format!("saved {}", path.display()), true));
                    self.origin = path.display().to_string();
                }
                Err(e) => self.notice = Some((format!("cannot write {}: {e}", path.display()), false)),
            },
            // The Configure tab opens no export dialogs.
            Some(DialogPurpose::ExportCsv) | None => {}
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.poll_dialog();
        egui::Panel::left("examples")
            .exact_size(theme::SIDE_PANEL_WIDTH)
            .show(ui, |ui| {
                ui.heading("Examples");
                ui.weak(format!("from {}", self.examples_dir.display()));
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
            ui.horizontal(|ui| {
                ui.heading("Experiment");
                ui.weak(&self.origin);
            });
            self.summary_ui(ui);
            if let Some((msg, ok)) = &self.notice {
                ui.colored_label(if *ok { theme::OK } else { theme::ERROR }, msg);
            }
            ui.add_space(theme::GAP);
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
                    self.checked = ExperimentConfig::from_toml_str(&self.text, &self.origin);
                }
            });
        });
    }

    /// The config to launch, if the user asked (button or shortcut) and it is valid.
    pub fn take_launch(&mut self) -> Option<ExperimentConfig> {
        self.launch.take()
    }

    /// Asks to launch the current config (the Launch command); an invalid one is refused with a notice.
    pub fn request_launch(&mut self) {
        match &self.checked {
            Ok(c) => self.launch = Some(c.clone()),
            Err(_) => self.notice = Some(("fix the problems listed above before launching".into(), false)),
        }
    }

    fn summary_ui(&mut self, ui: &mut egui::Ui) {
        let counting = self.params.poll();
        let cmd = super::commands::UiCommand::Launch;
        let hover = cmd.hover_text(ui.ctx());
        let valid = self.checked.is_ok();
        if ui
            .add_enabled(valid, egui::Button::new(RichText::new(cmd.label()).strong()))
            .on_hover_text(hover)
            .on_disabled_hover_text("the config has problems (listed below)")
            .clicked()
        {
            self.request_launch();
        }
        match &self.checked {
            Ok(c) => {
                ui.colored_label(theme::OK, "valid");
                ui.label(describe(c));
                self.params.request(c);
                match self.params.summary(c) {
                    Some(Ok(line)) => {
                        ui.strong(line);
                    }
                    Some(Err(e)) => {
                        ui.colored_label(theme::WARN, format!("cannot count parameters: {e}"));
                    }
                    None => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.weak("building the model to count its parameters…");
                        });
                    }
                }
                if counting {
                    ui.ctx().request_repaint_after(std::time::Duration::from_millis(200));
                }
            }
            Err(ConfigError::Invalid { problems, .. }) => {
                ui.colored_label(theme::ERROR, format!("{} problem(s):", problems.len()));
                for p in problems {
                    ui.label(RichText::new(format!("• {p}")).color(theme::ERROR));
                }
            }
            Err(e) => {
                ui.label(RichText::new(e.to_string()).color(theme::ERROR).monospace());
            }
        }
    }
}

/// One line saying what the experiment does, e.g. "inner (both, b=64) + inter (b=128) adapters on preset
/// wavlm-base-plus · weighted-sum · xvector 256-d · aam-softmax · cpu".
pub fn describe(c: &ExperimentConfig) -> String {
    let a = &c.adaptation;
    let method = match a.method {
        Method::Adapters => {
            let mut parts = Vec::new();
            if a.inner_enabled() {
                parts.push(format!(
                    "inner ({} in layers {}, b={})",
                    name_of(&a.inner.position),
                    a.inner.layers,
                    a.inner.bottleneck
                ));
            }
            if a.inter_enabled() {
                parts.push(format!("inter (b={})", a.inter.bottleneck));
            }
            format!("{} adapters", parts.join(" + "))
        }
        m => m.name().to_string(),
    };
    let model = match (&c.model.preset, &c.model.checkpoint) {
        (Some(p), _) => format!("preset {p} (random init)"),
        (_, Some(path)) => format!("checkpoint {}", path.display()),
        _ => "no model".into(),
    };
    format!(
        "{method} on {model} · {} aggregation · {} head {}-d · {} · {}",
        name_of(&c.aggregation.kind),
        name_of(&c.head.kind),
        c.head.embedding_dim,
        name_of(&c.loss.kind),
        c.device
    )
}

/// An option's value as written in TOML (`weighted-sum`, `aam-softmax`).
fn name_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}
