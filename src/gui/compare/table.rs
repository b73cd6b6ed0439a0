//! Compare's table: one row per run, or, with grouping on, one row per group of runs that differ only in chosen
//! config keys (default `seed`; `runs::group`), showing n and mean ± std of every numeric column (hover: min–max),
//! expandable to its runs. Columns: the fixed ones, one pair per other trial list, and config keys the user picks
//! from those that differ among the shown runs; any column sorts the table (groups by their mean).

use super::columns::{compare_by, list_labels, numeric, Column};
use super::plots::method_colour;
use super::super::run_view::RunView;
use super::super::theme;
use crate::runs::group::{differing_keys, group, labels, Stat};
use eframe::egui::{self, ScrollArea};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A group of shown runs, as a row.
pub struct GroupRow<'a> {
    /// What tells it from the other groups (`method=lora bottleneck=8`), or its first run's name.
    pub label: String,
    pub runs: Vec<&'a RunView>,
}

impl GroupRow<'_> {
    /// A numeric column's figures over the group's runs.
    pub fn stat(&self, col: &Column) -> Option<Stat> {
        Stat::of(self.runs.iter().filter_map(|r| col.value(r)))
    }

    /// The cell of a group row: `mean ± std` of a numeric column (the one value of a group of one), the shared
    /// value of a text column, or how many runs have each.
    pub fn text(&self, col: &Column) -> String {
        if numeric(col) {
            return self.stat(col).map(|s| s.text(|v| col.format(v))).unwrap_or_default();
        }
        if *col == Column::Tags {
            // Each tag once: plain where every run has it, else with how many do.
            let mut tags: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &self.runs {
                for t in &r.notes.tags {
                    *tags.entry(t.as_str()).or_default() += 1;
                }
            }
            let n = self.runs.len();
            return tags
                .into_iter()
                .map(|(t, k)| if k == n { format!("#{t}") } else { format!("#{t} ({k} of {n})") })
                .collect::<Vec<_>>()
                .join(" ");
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in &self.runs {
            *counts.entry(col.text(r)).or_default() += 1;
        }
        match col {
            Column::Run => format!("{} ({} runs)", self.label, self.runs.len()),
            _ if counts.len() == 1 => counts.into_keys().next().unwrap_or_default(),
            _ => counts.iter().map(|(t, n)| format!("{n} {t}")).collect::<Vec<_>>().join(", "),
        }
    }
}

/// Groups `runs` (already filtered and sorted) by every config key but `except`.
pub fn group_rows<'a>(runs: &[&'a RunView], except: &[String]) -> Vec<GroupRow<'a>> {
    let configs: Vec<_> = runs.iter().map(|r| r.config.as_ref()).collect();
    let groups = group(&configs, except);
    let labels = labels(&groups);
    groups
        .into_iter()
        .zip(labels)
        .map(|(g, label)| {
            let members: Vec<&RunView> = g.members.iter().map(|&i| runs[i]).collect();
            let label = if label.is_empty() { members[0].name().to_string() } else { label };
            GroupRow { label, runs: members }
        })
        .collect()
}

/// The keys given as text (`seed, data.synthetic.seed`).
pub fn parse_keys(text: &str) -> Vec<String> {
    text.split([',', ' ']).map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect()
}

/// The table's settings: sort, hidden list columns, config-key columns, grouping.
pub struct TableView {
    pub sort: Column,
    pub ascending: bool,
    /// Labels of other trial lists whose columns the user hid.
    pub hidden_lists: BTreeSet<String>,
    /// Config keys shown as columns.
    pub keys: Vec<String>,
    /// Rows are groups of runs that differ only in `except`.
    pub grouped: bool,
    /// The keys a group's runs may differ in (comma- or space-separated).
    pub except: String,
    /// Groups opened to show their runs, by label.
    pub expanded: BTreeSet<String>,
}

impl Default for TableView {
    fn default() -> Self {
        Self {
            sort: Column::Run,
            ascending: true,
            hidden_lists: BTreeSet::new(),
            keys: Vec::new(),
            grouped: false,
            except: "seed".into(),
            expanded: BTreeSet::new(),
        }
    }
}

