//! The experiment as a form: every field of [`ExperimentConfig`] as a widget with its unit, the method's own
//! options only, the Transformer stack picture for placing adapters, and each validation problem beside its
//! field. The form edits a parsed config in place and says whether anything changed; the Configure tab turns
//! that into TOML (and back) and asks for the parameter count.

use super::file_dialog::DialogPurpose;
use super::layer_stack::{stack_ui, Columns, Stack};
use super::theme;
use crate::config::{
    name_of, Activation, AdaptationConfig, AdapterPosition, AggregationKind, BackboneDType, ConfigProblem, DataSource, ExperimentConfig, HeadKind,
    LayerSelection, LoraTarget, LossKind, Method, OptimizerKind, Schedule, ScoreNorm, PRESETS,
};
use crate::data::CorpusLayout;
use eframe::egui::{self, CollapsingHeader, DragValue, RichText, Slider};
use serde::Serialize;
use std::cell::RefCell;

/// What the form shows besides the config.
pub struct FormContext<'a> {
    pub problems: &'a [ConfigProblem],
    /// Transformer layers of the backbone, when known (presets: always; checkpoints: once read).
    pub layers: Option<usize>,
    /// "wavlm · 12 layers · 768 wide · 94.4 M parameters", once the model was built off the UI thread.
    pub architecture: Option<String>,
    /// The devices to offer (probed off the UI thread; the CPU while probing), and whether probing goes on.
    pub devices: Vec<crate::device::DeviceInfo>,
    pub probing_devices: bool,
    /// Keys whose problems were shown (the rest are listed at the end).
    shown: RefCell<Vec<String>>,
}

impl<'a> FormContext<'a> {
    pub fn new(problems: &'a [ConfigProblem], layers: Option<usize>, architecture: Option<String>) -> Self {
        Self {
            problems,
            layers,
            architecture,
            devices: Vec::new(),
            probing_devices: false,
            shown: RefCell::new(Vec::new()),
        }
    }

    /// Shows the problems of `key` (and of its list items `key[i]`) in red.
    fn problems_of(&self, ui: &mut egui::Ui, key: &str) {
        self.shown.borrow_mut().push(key.to_string());
        for p in self.problems.iter().filter(|p| matches_key(&p.key, key)) {
            ui.label(RichText::new(format!("! {}", p.message)).color(theme::ERROR))
                .on_hover_text(p.to_string());
        }
    }

    fn unshown(&self) -> Vec<&ConfigProblem> {
        let shown = self.shown.borrow();
        self.problems
            .iter()
            .filter(|p| !shown.iter().any(|k| matches_key(&p.key, k)))
            .collect()
    }
}

fn matches_key(problem: &str, key: &str) -> bool {
    problem == key || problem.strip_prefix(key).is_some_and(|rest| rest.starts_with('['))
}

/// A labelled row: label (with tooltip, and naming the widget for screen readers and tests), the widget,
/// then the field's problems. True when the widget changed its value.
fn row(
    ui: &mut egui::Ui,
    cx: &FormContext<'_>,
    label: &str,
    tip: &str,
    key: &str,
    widget: impl FnOnce(&mut egui::Ui) -> egui::Response,
) -> bool {
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        let label = ui.label(label).on_hover_text(format!("{tip}\n\nTOML key: {key}"));
        changed = widget(ui).labelled_by(label.id).changed();
        cx.problems_of(ui, key);
    });
    changed
}

/// A drop-down of labelled options; the response counts as changed when one was picked.
fn combo<T: Clone + PartialEq>(ui: &mut egui::Ui, id: &str, value: &mut T, options: &[(T, String)]) -> egui::Response {
    let mut changed = false;
    let shown = options.iter().find(|(o, _)| o == value).map_or_else(String::new, |(_, l)| l.clone());
    let mut r = egui::ComboBox::from_id_salt(id)
        .selected_text(shown)
        .show_ui(ui, |ui| {
            for (o, label) in options {
                changed |= ui.selectable_value(value, o.clone(), label).changed();
            }
        })
        .response;
    if changed {
        r.mark_changed();
    }
    r
}

/// The device drop-down: every device probed here by name; one that cannot be used is listed greyed out with
/// the reason on hover.
fn device_combo(ui: &mut egui::Ui, value: &mut String, devices: &[crate::device::DeviceInfo], probing: bool) -> egui::Response {
    let label = |d: &crate::device::DeviceInfo| {
        if d.label.is_empty() {
            d.choice.to_string()
        } else {
            format!("{} · {}", d.choice, d.label)
        }
    };
    let shown = devices
        .iter()
        .find(|d| d.choice.to_string() == *value)
        .map_or_else(|| value.clone(), |d| label(d));
    let mut changed = false;
    let mut r = egui::ComboBox::from_id_salt("device")
        .selected_text(shown)
        .width(360.0)
        .show_ui(ui, |ui| {
            for d in devices {
                let name = d.choice.to_string();
                match &d.usable {
                    Ok(()) => changed |= ui.selectable_value(value, name, label(d)).changed(),
                    Err(why) => {
                        ui.add_enabled(false, egui::Button::selectable(false, format!("{} — unavailable", label(d))))
                            .on_disabled_hover_text(why);
                    }
                }
            }
            if probing {
                ui.weak("probing devices…");
            }
        })
        .response;
    if let Some(why) = devices.iter().find(|d| d.choice.to_string() == *value).and_then(|d| d.usable.as_ref().err()) {
        ui.label(RichText::new(format!("! {why}")).color(theme::ERROR));
    }
    if changed {
        r.mark_changed();
    }
    r
}

