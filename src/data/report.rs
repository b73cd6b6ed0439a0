//! [`LoadReport`]: what the loader could not use, so a run can continue past bad files and still
//! tell the user exactly which ones to fix.
//!
//! Files are counted once each (the same bad file drawn twice is one entry) and grouped by
//! [`SkipReason`]. Speakers whose every attempted file failed are listed separately: they teach the
//! model nothing, and the user should know.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::DataError;

/// Why a file was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Could not be opened or read.
    Unreadable,
    /// Not audio in a supported format, or damaged.
    NotAudio,
    /// Shorter than its header says.
    Truncated,
    /// Holds no samples.
    Empty,
    /// Anything else (resampling, augmentation input).
    Other,
}

impl SkipReason {
    /// The reason for an error returned while loading a file.
    pub fn of(e: &DataError) -> Self {
        match e {
            DataError::Io { .. } => SkipReason::Unreadable,
            DataError::Decode { .. } => SkipReason::NotAudio,
            DataError::Truncated { .. } => SkipReason::Truncated,
            DataError::Empty { .. } => SkipReason::Empty,
            _ => SkipReason::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SkipReason::Unreadable => "unreadable",
            SkipReason::NotAudio => "not audio / damaged",
            SkipReason::Truncated => "truncated",
            SkipReason::Empty => "empty",
            SkipReason::Other => "other",
        }
    }
}

/// One skipped file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub reason: SkipReason,
    /// The full error message.
    pub message: String,
    /// How many times it was drawn and skipped.
    pub times: u64,
}

/// Counts of loaded and skipped files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Files decoded successfully (counting repeats).
    pub loaded: u64,
    /// Skipped files by path.
    pub skipped: BTreeMap<PathBuf, SkippedFile>,
    /// Per speaker name: (files loaded, files skipped).
    speaker_tally: BTreeMap<String, (u64, u64)>,
}

impl LoadReport {
    /// Records a successful load for `speaker`.
    pub fn record_ok(&mut self, speaker: &str) {
        self.loaded += 1;
        match self.speaker_tally.get_mut(speaker) {
            Some(t) => t.0 += 1,
            None => {
                self.speaker_tally.insert(speaker.to_string(), (1, 0));
            }
        }
    }

    /// Records that `path` was skipped because of `error`; `speaker` is the speaker it belongs to,
    /// or `None` for files that are not speech of a corpus speaker (noise, impulse responses).
    pub fn record_skip(&mut self, path: PathBuf, speaker: Option<&str>, error: &DataError) {
        self.skipped
            .entry(path)
            .or_insert_with(|| SkippedFile {
                reason: SkipReason::of(error),
                message: error.to_string(),
                times: 0,
            })
            .times += 1;
        if let Some(speaker) = speaker {
            self.speaker_tally.entry(speaker.to_string()).or_default().1 += 1;
        }
    }

    /// Adds another report's counts to this one (used to merge per-worker reports).
    pub fn merge(&mut self, other: &LoadReport) {
        self.loaded += other.loaded;
        for (path, s) in &other.skipped {
            let e = self
                .skipped
                .entry(path.clone())
                .or_insert_with(|| SkippedFile { times: 0, ..s.clone() });
            e.times += s.times;
        }
        for (spk, (ok, bad)) in &other.speaker_tally {
            let t = self.speaker_tally.entry(spk.clone()).or_default();
            t.0 += ok;
            t.1 += bad;
        }
    }

    /// Number of distinct skipped files.
    pub fn skipped_files(&self) -> usize {
        self.skipped.len()
    }

    /// Skipped files grouped by reason.
    pub fn by_reason(&self) -> BTreeMap<SkipReason, Vec<&PathBuf>> {
        let mut out: BTreeMap<SkipReason, Vec<&PathBuf>> = BTreeMap::new();
        for (p, s) in &self.skipped {
            out.entry(s.reason).or_default().push(p);
        }
        out
    }

    /// Speakers for whom files were skipped and none loaded (as far as this report saw).
    pub fn speakers_without_audio(&self) -> Vec<&str> {
        self.speaker_tally
            .iter()
            .filter(|(_, (ok, bad))| *ok == 0 && *bad > 0)
            .map(|(s, _)| s.as_str())
            .collect()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} files loaded, {} files skipped",
            self.loaded,
            self.skipped_files()
        )?;
        for (reason, paths) in self.by_reason() {
            writeln!(f, "  {} ({}):", reason.label(), paths.len())?;
            for p in paths {
                writeln!(f, "    {}", p.display())?;
            }
        }
        let lost = self.speakers_without_audio();
        if !lost.is_empty() {
            writeln!(f, "  speakers with no usable audio: {}", lost.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_once_and_finds_speakers_without_audio() {
        let mut r = LoadReport::default();
        let e = DataError::Empty { path: "a.wav".into() };
        r.record_skip("a.wav".into(), Some("s1"), &e);
        r.record_skip("a.wav".into(), Some("s1"), &e);
        r.record_skip("b.wav".into(), Some("s2"), &e);
        r.record_skip("noise.wav".into(), None, &e);
        r.record_ok("s2");
        assert_eq!(r.skipped_files(), 3);
        assert_eq!(r.skipped[&PathBuf::from("a.wav")].times, 2);
        assert_eq!(r.speakers_without_audio(), vec!["s1"]);
        let text = r.to_string();
        assert!(text.contains("a.wav") && text.contains("empty (3)"), "{text}");
    }
}