impl TableView {
    /// `runs` in the table's order.
    pub fn sort<'a>(&self, runs: &mut [&'a RunView]) {
        runs.sort_by(|a, b| self.directed(compare_by(&self.sort, a, b)));
    }

    fn directed(&self, o: Ordering) -> Ordering {
        if self.ascending {
            o
        } else {
            o.reverse()
        }
    }

    /// The controls above the table: grouping, other-list columns, config-key columns.
    pub fn controls_ui(&mut self, ui: &mut egui::Ui, shown: &[&RunView]) {
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.grouped, "group runs differing only in")
                .on_hover_text("one row per group of runs whose configs agree on every key but these: n, mean ± sample std (hover: min–max); name, description and output_dir never split a group");
            ui.add_enabled(self.grouped, egui::TextEdit::singleline(&mut self.except).desired_width(160.0))
                .on_hover_text("config keys, dotted, separated by commas (a table name covers its keys: data.synthetic)");
            let lists = list_labels(shown);
            if !lists.is_empty() {
                let on = lists.iter().filter(|l| !self.hidden_lists.contains(*l)).count();
                ui.menu_button(format!("trial lists ({on} of {})", lists.len()), |ui| {
                    ui.weak("columns for the lists other than the runs' own");
                    for label in &lists {
                        let mut show = !self.hidden_lists.contains(label);
                        if ui.checkbox(&mut show, label).changed() {
                            if show {
                                self.hidden_lists.remove(label);
                            } else {
                                self.hidden_lists.insert(label.clone());
                            }
                        }
                    }
                });
            }
            let configs: Vec<_> = shown.iter().map(|r| r.config.as_ref()).collect();
            let differing = differing_keys(&configs);
            ui.menu_button(format!("config columns ({})", self.keys.len()), |ui| {
                if differing.is_empty() && self.keys.is_empty() {
                    ui.weak("the shown runs' configs do not differ");
                }
                ui.weak("keys that differ among the shown runs");
                ScrollArea::vertical().max_height(400.0).show(ui, |ui| {
                    let mut all: Vec<String> = differing.clone();
                    all.extend(self.keys.iter().filter(|k| !differing.contains(k)).cloned());
                    for key in all {
                        let mut on = self.keys.contains(&key);
                        if ui.checkbox(&mut on, &key).changed() {
                            if on {
                                self.keys.push(key);
                            } else {
                                self.keys.retain(|k| *k != key);
                            }
                        }
                    }
                });
            });
        });
    }

    /// The table of `shown` (sorted); ticking a run (or a group: all its runs) puts it in `ticked`. Returns the
    /// tag the user clicked in a run's row, if any (the panel filters by it).
    pub fn ui(&mut self, ui: &mut egui::Ui, shown: &[&RunView], ticked: &mut BTreeSet<PathBuf>) -> Option<String> {
        let lists: Vec<String> = list_labels(shown).into_iter().filter(|l| !self.hidden_lists.contains(l)).collect();
        let columns = Column::all(&lists, &self.keys);
        let mut clicked = None;
        ScrollArea::horizontal().show(ui, |ui| {
            egui::Grid::new("compare").striped(true).spacing([theme::GAP * 2.0, theme::GAP / 2.0]).show(ui, |ui| {
                ui.label("plot");
                for col in &columns {
                    self.header_ui(ui, col);
                }
                ui.end_row();
                if !self.grouped {
                    for run in shown {
                        run_row(ui, run, &columns, ticked, "", &mut clicked);
                    }
                    return;
                }
                let mut groups = group_rows(shown, &parse_keys(&self.except));
                groups.sort_by(|a, b| {
                    let o = if numeric(&self.sort) {
                        let mean = |g: &GroupRow<'_>| g.stat(&self.sort).map(|s| s.mean);
                        match (mean(a), mean(b)) {
                            (Some(x), Some(y)) => x.total_cmp(&y),
                            (x, y) => x.is_none().cmp(&y.is_none()),
                        }
                    } else {
                        a.text(&self.sort).cmp(&b.text(&self.sort))
                    };
                    self.directed(o)
                });
                for g in &groups {
                    self.group_row(ui, g, &columns, ticked);
                    if self.expanded.contains(&g.label) {
                        for run in &g.runs {
                            run_row(ui, run, &columns, ticked, "    ", &mut clicked);
                        }
                    }
                }
            });
        });
        clicked
    }

    fn header_ui(&mut self, ui: &mut egui::Ui, col: &Column) {
        let arrow = match (*col == self.sort, self.ascending) {
            (true, true) => " ^",
            (true, false) => " v",
            _ => "",
        };
        let mut b = ui.button(format!("{}{arrow}", col.title()));
        let tip = col.tooltip();
        if !tip.is_empty() {
            b = b.on_hover_text(tip);
        }
        if b.clicked() {
            if self.sort == *col {
                self.ascending = !self.ascending;
            } else {
                self.sort = col.clone();
                self.ascending = true;
            }
        }
    }

    fn group_row(&mut self, ui: &mut egui::Ui, g: &GroupRow<'_>, columns: &[Column], ticked: &mut BTreeSet<PathBuf>) {
        let dirs: Vec<&PathBuf> = g.runs.iter().map(|r| &r.dir).collect();
        tick_box(ui, &format!("plot group {}", g.label), &dirs, ticked);
        for col in columns {
            let text = g.text(col);
            match col {
                Column::Run => {
                    let open = self.expanded.contains(&g.label);
                    let arrow = if open { "-" } else { "+" };
                    let b = ui.selectable_label(open, format!("{arrow} {text}")).on_hover_text("show or hide its runs");
                    if b.clicked() {
                        if open {
                            self.expanded.remove(&g.label);
                        } else {
                            self.expanded.insert(g.label.clone());
                        }
                    }
                }
                Column::Method => {
                    ui.colored_label(method_colour(g.runs[0].method()), text);
                }
                c if numeric(c) => {
                    let cell = ui.strong(text);
                    if let Some(s) = g.stat(c) {
                        cell.on_hover_text(format!("n = {} · min {:.4} · max {:.4} · std {:.4}", s.n, s.min, s.max, s.std));
                    }
                }
                _ => {
                    ui.label(text);
                }
            }
        }
        ui.end_row();
    }
}