/// A drop-down of enum values shown as written in TOML.
fn choice<T: Copy + PartialEq + Serialize>(ui: &mut egui::Ui, id: &str, value: &mut T, options: &[T]) -> egui::Response {
    let labelled: Vec<(T, String)> = options.iter().map(|o| (*o, name_of(o))).collect();
    combo(ui, id, value, &labelled)
}

fn drag_usize(ui: &mut egui::Ui, v: &mut usize, range: std::ops::RangeInclusive<usize>, suffix: &str) -> egui::Response {
    ui.add(DragValue::new(v).range(range).suffix(suffix))
}

fn drag_f64(ui: &mut egui::Ui, v: &mut f64, range: std::ops::RangeInclusive<f64>, speed: f64, suffix: &str) -> egui::Response {
    ui.add(DragValue::new(v).range(range).speed(speed).suffix(suffix))
}

/// A learning rate on a log slider, shown as `1e-3`.
fn lr_slider(ui: &mut egui::Ui, v: &mut f64) -> egui::Response {
    ui.add(
        Slider::new(v, 1e-6..=1e-1)
            .logarithmic(true)
            .custom_formatter(|x, _| format!("{x:.1e}"))
            .custom_parser(|s| s.trim().parse().ok()),
    )
}

/// A file or folder field: the path and a button that asks the caller for a dialog.
fn path_row(
    ui: &mut egui::Ui,
    cx: &FormContext<'_>,
    label: &str,
    tip: &str,
    key: &str,
    value: &Option<std::path::PathBuf>,
    pick: DialogPurpose,
    dialogs: &mut Vec<DialogPurpose>,
) {
    ui.horizontal_wrapped(|ui| {
        ui.label(label).on_hover_text(format!("{tip}\n\nTOML key: {key}"));
        ui.monospace(path_text(value));
        if ui.button("Choose…").accessible_name(format!("choose {label}")).clicked() {
            dialogs.push(pick);
        }
        cx.problems_of(ui, key);
    });
}

/// A bottleneck width on a log slider.
fn bottleneck_slider(ui: &mut egui::Ui, v: &mut usize) -> egui::Response {
    ui.add(Slider::new(v, 1..=1024).logarithmic(true).suffix(" dims"))
}

fn path_text(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref().map_or("(none)".into(), |p| p.display().to_string())
}

/// One line per method, for the method picker.
pub fn method_blurb(m: Method) -> &'static str {
    match m {
        Method::FullFinetune => "every backbone parameter trains",
        Method::Frozen => "backbone frozen: only aggregation and head train (SUPERB)",
        Method::PartialFinetune => "the top k Transformer layers train",
        Method::Houlsby => "serial bottleneck adapters after MHSA and FFN",
        Method::Lora => "low-rank updates of chosen projections",
        Method::Prefix => "learned key/value prefixes per layer",
        Method::Bitfit => "only the backbone's biases train",
        Method::Adapters => "inner + inter parallel adapters (Sang & Hansen 2024)",
    }
}

/// Draws the whole form; true when the config changed. File pickers wanted are pushed to `dialogs`.
pub fn form_ui(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>, dialogs: &mut Vec<DialogPurpose>) -> bool {
    let mut changed = false;
    if c.pretrain.is_some() {
        ui.label(
            "This config pre-trains a backbone (its [pretrain] table: clusters, masking, export are set in the TOML \
             view). Adapters, head, loss and evaluation do not apply.",
        );
        ui.columns(2, |cols| {
            changed |= experiment_section(&mut cols[0], c, cx);
            changed |= backbone_section(&mut cols[0], c, cx, dialogs);
            changed |= data_section(&mut cols[0], c, cx, dialogs);
            changed |= optim_section(&mut cols[1], c, cx);
            changed |= parallel_section(&mut cols[1], c, cx);
            changed |= slurm_section(&mut cols[1], c, cx);
        });
        return changed;
    }
    ui.columns(2, |cols| {
        let ui = &mut cols[0];
        changed |= experiment_section(ui, c, cx);
        changed |= backbone_section(ui, c, cx, dialogs);
        changed |= method_section(ui, c, cx);
        changed |= data_section(ui, c, cx, dialogs);
        let ui = &mut cols[1];
        changed |= placement_section(ui, c, cx);
        changed |= head_section(ui, c, cx);
        changed |= optim_section(ui, c, cx);
        changed |= parallel_section(ui, c, cx);
        changed |= eval_section(ui, c, cx);
        changed |= slurm_section(ui, c, cx);
    });
    let rest = cx.unshown();
    if !rest.is_empty() {
        ui.separator();
        for p in rest {
            ui.label(RichText::new(format!("! {p}")).color(theme::ERROR));
        }
    }
    changed
}

