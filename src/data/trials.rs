//! Verification trial lists: which enrolment/test utterance pairs to score and whether each pair
//! is the same speaker.
//!
//! Two formats are read, detected per file from its first non-blank line:
//! - VoxCeleb (`veri_test2.txt`): `1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav`
//!   (label first, 1 = same speaker);
//! - Kaldi / WeSpeaker: `id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav target`
//!   (`target` or `nontarget` last).
//!
//! Every later line must follow the same format; a bad line stops reading with its line number.
//! [`TrialList::check_against`] makes sure each named utterance exists in a corpus before any
//! scoring starts.

use std::path::{Path, PathBuf};

use super::{Corpus, DataError};

/// The format of a trial list file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialFormat {
    /// `label enroll test` with label 0/1.
    VoxCeleb,
    /// `enroll test target|nontarget`.
    Kaldi,
}

/// One trial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    /// Enrolment utterance id.
    pub enroll: String,
    /// Test utterance id.
    pub test: String,
    /// Whether both utterances are from the same speaker.
    pub target: bool,
    /// 1-based line in the file, for messages.
    pub line: usize,
}

/// A parsed trial list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialList {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its detected format.
    pub format: TrialFormat,
    /// Trials in file order.
    pub trials: Vec<Trial>,
}

impl TrialList {
    /// Reads and parses the trial list at `path`.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses trial-list text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DataError> {
        let mut format = None;
        let mut trials = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let fields: Vec<&str> = raw.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let err = |reason: String| DataError::Parse {
                path: path.to_path_buf(),
                line,
                reason,
            };
            if fields.len() != 3 {
                return Err(err(format!(
                    "expected 3 fields (`1 enroll test` or `enroll test target`), found {}: `{}`",
                    fields.len(),
                    raw.trim()
                )));
            }
            let fmt = *format.get_or_insert(detect(&fields).ok_or_else(|| {
                err(format!(
                    "cannot tell the format from `{}`: expected a 0/1 label first (VoxCeleb) \
                     or target/nontarget last (Kaldi)",
                    raw.trim()
                ))
            })?);
            let trial = match fmt {
                TrialFormat::VoxCeleb => {
                    let target = match fields[0] {
                        "1" => true,
                        "0" => false,
                        other => {
                            return Err(err(format!(
                                "the label must be 0 or 1 in a VoxCeleb trial list, found `{other}`"
                            )))
                        }
                    };
                    Trial {
                        enroll: fields[1].to_string(),
                        test: fields[2].to_string(),
                        target,
                        line,
                    }
                }
                TrialFormat::Kaldi => {
                    let target = match fields[2] {
                        "target" => true,
                        "nontarget" => false,
                        other => {
                            return Err(err(format!(
                                "the last field must be `target` or `nontarget` in a Kaldi trial list, found `{other}`"
                            )))
                        }
                    };
                    Trial {
                        enroll: fields[0].to_string(),
                        test: fields[1].to_string(),
                        target,
                        line,
                    }
                }
            };
            trials.push(trial);
        }
        let format = format.ok_or_else(|| DataError::Parse {
            path: path.to_path_buf(),
            line: 0,
            reason: "the trial list holds no trials".into(),
        })?;
        Ok(TrialList {
            path: path.to_path_buf(),
            format,
            trials,
        })
    }

    /// Fails with the first trial (in file order) whose enrolment or test id is not in `corpus`,
    /// also saying how many ids are missing in all.
    pub fn check_against(&self, corpus: &Corpus) -> Result<(), DataError> {
        let mut first: Option<(usize, &str)> = None;
        let mut missing = 0;
        for t in &self.trials {
            for id in [&t.enroll, &t.test] {
                if corpus.find(id).is_none() {
                    missing += 1;
                    first.get_or_insert((t.line, id));
                }
            }
        }
        match first {
            None => Ok(()),
            Some((line, id)) => Err(DataError::TrialNotInCorpus {
                path: self.path.clone(),
                line,
                id: id.to_string(),
                root: corpus.root.clone(),
                missing,
            }),
        }
    }

    /// `(id, root/id)` of every distinct utterance the trials name, each checked to be a file under `root`
    /// (without indexing the whole corpus: a trial list names a few thousand of its files).
    pub fn audio_under(&self, root: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
        let mut out = Vec::new();
        let mut missing: Vec<&str> = Vec::new();
        for id in self.utterance_ids() {
            let path = root.join(id);
            if path.is_file() {
                out.push((id.to_string(), path));
            } else {
                missing.push(id);
            }
        }
        let Some(&first) = missing.first() else { return Ok(out) };
        let line = self
            .trials
            .iter()
            .find(|t| t.enroll == first || t.test == first)
            .map_or(0, |t| t.line);
        Err(DataError::TrialNotInCorpus {
            path: self.path.clone(),
            line,
            id: first.to_string(),
            root: root.to_path_buf(),
            missing: missing.len(),
        })
    }

    /// Distinct utterance ids named by the trials, sorted (what needs an embedding).
    pub fn utterance_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .trials
            .iter()
            .flat_map(|t| [t.enroll.as_str(), t.test.as_str()])
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn detect(fields: &[&str]) -> Option<TrialFormat> {
    if matches!(fields[0], "0" | "1") {
        Some(TrialFormat::VoxCeleb)
    } else if matches!(fields[2], "target" | "nontarget") {
        Some(TrialFormat::Kaldi)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_parse_to_the_same_trials() {
        let vox = "1 a/v/1.wav a/w/2.wav\n\n0 a/v/1.wav b/x/1.wav\n";
        let kaldi = "a/v/1.wav a/w/2.wav target\na/v/1.wav b/x/1.wav nontarget\n";
        let v = TrialList::parse(vox, Path::new("v.txt")).unwrap();
        let k = TrialList::parse(kaldi, Path::new("k.txt")).unwrap();
        assert_eq!(v.format, TrialFormat::VoxCeleb);
        assert_eq!(k.format, TrialFormat::Kaldi);
        let strip = |l: &TrialList| {
            l.trials
                .iter()
                .map(|t| (t.enroll.clone(), t.test.clone(), t.target))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&v), strip(&k));
        assert_eq!(v.trials[1].line, 3);
        assert_eq!(v.utterance_ids(), vec!["a/v/1.wav", "a/w/2.wav", "b/x/1.wav"]);
    }

    #[test]
    fn bad_lines_give_their_number() {
        let e = TrialList::parse("1 a b\n2 a b\n", Path::new("t.txt")).unwrap_err();
        assert!(e.to_string().starts_with("t.txt line 2:"), "{e}");
        let e = TrialList::parse("a b target\na b maybe\n", Path::new("t.txt")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = TrialList::parse("a b\n", Path::new("t.txt")).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