/// One run's row; `indent` sets a group's runs under it; a tag clicked is put in `clicked`.
fn run_row(
    ui: &mut egui::Ui,
    run: &RunView,
    columns: &[Column],
    ticked: &mut BTreeSet<PathBuf>,
    indent: &str,
    clicked: &mut Option<String>,
) {
    tick_box(ui, &format!("plot {}", run.id), &[&run.dir], ticked);
    for col in columns {
        if *col == Column::Tags {
            ui.horizontal(|ui| {
                for tag in &run.notes.tags {
                    let label = format!("show only runs tagged {tag}");
                    let r = ui.small_button(format!("#{tag}")).on_hover_text(&label);
                    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                    if r.clicked() {
                        *clicked = Some(tag.clone());
                    }
                }
                if let Some(first) = run.notes.note.lines().next() {
                    ui.weak("note").on_hover_text(format!("{first}{}", if run.notes.note.contains('\n') { " …" } else { "" }));
                }
            });
            continue;
        }
        let text = col.text(run);
        let cell = match col {
            Column::Run if !indent.is_empty() => ui.label(format!("{indent}{text}")),
            Column::Status => ui.colored_label(theme::status_colour(run.status), text),
            Column::Method => ui.colored_label(method_colour(run.method()), text),
            _ => ui.label(text),
        };
        if let Some(source) = col.source(run) {
            cell.on_hover_text(source);
        }
    }
    ui.end_row();
}

/// The "plot" checkbox of a row (named `label` for screen readers and tests): ticked when all of `dirs` are,
/// ticking or unticking them all.
fn tick_box(ui: &mut egui::Ui, label: &str, dirs: &[&PathBuf], ticked: &mut BTreeSet<PathBuf>) {
    let mut on = dirs.iter().all(|d| ticked.contains(*d));
    let r = ui.checkbox(&mut on, "");
    r.widget_info(|| egui::WidgetInfo::selected(egui::Role::CheckBox, true, on, label));
    if r.changed() {
        for d in dirs {
            if on {
                ticked.insert((*d).clone());
            } else {
                ticked.remove(*d);
            }
        }
    }
}