fn section(ui: &mut egui::Ui, title: &str, body: impl FnOnce(&mut egui::Ui) -> bool) -> bool {
    CollapsingHeader::new(RichText::new(title).strong())
        .default_open(true)
        .show(ui, body)
        .body_returned
        .unwrap_or(false)
}

fn experiment_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    section(ui, "Experiment", |ui| {
        let mut ch = false;
        ch |= row(ui, cx, "name", "names the run folder", "name", |ui| {
            ui.add(egui::TextEdit::singleline(&mut c.name).desired_width(200.0))
        });
        ch |= row(ui, cx, "description", "free text, kept with the run", "description", |ui| {
            ui.add(egui::TextEdit::singleline(&mut c.description).desired_width(300.0))
        });
        ch |= row(ui, cx, "seed", "initialisation, data order and crops", "seed", |ui| {
            ui.add(DragValue::new(&mut c.seed))
        });
        ch |= row(ui, cx, "device", "where it trains: the CPU, a wgpu adapter (Vulkan / Metal) or a CUDA device", "device", |ui| {
            device_combo(ui, &mut c.device, &cx.devices, cx.probing_devices)
        });
        ch
    })
}

fn backbone_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>, dialogs: &mut Vec<DialogPurpose>) -> bool {
    section(ui, "Backbone", |ui| {
        let mut ch = false;
        let mut from_preset = c.model.checkpoint.is_none();
        ui.horizontal(|ui| {
            if ui.radio_value(&mut from_preset, true, "preset (random init)").changed() {
                c.model.checkpoint = None;
                c.model.preset.get_or_insert_with(|| "wavlm-base-plus".into());
                ch = true;
            }
            if ui.radio_value(&mut from_preset, false, "HF checkpoint folder").changed() {
                c.model.preset = None;
                dialogs.push(DialogPurpose::PickCheckpoint);
            }
        });
        if from_preset {
            ch |= row(ui, cx, "preset", "an architecture with random weights (for dry runs and benchmarks)", "model.preset", |ui| {
                let options: Vec<(Option<String>, String)> = PRESETS
                    .iter()
                    .map(|(name, layers)| (Some(name.to_string()), format!("{name} ({layers} layers)")))
                    .collect();
                combo(ui, "preset", &mut c.model.preset, &options)
            });
        } else {
            path_row(
                ui,
                cx,
                "folder",
                "config.json + model.safetensors (or pytorch_model.bin), as HF saves them",
                "model.checkpoint",
                &c.model.checkpoint,
                DialogPurpose::PickCheckpoint,
                dialogs,
            );
        }
        cx.problems_of(ui, "model");
        match &cx.architecture {
            Some(a) => ui.weak(a),
            None => ui.weak("reading the architecture…"),
        };
        ch
    })
}

fn method_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    section(ui, "Method", |ui| {
        let mut ch = false;
        let a = &mut c.adaptation;
        let before = a.method;
        for m in Method::ALL {
            ch |= ui
                .radio_value(&mut a.method, m, RichText::new(m.name()).strong())
                .on_hover_text(method_blurb(m))
                .changed();
        }
        if a.method != before {
            switch_method(ui, a, before);
        }
        cx.problems_of(ui, "adaptation.method");
        ui.weak(method_blurb(a.method));
        ui.add_space(theme::GAP / 2.0);
        match a.method {
            Method::FullFinetune => {
                ch |= row(ui, cx, "freeze CNN encoder", "keep the convolutional feature encoder frozen (the usual choice)", "adaptation.freeze_feature_encoder", |ui| {
                    ui.checkbox(&mut a.freeze_feature_encoder, "")
                });
            }
            Method::PartialFinetune => {
                ch |= row(ui, cx, "top layers", "how many of the top Transformer layers train", "adaptation.partial_top_k", |ui| {
                    drag_usize(ui, &mut a.partial_top_k, 1..=48, " layers")
                });
            }
            Method::Houlsby => {
                ch |= row(ui, cx, "bottleneck", "adapter width", "adaptation.houlsby.bottleneck", |ui| {
                    drag_usize(ui, &mut a.houlsby.bottleneck, 1..=2048, " dims")
                });
            }
            Method::Lora => {
                ch |= row(ui, cx, "rank", "rank r of each update", "adaptation.lora.rank", |ui| {
                    drag_usize(ui, &mut a.lora.rank, 1..=512, "")
                });
                ch |= row(ui, cx, "alpha", "updates are scaled by alpha / r", "adaptation.lora.alpha", |ui| {
                    drag_f64(ui, &mut a.lora.alpha, 0.0..=1024.0, 0.5, "")
                });
                ui.horizontal_wrapped(|ui| {
                    ui.label("targets").on_hover_text("which projections get an update\n\nTOML key: adaptation.lora.targets");
                    for t in [LoraTarget::Q, LoraTarget::K, LoraTarget::V, LoraTarget::Out, LoraTarget::FfnIn, LoraTarget::FfnOut] {
                        let mut on = a.lora.targets.contains(&t);
                        if ui.checkbox(&mut on, name_of(&t)).changed() {
                            if on {
                                a.lora.targets.push(t);
                            } else {
                                a.lora.targets.retain(|x| *x != t);
                            }
                            ch = true;
                        }
                    }
                    cx.problems_of(ui, "adaptation.lora.targets");
                });
            }
            Method::Prefix => {
                ch |= row(ui, cx, "prefix length", "learned key/value vectors per layer", "adaptation.prefix.length", |ui| {
                    drag_usize(ui, &mut a.prefix.length, 1..=512, " vectors")
                });
            }
            Method::Adapters => {
                ch |= adapter_options(ui, c, cx);
            }
            Method::Frozen | Method::Bitfit => {}
        }
        ch
    })
}

