//! The run filter of the Monitor's list, Compare's table, `adaptsv runs --filter` and `adaptsv compare --filter`:
//! one definition, so a filter typed in the app picks the same runs on a terminal.
//!
//! A filter is whitespace-separated words, all of which a run must match (case-insensitive): `#tag` matches a
//! run with that tag exactly; any other word matches when it appears in the folder name, the method, the status,
//! a tag or the note. `paper #baseline` = runs with "paper" somewhere and the tag `baseline`.

use super::{Notes, RunStatus};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Words to find anywhere (lower case).
    words: Vec<String>,
    /// Tags the run must have (as typed, without `#`).
    tags: Vec<String>,
}

impl RunFilter {
    pub fn parse(text: &str) -> Self {
        let mut filter = Self::default();
        for word in text.split_whitespace() {
            match word.strip_prefix('#') {
                Some(tag) if !tag.is_empty() => filter.tags.push(tag.to_string()),
                _ => filter.words.push(word.to_lowercase()),
            }
        }
        filter
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.tags.is_empty()
    }

    /// Whether a run with this folder name, method, status and notes is shown.
    pub fn matches(&self, id: &str, method: &str, status: RunStatus, notes: &Notes) -> bool {
        if !self.tags.iter().all(|t| notes.has_tag(t)) {
            return false;
        }
        if self.words.is_empty() {
            return true;
        }
        let mut haystack = format!("{id} {method} {status} {}", notes.note).to_lowercase();
        for t in &notes.tags {
            haystack.push(' ');
            haystack.push_str(&t.to_lowercase());
        }
        self.words.iter().all(|w| haystack.contains(w.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_anywhere_and_hash_words_match_tags_exactly() {
        let mut notes = Notes::default();
        notes.tags.insert("Baseline".into());
        notes.note = "LR too high".into();
        let m = |f: &str| {
            RunFilter::parse(f).matches("20261205T1000Z-paper-lora-seed-1", "lora", RunStatus::Finished, &notes)
        };
        assert!(m(""));
        assert!(m("PAPER finished"));
        assert!(m("#baseline"));
        assert!(m("base"), "a plain word finds a tag too");
        assert!(!m("#base"), "a #tag is matched whole");
        assert!(m("too high"), "the note is searched");
        assert!(!m("paper #other"));
        assert!(!m("frozen"));
    }
}
