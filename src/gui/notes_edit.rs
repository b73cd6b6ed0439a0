//! The selected run's tags and note in the Monitor, edited in place: a tag chip removes its tag when clicked, the
//! "add tag" field adds one on Enter, the note is saved with its button. Each edit is appended to the run's
//! `notes.jsonl` on a worker (`runs::notes::append`, under the file's lock, so `adaptsv note` or another app may
//! edit the same run at once); the watcher then reads the file back, so what is shown is what was written.
//! Until it does, the edits on their way are shown applied.

use super::jobs::Jobs;
use super::run_view::RunView;
use super::theme;
use crate::runs::notes::{check_tag, NoteEdit};
use crate::runs::Notes;
use eframe::egui;
use std::path::PathBuf;

/// A written edit's folder, or why it could not be written.
type Written = Result<PathBuf, String>;

pub struct NotesEditor {
    /// The "add tag" field.
    new_tag: String,
    /// The note being edited: (run folder, text), until saved or another run is shown.
    draft: Option<(PathBuf, String)>,
    /// Edits sent to the worker and not yet answered, per run folder.
    pending: Vec<(PathBuf, NoteEdit)>,
    writes: Jobs<Written>,
    /// A write finished: the app asks the watcher to read the run again now.
    pub written: bool,
    error: Option<String>,
}

impl Default for NotesEditor {
    fn default() -> Self {
        Self {
            new_tag: String::new(),
            draft: None,
            pending: Vec::new(),
            writes: Jobs::spawn("notes-writer"),
            written: false,
            error: None,
        }
    }
}

impl NotesEditor {
    /// Takes the worker's answers.
    pub fn poll(&mut self) {
        while let Some(answer) = self.writes.poll() {
            match answer {
                Ok(dir) => {
                    if let Some(i) = self.pending.iter().position(|(d, _)| *d == dir) {
                        self.pending.remove(i);
                    }
                    self.written = true;
                }
                Err(e) => {
                    self.pending.clear();
                    self.error = Some(e);
                }
            }
        }
    }

    /// The run's notes with the edits on their way applied.
    pub fn shown(&self, run: &RunView) -> Notes {
        let mut notes = run.notes.clone();
        for (_, e) in self.pending.iter().filter(|(d, _)| *d == run.dir) {
            notes.apply(e);
        }
        notes
    }

    fn send(&mut self, dir: &std::path::Path, edit: NoteEdit) {
        self.pending.push((dir.to_path_buf(), edit.clone()));
        let dir = dir.to_path_buf();
        self.writes.submit(move || {
            crate::runs::notes::append(&dir, std::slice::from_ref(&edit)).map_err(|e| e.to_string())?;
            Ok(dir)
        });
    }

    /// The tags line and the note of `run` (the app polls the worker each frame).
    pub fn ui(&mut self, ui: &mut egui::Ui, run: &RunView) {
        let notes = self.shown(run);
        ui.horizontal_wrapped(|ui| {
            ui.label("tags:");
            for tag in &notes.tags {
                let label = format!("remove tag {tag}");
                let r = ui.small_button(format!("#{tag} x")).on_hover_text(&label);
                r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
                if r.clicked() {
                    self.send(&run.dir, NoteEdit::Untag { tag: tag.clone() });
                }
            }
            let label = ui.weak("add tag");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.new_tag)
                        .hint_text("a word, Enter")
                        .desired_width(110.0),
                )
                .labelled_by(label.id);
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (entered || ui.small_button("+").on_hover_text("add the tag").clicked())
                && !self.new_tag.trim().is_empty()
            {
                match check_tag(&self.new_tag) {
                    Ok(tag) => {
                        self.error = None;
                        self.new_tag.clear();
                        self.send(&run.dir, NoteEdit::Tag { tag });
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            if let Some(e) = &self.error {
                ui.colored_label(theme::ERROR, e);
            }
        });
        self.note_ui(ui, run, &notes);
    }

    fn note_ui(&mut self, ui: &mut egui::Ui, run: &RunView, notes: &Notes) {
        if self.draft.as_ref().is_some_and(|(d, _)| *d != run.dir) {
            self.draft = None;
        }
        let title = match notes.note.lines().next() {
            Some(first) if notes.note.lines().count() > 1 => format!("note: {first} …"),
            Some(first) => format!("note: {first}"),
            None => "note".to_string(),
        };
        let (mut save, mut revert) = (None, false);
        egui::CollapsingHeader::new(title)
            .id_salt(("note", &run.dir))
            .show(ui, |ui| {
                let draft = &mut self
                    .draft
                    .get_or_insert_with(|| (run.dir.clone(), notes.note.clone()))
                    .1;
                ui.add(
                    egui::TextEdit::multiline(draft)
                        .hint_text("what this run is for, what went wrong, what to try next")
                        .desired_rows(3)
                        .desired_width(f32::INFINITY),
                );
                let text = draft.trim_end().to_string();
                let changed = text != notes.note;
                ui.horizontal(|ui| {
                    if ui.add_enabled(changed, egui::Button::new("Save note")).clicked() {
                        save = Some(text);
                    }
                    revert = changed && ui.small_button("revert").clicked();
                    ui.weak("kept in the run folder's notes.jsonl, with every earlier version");
                });
            });
        if let Some(text) = save {
            self.send(&run.dir, NoteEdit::Note { text });
        }
        if revert {
            self.draft = None;
        }
    }
}