/// After the method changed from `before`: the options of every other method go back to their defaults (a
/// config that sets options its method ignores is invalid), and the new method's options come back as they
/// were when the user last left it (kept in the UI's memory for the session).
fn switch_method(ui: &mut egui::Ui, a: &mut AdaptationConfig, before: Method) {
    let id = ui.scope_id().with("adaptation_stash");
    let mut stash: AdaptationConfig = ui.data(|d| d.get_temp(id)).unwrap_or_default();
    match before {
        Method::Adapters => {
            stash.inner = a.inner.clone();
            stash.inter = a.inter.clone();
        }
        Method::Houlsby => stash.houlsby = a.houlsby.clone(),
        Method::Lora => stash.lora = a.lora.clone(),
        Method::Prefix => stash.prefix = a.prefix.clone(),
        Method::PartialFinetune => stash.partial_top_k = a.partial_top_k,
        Method::FullFinetune => stash.freeze_feature_encoder = a.freeze_feature_encoder,
        Method::Frozen | Method::Bitfit => {}
    }
    let method = a.method;
    *a = AdaptationConfig {
        method,
        ..AdaptationConfig::default()
    };
    match method {
        Method::Adapters => {
            a.inner = stash.inner.clone();
            a.inter = stash.inter.clone();
        }
        Method::Houlsby => a.houlsby = stash.houlsby.clone(),
        Method::Lora => a.lora = stash.lora.clone(),
        Method::Prefix => a.prefix = stash.prefix.clone(),
        Method::PartialFinetune => a.partial_top_k = stash.partial_top_k,
        Method::FullFinetune => a.freeze_feature_encoder = stash.freeze_feature_encoder,
        Method::Frozen | Method::Bitfit => {}
    }
    ui.data_mut(|d| d.insert_temp(id, stash));
}

fn adapter_options(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    let mut ch = false;
    let a = &mut c.adaptation;
    if a.inner_enabled() {
        let inner = &mut a.inner;
        ch |= row(ui, cx, "inner bottleneck", "width of each inner adapter", "adaptation.inner.bottleneck", |ui| {
            bottleneck_slider(ui, &mut inner.bottleneck)
        });
        ch |= row(ui, cx, "inner scale", "the adapter's output is multiplied by this", "adaptation.inner.scale", |ui| {
            ui.add(Slider::new(&mut inner.scale, 0.0..=4.0))
        });
        ch |= row(ui, cx, "inner activation", "between the down and up projections", "adaptation.inner.activation", |ui| {
            choice(ui, "inner_act", &mut inner.activation, &[Activation::Relu, Activation::Gelu])
        });
        ui.horizontal(|ui| {
            ch |= ui.checkbox(&mut inner.learnable_scale, "learnable scale").changed();
            ch |= ui.checkbox(&mut inner.layer_norm, "layer norm").changed();
        });
    }
    if a.inter_enabled() {
        let inter = &mut a.inter;
        ch |= row(ui, cx, "inter bottleneck", "width of each inter adapter", "adaptation.inter.bottleneck", |ui| {
            bottleneck_slider(ui, &mut inter.bottleneck)
        });
        ch |= row(ui, cx, "inter scale", "the adapter's output is multiplied by this", "adaptation.inter.scale", |ui| {
            ui.add(Slider::new(&mut inter.scale, 0.0..=4.0))
        });
        ch |= row(ui, cx, "inter activation", "between the down and up projections", "adaptation.inter.activation", |ui| {
            choice(ui, "inter_act", &mut inter.activation, &[Activation::Relu, Activation::Gelu])
        });
        ui.horizontal(|ui| {
            ch |= ui.checkbox(&mut inter.learnable_scale, "learnable scale").changed();
            ch |= ui.checkbox(&mut inter.layer_norm, "layer norm").changed();
        });
    }
    if !a.inner_enabled() && !a.inter_enabled() {
        ui.weak("No adapter is on: place some in the Transformer stack.");
    }
    ch
}

