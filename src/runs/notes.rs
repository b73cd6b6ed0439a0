//! Tags and a free-text note on a run, kept in `<run>/notes.jsonl` as an append-only log of edits (`tag`,
//! `untag`, `note`), one JSON object per line with its UTC time; the run's [`Notes`] are the log replayed.
//!
//! Why a log and not a file rewritten in place: two processes (the app and `adaptsv note`, two apps on a shared
//! folder, a training run's own process never writes here) can edit one run at once. Each edit is one line
//! appended under an exclusive OS lock on the file, so concurrent tag edits all land, and a note replaced by
//! another writer is still in the file (`adaptsv note --history`). A line that does not parse is reported by
//! file and line number and skipped; nothing is ever rewritten, so nothing is lost.

use super::{Damage, RunError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

pub const NOTES_FILE: &str = "notes.jsonl";

/// The longest tag accepted, in characters.
const MAX_TAG: usize = 64;

/// A run's tags and note as the log of its edits leaves them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notes {
    pub tags: BTreeSet<String>,
    pub note: String,
}

/// One edit of a run's notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum NoteEdit {
    /// Adds a tag (a tag the run has already is kept once).
    Tag { tag: String },
    /// Removes a tag (one the run does not have is ignored).
    Untag { tag: String },
    /// Replaces the note (empty: no note).
    Note { text: String },
}

/// A line of `notes.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteRecord {
    pub utc: String,
    #[serde(flatten)]
    pub edit: NoteEdit,
}

impl Notes {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.note.is_empty()
    }

    pub fn apply(&mut self, edit: &NoteEdit) {
        match edit {
            NoteEdit::Tag { tag } => {
                self.tags.insert(tag.clone());
            }
            NoteEdit::Untag { tag } => {
                self.tags.remove(tag);
            }
            NoteEdit::Note { text } => self.note = text.clone(),
        }
    }

    /// Whether the run has `tag` (case-insensitive, as the filter matches).
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }
}

/// A tag as typed, checked: trimmed, one word of letters, digits and `-_.:/+=`, at most 64 characters. The `#`
/// that the filter writes before a tag is dropped.
pub fn check_tag(text: &str) -> Result<String, String> {
    let tag = text.trim().trim_start_matches('#');
    if tag.is_empty() {
        return Err("a tag cannot be empty".into());
    }
    if tag.chars().count() > MAX_TAG {
        return Err(format!("tag {tag:?} is longer than {MAX_TAG} characters"));
    }
    if let Some(c) = tag.chars().find(|c| !(c.is_alphanumeric() || "-_.:/+=".contains(*c))) {
        return Err(format!(
            "tag {tag:?} has {c:?}: a tag is one word of letters, digits and - _ . : / + ="
        ));
    }
    Ok(tag.to_string())
}

/// Appends `edits` to `<dir>/notes.jsonl` under an exclusive lock, as one write. Tags are checked first
/// ([`check_tag`]): an edit with a bad tag writes nothing.
pub fn append(dir: &Path, edits: &[NoteEdit]) -> Result<(), RunError> {
    let path = dir.join(NOTES_FILE);
    let io = |source| RunError::Io {
        path: path.clone(),
        source,
    };
    if !dir.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such run folder",
        )));
    }
    let utc = super::Utc::now().rfc3339();
    let mut bytes = Vec::new();
    for edit in edits {
        if let NoteEdit::Tag { tag } | NoteEdit::Untag { tag } = edit {
            check_tag(tag).map_err(|m| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, m)))?;
        }
        let record = NoteRecord {
            utc: utc.clone(),
            edit: edit.clone(),
        };
        serde_json::to_writer(&mut bytes, &record).expect("a note record serialises");
        bytes.push(b'\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    let written = file.write_all(&bytes).and_then(|_| file.sync_data());
    let _ = file.unlock();
    written.map_err(io)
}

/// The edits in `<dir>/notes.jsonl`, in order, and the lines that could not be read. A missing file is no edits.
pub fn read_log(dir: &Path) -> (Vec<NoteRecord>, Vec<Damage>) {
    let path = dir.join(NOTES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(e) => {
            let damage = Damage {
                file: path,
                line: None,
                message: e.to_string(),
            };
            return (Vec::new(), vec![damage]);
        }
    };
    let mut records = Vec::new();
    let mut damage = Vec::new();
    // A last line without its newline is being written by another process: taken on the next read.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    for (i, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<NoteRecord>(line) {
            Ok(r) => records.push(r),
            Err(e) => damage.push(Damage {
                file: path.clone(),
                line: Some(i + 1),
                message: format!("not a note edit ({e}); skipped"),
            }),
        }
    }
    (records, damage)
}

/// A run's notes: its log replayed, and the lines that could not be read.
pub fn read(dir: &Path) -> (Notes, Vec<Damage>) {
    let (records, damage) = read_log(dir);
    let mut notes = Notes::default();
    for r in &records {
        notes.apply(&r.edit);
    }
    (notes, damage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(t: &str) -> NoteEdit {
        NoteEdit::Tag { tag: t.into() }
    }

    #[test]
    fn edits_replay_into_tags_and_the_latest_note() {
        let dir = tempfile::tempdir().unwrap();
        append(
            dir.path(),
            &[tag("baseline"), tag("paper"), NoteEdit::Note { text: "first".into() }],
        )
        .unwrap();
        append(
            dir.path(),
            &[
                NoteEdit::Untag { tag: "paper".into() },
                NoteEdit::Note {
                    text: "lr too high\nrerun".into(),
                },
            ],
        )
        .unwrap();
        let (notes, damage) = read(dir.path());
        assert!(damage.is_empty());
        assert_eq!(notes.tags.iter().collect::<Vec<_>>(), ["baseline"]);
        assert_eq!(notes.note, "lr too high\nrerun");
        assert!(notes.has_tag("BASELINE"));
        // The replaced note is still in the log.
        assert_eq!(read_log(dir.path()).0.len(), 5);
    }

    #[test]
    fn bad_tags_are_refused_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "two words", "a,b", &"x".repeat(65)] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_tag(" #seed-1 ").unwrap(), "seed-1");
        let err = append(dir.path(), &[tag("ok"), tag("not ok")]).unwrap_err().to_string();
        assert!(err.contains("notes.jsonl") && err.contains("\"not ok\""), "{err}");
        assert!(read(dir.path()).0.is_empty(), "nothing written");
    }

    #[test]
    fn a_garbled_line_is_named_and_skipped_and_a_torn_last_line_waits() {
        let dir = tempfile::tempdir().unwrap();
        // Bytes another writer left, as they are.
        let raw = |bytes: &[u8]| {
            let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join(NOTES_FILE)).unwrap();
            f.write_all(bytes).unwrap();
        };
        append(dir.path(), &[tag("a")]).unwrap();
        raw(b"{oops\n");
        append(dir.path(), &[tag("b")]).unwrap();
        raw(b"{\"utc\":\"x\",\"edit\":\"tag\",\"ta");
        let (notes, damage) = read(dir.path());
        assert_eq!(notes.tags.len(), 2);
        assert_eq!(damage.len(), 1);
        assert_eq!(damage[0].line, Some(2));
    }

    #[test]
    fn two_writers_at_once_lose_no_edit() {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        append(&d, &[tag(&format!("w{w}-{i}"))]).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let (notes, damage) = read(dir.path());
        assert!(damage.is_empty());
        assert_eq!(notes.tags.len(), 200);
    }
}
