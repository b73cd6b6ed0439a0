//! The Transformer stack as a picture to click: one row per layer (top layer first, the CNN features at the
//! bottom), a cell beside MHSA and one beside FFN where an inner adapter sits, the inter adapter on each
//! layer's output, and quick choices (all / none / top-k / a range). The same picture picks the layers of
//! LoRA, Houlsby adapters and prefixes, with one cell per layer.
//!
//! Adapter positions are one choice for all selected layers (the config's `position`), so a cell click adds
//! or removes its whole layer; the column switches above choose MHSA, FFN or both.

use crate::config::LayerSelection;
use eframe::egui::{self, Button, RichText, Role, WidgetInfo};

/// Which sub-block columns the picture has.
pub enum Columns<'a> {
    /// Inner adapters: one cell beside MHSA, one beside FFN; the two switches choose the position.
    Sublayers { mhsa: &'a mut bool, ffn: &'a mut bool },
    /// One cell per layer, named for what it adds (`LoRA`, `adapter`, `prefix`).
    Single(&'static str),
}

/// What the picture edits.
pub struct Stack<'a> {
    pub id: &'static str,
    pub layers: usize,
    /// `None` = no layer selected (the component is off).
    pub selection: &'a mut Option<LayerSelection>,
    pub columns: Columns<'a>,
    /// Inter adapters on every hidden state (`h_0` … `h_L`), for the adapters method.
    pub inter: Option<&'a mut bool>,
}

/// Quick-choice values kept between frames.
#[derive(Clone, Copy)]
struct Quick {
    top_k: usize,
    from: usize,
    to: usize,
}

/// Draws the stack; true when anything changed.
pub fn stack_ui(ui: &mut egui::Ui, stack: Stack<'_>) -> bool {
    let n = stack.layers.max(1);
    let mut changed = false;
    let mut mask = stack.selection.as_ref().map_or(vec![false; n], |s| s.mask(n));
    let quick_id = ui.scope_id().with(stack.id).with("quick");
    let mut quick = ui.data(|d| d.get_temp::<Quick>(quick_id)).unwrap_or(Quick {
        top_k: n.div_ceil(2),
        from: 1,
        to: n,
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("layers:");
        if named_button(ui, "all", "all layers").clicked() {
            mask = vec![true; n];
            changed = true;
        }
        if named_button(ui, "none", "no layer").clicked() {
            mask = vec![false; n];
            changed = true;
        }
        ui.separator();
        ui.add(egui::DragValue::new(&mut quick.top_k).range(1..=n).prefix("top "));
        if ui.button("set").on_hover_text("select the top k layers").clicked() {
            mask = (0..n).map(|i| i >= n - quick.top_k).collect();
            changed = true;
        }
        ui.separator();
        ui.add(egui::DragValue::new(&mut quick.from).range(1..=n))
            .accessible_name("first layer of the range");
        ui.label("to");
        ui.add(egui::DragValue::new(&mut quick.to).range(1..=n))
            .accessible_name("last layer of the range");
        if ui.button("set").on_hover_text("select this range of layers (1 = lowest)").clicked() {
            let (a, b) = (quick.from.min(quick.to), quick.from.max(quick.to));
            mask = (1..=n).map(|l| l >= a && l <= b).collect();
            changed = true;
        }
    });
    ui.data_mut(|d| d.insert_temp(quick_id, quick));

    let mut inter = stack.inter;
    let mut columns = stack.columns;
    egui::Grid::new(stack.id)
        .num_columns(4)
        .spacing([6.0, 2.0])
        .show(ui, |ui| {
            ui.weak("");
            match &mut columns {
                Columns::Sublayers { mhsa, ffn } => {
                    changed |= ui
                        .checkbox(mhsa, "MHSA")
                        .on_hover_text("adapters beside multi-head self-attention")
                        .changed();
                    changed |= ui
                        .checkbox(ffn, "FFN")
                        .on_hover_text("adapters beside the feed-forward block")
                        .changed();
                }
                Columns::Single(name) => {
                    ui.strong(*name);
                    ui.weak("");
                }
            }
            match inter.as_deref_mut() {
                Some(on) => {
                    changed |= ui
                        .checkbox(on, "inter adapter")
                        .on_hover_text("a parallel adapter on each layer's output, before the aggregation")
                        .changed();
                }
                None => {
                    ui.weak("");
                }
            }
            ui.end_row();
            for layer in (1..=n).rev() {
                ui.label(format!("layer {layer}"));
                let on = mask[layer - 1];
                match &mut columns {
                    Columns::Sublayers { mhsa, ffn } => {
                        for (name, column_on) in [("MHSA", &mut **mhsa), ("FFN", &mut **ffn)] {
                            if cell(ui, on && *column_on, "adapter", &format!("layer {layer} {name}")) {
                                if on && *column_on {
                                    mask[layer - 1] = false;
                                } else {
                                    mask[layer - 1] = true;
                                    *column_on = true;
                                }
                                changed = true;
                            }
                        }
                    }
                    Columns::Single(name) => {
                        if cell(ui, on, name, &format!("layer {layer} {name}")) {
                            mask[layer - 1] = !on;
                            changed = true;
                        }
                        ui.weak("");
                    }
                }
                inter_chip(ui, inter.as_deref().copied());
                ui.end_row();
            }
            ui.weak("CNN features (h0)");
            ui.weak("");
            ui.weak("");
            inter_chip(ui, inter.as_deref().copied());
            ui.end_row();
        });
    if let Columns::Sublayers { mhsa, ffn } = columns {
        if !*mhsa && !*ffn {
            // No position left: the inner adapters are off.
            mask = vec![false; n];
        }
    }
    if changed {
        *stack.selection = LayerSelection::from_mask(&mask);
    }
    changed
}

/// A button whose accessible name says more than its short text.
fn named_button(ui: &mut egui::Ui, text: &str, name: &str) -> egui::Response {
    let r = ui.button(text);
    let name = name.to_string();
    r.widget_info(|| WidgetInfo::labeled(Role::Button, true, &name));
    r
}

/// One clickable cell showing `what` when on; true when clicked. `label` names it for screen readers and tests.
fn cell(ui: &mut egui::Ui, on: bool, what: &str, label: &str) -> bool {
    let text = if on { RichText::new(what).strong() } else { RichText::new("·") };
    let response = ui.add(Button::selectable(on, text).min_size(egui::vec2(64.0, 0.0)));
    let name = label.to_string();
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, on, &name));
    response.on_hover_text(if on { "click to remove" } else { "click to add" }).clicked()
}

fn inter_chip(ui: &mut egui::Ui, inter: Option<bool>) {
    match inter {
        Some(true) => ui.label(RichText::new("+ inter, to the sum").color(super::theme::ACCENT)),
        Some(false) => ui.weak("to the sum"),
        None => ui.weak(""),
    };
}