/// The stack picture for the methods that place something per layer.
fn placement_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    let method = c.adaptation.method;
    if !matches!(method, Method::Adapters | Method::Houlsby | Method::Lora | Method::Prefix) {
        return false;
    }
    section(ui, "Transformer stack", |ui| {
        let Some(layers) = cx.layers else {
            ui.weak("The layer picture appears once the backbone's config is read.");
            return false;
        };
        let a = &mut c.adaptation;
        let mut ch = false;
        match method {
            Method::Adapters => {
                let mut selection = a.inner_enabled().then(|| a.inner.layers.clone());
                let (mut mhsa, mut ffn) = match a.inner.position {
                    AdapterPosition::Mhsa => (true, false),
                    AdapterPosition::Ffn => (false, true),
                    AdapterPosition::Both => (true, true),
                };
                let mut inter = a.inter_enabled();
                ch = stack_ui(
                    ui,
                    Stack {
                        id: "inner_stack",
                        layers,
                        selection: &mut selection,
                        columns: Columns::Sublayers { mhsa: &mut mhsa, ffn: &mut ffn },
                        inter: Some(&mut inter),
                    },
                );
                if ch {
                    match selection {
                        Some(s) => {
                            a.inner.layers = s;
                            a.inner.enabled = Some(true);
                        }
                        None => a.inner.enabled = Some(false),
                    }
                    a.inner.position = match (mhsa, ffn) {
                        (true, false) => AdapterPosition::Mhsa,
                        (false, true) => AdapterPosition::Ffn,
                        _ => AdapterPosition::Both,
                    };
                    a.inter.enabled = Some(inter);
                }
                ui.weak("A click adds or removes the adapters of a whole layer; MHSA / FFN choose where they sit in every selected layer.");
                cx.problems_of(ui, "adaptation.inner.layers");
                cx.problems_of(ui, "adaptation.inner.enabled");
                cx.problems_of(ui, "adaptation.inter.enabled");
                cx.problems_of(ui, "adaptation.inner");
                cx.problems_of(ui, "adaptation.inter");
            }
            Method::Houlsby | Method::Lora | Method::Prefix => {
                let (sel, name, key) = match method {
                    Method::Houlsby => (&mut a.houlsby.layers, "adapter", "adaptation.houlsby.layers"),
                    Method::Lora => (&mut a.lora.layers, "LoRA", "adaptation.lora.layers"),
                    _ => (&mut a.prefix.layers, "prefix", "adaptation.prefix.layers"),
                };
                let mut selection = Some(sel.clone());
                ch = stack_ui(
                    ui,
                    Stack {
                        id: "method_stack",
                        layers,
                        selection: &mut selection,
                        columns: Columns::Single(name),
                        inter: None,
                    },
                );
                if ch {
                    // A method needs at least one layer; "none" keeps the lowest layer rather than an empty list.
                    *sel = selection.unwrap_or(LayerSelection::List(vec![1]));
                }
                cx.problems_of(ui, key);
            }
            _ => {}
        }
        ch
    })
}

fn head_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    section(ui, "Aggregation, head and loss", |ui| {
        let mut ch = false;
        ch |= row(ui, cx, "aggregation", "how the hidden states h0…hL become one sequence", "aggregation.kind", |ui| {
            choice(ui, "agg", &mut c.aggregation.kind, &[AggregationKind::WeightedSum, AggregationKind::Last, AggregationKind::Mean])
        });
        ch |= row(ui, cx, "layer norm", "normalise each hidden state before the weighted sum", "aggregation.layer_norm", |ui| {
            ui.checkbox(&mut c.aggregation.layer_norm, "")
        });
        let h = &mut c.head;
        ch |= row(ui, cx, "head", "pooling + embedding", "head.kind", |ui| {
            choice(ui, "head", &mut h.kind, &[HeadKind::Xvector, HeadKind::Ecapa, HeadKind::Mhfa])
        });
        ch |= row(ui, cx, "embedding", "speaker embedding size", "head.embedding_dim", |ui| {
            drag_usize(ui, &mut h.embedding_dim, 1..=4096, " dims")
        });
        if h.kind == HeadKind::Mhfa {
            ch |= row(ui, cx, "MHFA heads", "attention heads", "head.mhfa_heads", |ui| drag_usize(ui, &mut h.mhfa_heads, 1..=256, ""));
            ch |= row(ui, cx, "compression", "key/value compression width", "head.mhfa_compression", |ui| {
                drag_usize(ui, &mut h.mhfa_compression, 1..=4096, " dims")
            });
        } else {
            ch |= row(ui, cx, "channels", "TDNN channels", "head.channels", |ui| drag_usize(ui, &mut h.channels, 1..=4096, ""));
        }
        let l = &mut c.loss;
        ch |= row(ui, cx, "loss", "margin softmax", "loss.kind", |ui| {
            choice(ui, "loss", &mut l.kind, &[LossKind::AamSoftmax, LossKind::AmSoftmax])
        });
        ch |= row(ui, cx, "margin", "additive margin (AAM: radians)", "loss.margin", |ui| drag_f64(ui, &mut l.margin, 0.0..=1.0, 0.005, ""));
        ch |= row(ui, cx, "scale s", "logit scale", "loss.scale", |ui| drag_f64(ui, &mut l.scale, 1.0..=128.0, 0.5, ""));
        ch |= row(ui, cx, "margin warm-up", "the margin rises from 0 over this many epochs", "loss.margin_warmup_epochs", |ui| {
            drag_f64(ui, &mut l.margin_warmup_epochs, 0.0..=1000.0, 0.1, " epochs")
        });
        ch
    })
}

fn data_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>, dialogs: &mut Vec<DialogPurpose>) -> bool {
    section(ui, "Data", |ui| {
        let mut ch = false;
        let d = &mut c.data;
        ui.horizontal(|ui| {
            ch |= ui.radio_value(&mut d.source, DataSource::Synthetic, "synthetic speakers").changed();
            ch |= ui.radio_value(&mut d.source, DataSource::Corpus, "corpus folder").changed();
        });
        match d.source {
            DataSource::Synthetic => {
                let s = &mut d.synthetic;
                ch |= row(ui, cx, "training speakers", "voices the classifier learns", "data.synthetic.speakers", |ui| drag_usize(ui, &mut s.speakers, 2..=100_000, ""));
                ch |= row(ui, cx, "test speakers", "unseen voices for the trial list", "data.synthetic.test_speakers", |ui| drag_usize(ui, &mut s.test_speakers, 2..=100_000, ""));
                ch |= row(ui, cx, "utterances", "per speaker", "data.synthetic.utterances", |ui| drag_usize(ui, &mut s.utterances, 2..=100_000, ""));
                ch |= row(ui, cx, "length", "of each utterance", "data.synthetic.seconds", |ui| drag_f64(ui, &mut s.seconds, 0.1..=600.0, 0.1, " s"));
                ch |= row(ui, cx, "trials", "per test utterance, half target (more: a more precise EER)", "data.synthetic.trials_per_utterance", |ui| drag_usize(ui, &mut s.trials_per_utterance, 2..=1000, ""));
            }
            DataSource::Corpus => {
                for (label, tip, key, value, purpose) in [
                    ("corpus", "training audio: VoxCeleb, Kaldi or speaker folders", "data.corpus", &d.corpus, DialogPurpose::PickCorpus),
                    ("trials", "trial list: `label enroll test` lines", "data.trials", &d.trials, DialogPurpose::PickTrials),
                    ("eval corpus", "where the trial list's files are (default: the corpus)", "data.eval_corpus", &d.eval_corpus, DialogPurpose::PickEvalCorpus),
                ] {
                    path_row(ui, cx, label, tip, key, value, purpose, dialogs);
                }
                ch |= row(ui, cx, "layout", "how the corpus folder is organised", "data.layout", |ui| {
                    choice(ui, "layout", &mut d.layout, &[CorpusLayout::Auto, CorpusLayout::VoxCeleb, CorpusLayout::Kaldi, CorpusLayout::Folders])
                });
            }
        }
        ch |= row(ui, cx, "augmentation", "noise and reverberation (folders set in the TOML)", "data.augment.enabled", |ui| {
            ui.checkbox(&mut d.augment.enabled, "")
        });
        ch
    })
}

fn optim_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    section(ui, "Optimisation", |ui| {
        let mut ch = false;
        let o = &mut c.optim;
        ch |= row(ui, cx, "optimiser", "AdamW, or SGD with momentum", "optim.optimizer", |ui| {
            choice(ui, "optimizer", &mut o.optimizer, &[OptimizerKind::Adamw, OptimizerKind::Sgd])
        });
        if o.optimizer == OptimizerKind::Sgd {
            ch |= row(ui, cx, "momentum", "SGD momentum", "optim.momentum", |ui| drag_f64(ui, &mut o.momentum, 0.0..=0.999, 0.01, ""));
        }
        ch |= row(ui, cx, "epochs", "passes over the training data", "optim.epochs", |ui| drag_usize(ui, &mut o.epochs, 1..=10_000, " epochs"));
        ch |= row(ui, cx, "batch", "crops per optimiser step", "optim.batch_size", |ui| drag_usize(ui, &mut o.batch_size, 1..=4096, " crops"));
        ch |= row(ui, cx, "crop length", "random training crop", "optim.segment_seconds", |ui| drag_f64(ui, &mut o.segment_seconds, 0.1..=60.0, 0.05, " s"));
        ch |= row(ui, cx, "lr adapters", "adapters, inter adapters and aggregation", "optim.lr_adapters", |ui| lr_slider(ui, &mut o.lr_adapters));
        ch |= row(ui, cx, "lr head", "head and classifier", "optim.lr_head", |ui| lr_slider(ui, &mut o.lr_head));
        if matches!(c.adaptation.method, Method::FullFinetune | Method::PartialFinetune | Method::Bitfit) {
            ch |= row(ui, cx, "lr backbone", "backbone parameters that train", "optim.lr_backbone", |ui| lr_slider(ui, &mut o.lr_backbone));
        }
        ch |= row(ui, cx, "weight decay", "decoupled (AdamW) / L2 (SGD); not on biases and norms", "optim.weight_decay", |ui| {
            drag_f64(ui, &mut o.weight_decay, 0.0..=1.0, 1e-5, "")
        });
        ch |= row(ui, cx, "schedule", "learning-rate schedule after warm-up", "optim.schedule", |ui| {
            choice(ui, "schedule", &mut o.schedule, &[Schedule::Constant, Schedule::WarmupCosine, Schedule::WarmupExponential])
        });
        ch |= row(ui, cx, "warm-up", "linear warm-up", "optim.warmup_steps", |ui| drag_usize(ui, &mut o.warmup_steps, 0..=1_000_000, " steps"));
        ch |= row(ui, cx, "final lr", "the schedule ends at this fraction of each rate", "optim.min_lr_ratio", |ui| {
            drag_f64(ui, &mut o.min_lr_ratio, 0.0..=1.0, 0.001, " × lr")
        });
        ch |= row(ui, cx, "clip", "global gradient-norm clipping (0 = off)", "optim.grad_clip", |ui| drag_f64(ui, &mut o.grad_clip, 0.0..=1e6, 0.1, ""));
        ch |= row(ui, cx, "accumulate", "batches per optimiser step", "optim.grad_accum_steps", |ui| {
            drag_usize(ui, &mut o.grad_accum_steps, 1..=1024, " batches")
        });
        // For methods whose backbone does not train; also shown while set otherwise, so the problem the check
        // reports can be undone here.
        let set = c.optim.backbone_cache_mib > 0 || c.optim.backbone_dtype != BackboneDType::F32;
        if c.adaptation.backbone_states_frozen() || set {
            let o = &mut c.optim;
            let tip = "keep the frozen backbone's states of each crop in memory, so later epochs skip it \
                       (every epoch then takes the same crop of each utterance; 0 = off)";
            ch |= row(ui, cx, "backbone cache", tip, "optim.backbone_cache_mib", |ui| {
                drag_usize(ui, &mut o.backbone_cache_mib, 0..=1 << 20, " MiB")
            });
            let tip = "run the frozen backbone in bf16 (a GPU setting: half its memory traffic; slower on the \
                       CPU); hidden states, adapters, head and optimiser stay f32";
            ch |= row(ui, cx, "backbone precision", tip, "optim.backbone_dtype", |ui| {
                choice(ui, "backbone_dtype", &mut o.backbone_dtype, &[BackboneDType::F32, BackboneDType::Bf16])
            });
        }
        ch
    })
}

fn eval_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    section(ui, "Evaluation", |ui| {
        let mut ch = false;
        let e = &mut c.eval;
        ch |= row(ui, cx, "every", "evaluate on the trial list every N epochs (0 = only at the end)", "eval.every_epochs", |ui| {
            drag_usize(ui, &mut e.every_epochs, 0..=10_000, " epochs")
        });
        ch |= row(ui, cx, "score norm", "score normalisation", "eval.score_norm", |ui| {
            choice(ui, "norm", &mut e.score_norm, &[ScoreNorm::None, ScoreNorm::SNorm, ScoreNorm::AsNorm])
        });
        ch |= row(ui, cx, "layer weights", "report the aggregation weights every N steps", "eval.layer_weights_every_steps", |ui| {
            drag_usize(ui, &mut e.layer_weights_every_steps, 1..=1_000_000, " steps")
        });
        ch
    })
}

/// The CPU threads of this process, asked once (the answer reads cgroup files; the form is drawn every frame).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(crate::device::cpu_threads)
}

/// Data-parallel training (the `[parallel]` table): the devices of the peers, CPU threads each, nodes; shows how
/// the global batch is shared out.
fn parallel_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    section(ui, "Peers (data-parallel)", |ui| {
        let mut ch = false;
        let mut on = c.parallel.is_some();
        let tip = "train on several devices at once: each peer computes its share of every batch and the gradients \
                   are averaged (Burn's collective all-reduce) before each step";
        if row(ui, cx, "data-parallel", tip, "parallel", |ui| ui.checkbox(&mut on, "several devices")) {
            c.parallel = on.then(|| crate::config::ParallelConfig {
                devices: vec![c.device.clone(), c.device.clone()],
                ..Default::default()
            });
            ch = true;
        }
        let Some(p) = c.parallel.as_mut() else { return ch };
        let mut devices = p.devices.join(", ");
        let tip = "one peer per device, all of one kind: cuda:0, cuda:1 … or cpu, cpu (CPU peers share the cores)";
        if row(ui, cx, "devices", tip, "parallel.devices", |ui| {
            ui.add(egui::TextEdit::singleline(&mut devices).hint_text("cuda:0, cuda:1").desired_width(200.0))
        }) {
            p.devices = devices.split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect();
            ch = true;
        }
        ch |= row(ui, cx, "CPU threads", "threads of each CPU peer (0: the cores shared evenly)", "parallel.cpu_threads", |ui| {
            drag_usize(ui, &mut p.cpu_threads, 0..=1024, " per peer")
        });
        ch |= row(ui, cx, "nodes", "machines the run spans (started with srun or `train --resume DIR --node-rank R` on each)", "parallel.nodes", |ui| {
            let unit = if p.nodes == 1 { " node" } else { " nodes" };
            ui.add(DragValue::new(&mut p.nodes).range(1..=4096).suffix(unit))
        });
        ch |= row(ui, cx, "timeout", "a step that does not come back from every peer within this ends the run as failed, naming them", "parallel.timeout_seconds", |ui| {
            ui.add(DragValue::new(&mut p.timeout_seconds).range(10..=86_400).suffix(" s"))
        });
        let peers = c.peer_count();
        let cpu_peers = c.parallel.as_ref().is_some_and(|p| p.devices.iter().all(|d| d.trim() == "cpu"));
        let threads = match c.parallel.as_ref().map_or(0, |p| p.cpu_threads) {
            0 => (cores() / peers.max(1)).max(1),
            n => n,
        };
        let text = if peers > 0 && c.optim.batch_size % peers == 0 {
            let mut text = format!("global batch {} = {peers} peers × {} crops", c.optim.batch_size, c.per_peer_batch());
            if cpu_peers && peers > 1 {
                let s = if threads == 1 { "" } else { "s" };
                text.push_str(&format!(" · {threads} thread{s} per peer here"));
            }
            text
        } else {
            format!("the global batch {} does not split over {peers} peers", c.optim.batch_size)
        };
        ui.label(RichText::new(text).weak());
        ch
    })
}

/// The `[slurm]` table, when the config has one (choosing "on Slurm cluster" beside Launch adds it).
fn slurm_section(ui: &mut egui::Ui, c: &mut ExperimentConfig, cx: &FormContext<'_>) -> bool {
    let Some(s) = c.slurm.as_mut() else { return false };
    section(ui, "Cluster (Slurm)", |ui| {
        let mut ch = false;
        let text = |ui: &mut egui::Ui, label: &str, tip: &str, key: &str, v: &mut String, hint: &str| {
            row(ui, cx, label, tip, key, |ui| {
                ui.add(egui::TextEdit::singleline(v).hint_text(hint).desired_width(160.0))
            })
        };
        ch |= text(ui, "partition", "sbatch --partition (empty: the cluster's default)", "slurm.partition", &mut s.partition, "default");
        ch |= text(ui, "account", "sbatch --account (empty: yours by default)", "slurm.account", &mut s.account, "default");
        ch |= text(ui, "time limit", "sbatch --time: minutes, H:MM:SS or D-H:MM:SS (empty: the partition's)", "slurm.time", &mut s.time, "e.g. 4:00:00");
        ch |= row(ui, cx, "CPUs", "sbatch --cpus-per-task (0: Slurm's default)", "slurm.cpus", |ui| {
            drag_usize(ui, &mut s.cpus, 0..=1024, " per task")
        });
        ch |= text(ui, "memory", "sbatch --mem, e.g. 32G (empty: the cluster's default)", "slurm.mem", &mut s.mem, "e.g. 32G");
        ch |= text(ui, "GPUs", "sbatch --gres, e.g. gpu:1 (set device to cuda:0 or wgpu:0 to train on it)", "slurm.gres", &mut s.gres, "e.g. gpu:1");
        ch |= row(ui, cx, "at once", "a sweep's job array runs at most this many runs at a time (--array=…%K; 0: no limit)", "slurm.parallel", |ui| {
            drag_usize(ui, &mut s.parallel, 0..=10_000, " runs")
        });
        ch |= row(ui, cx, "warning", "Slurm tells the job this long before its time limit; it finishes its step, writes a checkpoint and ends stopped", "slurm.signal_seconds", |ui| {
            ui.add(DragValue::new(&mut s.signal_seconds).range(10..=65535).suffix(" s before the limit"))
        });
        ch |= row(ui, cx, "requeue", "a job stopped by that warning requeues itself and resumes, so a run longer than the limit completes", "slurm.requeue", |ui| {
            ui.checkbox(&mut s.requeue, "resume in a new job")
        });
        ch |= text(ui, "via", "run sbatch, scontrol and scancel through this prefix when the app is not on a submit host (the run folders must be on a shared filesystem)", "slurm.prefix", &mut s.prefix, "e.g. ssh login-node");
        let mut extra = s.extra.join("\n");
        let edited = row(ui, cx, "more options", "other sbatch options, one per line, e.g. --qos=high", "slurm.extra", |ui| {
            ui.add(egui::TextEdit::multiline(&mut extra).desired_rows(1).desired_width(200.0).hint_text("--qos=high"))
        });
        if edited {
            // Kept line for line while typing (an empty line is ignored by the batch script).
            s.extra = extra.split('\n').map(str::to_string).collect();
            ch = true;
        }
        ch
    })
}
