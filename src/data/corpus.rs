//! Speaker corpora on disk, indexed (without decoding any audio) into one [`Corpus`].
//!
//! Three layouts are understood:
//!
//! | layout                    | on disk                                         | utterance id              |
//! |---------------------------|-------------------------------------------------|---------------------------|
//! | [`CorpusLayout::VoxCeleb`]| `root/<speaker>/<video>/<file>.wav` (VoxCeleb)   | `speaker/video/file.wav`  |
//! | [`CorpusLayout::Kaldi`]   | `root/wav.scp` (`utt path`) + `root/utt2spk`     | the `wav.scp` key as is   |
//! | [`CorpusLayout::Folders`] | `root/<speaker>/<file>.wav\|flac\|ogg`           | `speaker/file.wav`        |
//!
//! Ids follow VoxCeleb's convention (the path below the corpus root, with `/`), which is what
//! VoxCeleb trial lists name; WeSpeaker's Kaldi-style VoxCeleb lists already use such keys. For the
//! VoxCeleb layout a root whose only speaker folders live in `root/wav/` (as in the official
//! `vox1_test_wav.zip`) is indexed from `root/wav`.
//!
//! [`CorpusLayout::Auto`] picks `kaldi` when `wav.scp` exists, otherwise `voxceleb` when speaker
//! folders contain sub-folders with audio, otherwise `folders`. Indexing reports progress (files
//! found so far) through an optional callback so a GUI can show it.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{is_audio_path, DataError};

/// How a corpus folder is laid out. Serialised in lower case (`auto`, `voxceleb`, `kaldi`,
/// `folders`); `auto` (the default) detects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CorpusLayout {
    /// Detect the layout from the folder's contents.
    #[default]
    Auto,
    /// `root/<speaker>/<video>/<file>.wav`.
    VoxCeleb,
    /// `root/wav.scp` + `root/utt2spk`.
    Kaldi,
    /// `root/<speaker>/<file>`.
    Folders,
}

/// One utterance of a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// Id in VoxCeleb style (`speaker/video/00001.wav`), unique in the corpus.
    pub id: String,
    /// Index into [`Corpus::speakers`]; also the training label.
    pub speaker: usize,
    /// The audio file.
    pub path: PathBuf,
}

/// An indexed corpus: speakers sorted by name, utterances sorted by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// The folder the ids are relative to.
    pub root: PathBuf,
    /// The layout that was used (never `Auto`).
    pub layout: CorpusLayout,
    /// Speaker names, sorted; an utterance's `speaker` indexes this.
    pub speakers: Vec<String>,
    /// Utterances sorted by id.
    pub utterances: Vec<Utterance>,
}

/// Progress callback: called with the number of audio files found so far.
pub type Progress<'a> = Option<&'a mut dyn FnMut(usize)>;

/// How often (in files) the progress callback is called.
const PROGRESS_EVERY: usize = 500;

impl Corpus {
    /// Indexes the corpus at `root` with the given layout (`Auto` detects it).
    pub fn index(root: &Path, layout: CorpusLayout, mut progress: Progress<'_>) -> Result<Self, DataError> {
        let layout = match layout {
            CorpusLayout::Auto => detect_layout(root)?,
            other => other,
        };
        let mut report = |n: usize| {
            if let Some(cb) = progress.as_deref_mut() {
                cb(n)
            }
        };
        let (root, entries) = match layout {
            CorpusLayout::Kaldi => (root.to_path_buf(), index_kaldi(root, &mut report)?),
            CorpusLayout::VoxCeleb => {
                let root = voxceleb_root(root)?;
                let entries = index_speaker_folders(&root, true, &mut report)?;
                (root, entries)
            }
            CorpusLayout::Folders | CorpusLayout::Auto => {
                (root.to_path_buf(), index_speaker_folders(root, false, &mut report)?)
            }
        };
        if entries.is_empty() {
            return Err(DataError::Layout {
                root,
                reason: format!("no audio files found with the {layout:?} layout"),
            });
        }
        report(entries.len());
        Ok(Self::from_entries(root, layout, entries))
    }

    /// Builds a corpus from `(id, speaker name, path)` triples (sorted and de-duplicated by id).
    fn from_entries(root: PathBuf, layout: CorpusLayout, entries: Vec<(String, String, PathBuf)>) -> Self {
        let mut by_id: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
        for (id, spk, path) in entries {
            by_id.insert(id, (spk, path));
        }
        let mut speakers: Vec<String> = by_id.values().map(|(s, _)| s.clone()).collect();
        speakers.sort();
        speakers.dedup();
        let index: HashMap<&str, usize> = speakers.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        let utterances = by_id
            .iter()
            .map(|(id, (spk, path))| Utterance {
                id: id.clone(),
                speaker: index[spk.as_str()],
                path: path.clone(),
            })
            .collect();
        Corpus {
            root,
            layout,
            speakers,
            utterances,
        }
    }

    /// The utterance with this id, if any (binary search; ids are sorted).
    pub fn find(&self, id: &str) -> Option<&Utterance> {
        self.utterances
            .binary_search_by(|u| u.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.utterances[i])
    }

    /// Number of utterances of each speaker, indexed like [`Corpus::speakers`].
    pub fn utterances_per_speaker(&self) -> Vec<usize> {
        let mut counts = vec![0; self.speakers.len()];
        for u in &self.utterances {
            counts[u.speaker] += 1;
        }
        counts
    }
}

/// Detects the layout of `root` (see the module docs).
pub fn detect_layout(root: &Path) -> Result<CorpusLayout, DataError> {
    if root.join("wav.scp").is_file() {
        return Ok(CorpusLayout::Kaldi);
    }
    let root = voxceleb_root(root)?;
    for speaker in dirs(sorted_entries(&root)?) {
        let children = sorted_entries(&speaker)?;
        if audio_files(&children).next().is_some() {
            return Ok(CorpusLayout::Folders);
        }
        for video in dirs(children) {
            if audio_files(&sorted_entries(&video)?).next().is_some() {
                return Ok(CorpusLayout::VoxCeleb);
            }
        }
    }
    Err(DataError::Layout {
        root: root.clone(),
        reason: "found neither wav.scp, nor <speaker>/<video>/*.wav, nor <speaker>/*.wav. \
                 Pick the folder that holds the speaker folders"
            .into(),
    })
}

/// `root/wav` when `root` holds nothing but a `wav` folder besides files (official VoxCeleb zips).
fn voxceleb_root(root: &Path) -> Result<PathBuf, DataError> {
    let subdirs: Vec<PathBuf> = dirs(sorted_entries(root)?).collect();
    if subdirs.len() == 1 && subdirs[0].file_name().is_some_and(|n| n == "wav") {
        Ok(subdirs[0].clone())
    } else {
        Ok(root.to_path_buf())
    }
}

/// A directory entry: its path and whether it is a folder (symlinks followed).
struct Entry {
    path: PathBuf,
    is_dir: bool,
}

/// Directory entries sorted by name, hidden ones (`.x`) left out. Uses the entry's file type
/// (no extra `stat` per file, which matters for VoxCeleb2's million files) and follows symlinks.
fn sorted_entries(dir: &Path) -> Result<Vec<Entry>, DataError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => path.is_dir(),
            Ok(t) => t.is_dir(),
            Err(e) => return Err(DataError::io(&path, e)),
        };
        out.push(Entry { path, is_dir });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn dirs(entries: Vec<Entry>) -> impl Iterator<Item = PathBuf> {
    entries.into_iter().filter(|e| e.is_dir).map(|e| e.path)
}

fn audio_files(entries: &[Entry]) -> impl Iterator<Item = &Path> {
    entries
        .iter()
        .filter(|e| !e.is_dir && is_audio_path(&e.path))
        .map(|e| e.path.as_path())
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Indexes `root/<speaker>/<video>/<file>` (`with_video`) or `root/<speaker>/<file>`.
fn index_speaker_folders(
    root: &Path,
    with_video: bool,
    report: &mut dyn FnMut(usize),
) -> Result<Vec<(String, String, PathBuf)>, DataError> {
    let mut out = Vec::new();
    let mut push = |out: &mut Vec<(String, String, PathBuf)>, id: String, spk: &str, path: PathBuf| {
        out.push((id, spk.to_string(), path));
        if out.len().is_multiple_of(PROGRESS_EVERY) {
            report(out.len());
        }
    };
    for speaker_dir in dirs(sorted_entries(root)?) {
        let spk = name_of(&speaker_dir);
        let children = sorted_entries(&speaker_dir)?;
        if with_video {
            for video_dir in dirs(children) {
                let video = name_of(&video_dir);
                for file in audio_files(&sorted_entries(&video_dir)?) {
                    let id = format!("{spk}/{video}/{}", name_of(file));
                    push(&mut out, id, &spk, file.to_path_buf());
                }
            }
        } else {
            for file in audio_files(&children) {
                let id = format!("{spk}/{}", name_of(file));
                push(&mut out, id, &spk, file.to_path_buf());
            }
        }
    }
    Ok(out)
}

/// Reads `root/wav.scp` and `root/utt2spk`. Relative paths in `wav.scp` are relative to `root`.
fn index_kaldi(root: &Path, report: &mut dyn FnMut(usize)) -> Result<Vec<(String, String, PathBuf)>, DataError> {
    let scp_path = root.join("wav.scp");
    let spk_path = root.join("utt2spk");
    let scp = fs::read_to_string(&scp_path).map_err(|e| DataError::io(&scp_path, e))?;
    let utt2spk = fs::read_to_string(&spk_path).map_err(|e| DataError::io(&spk_path, e))?;

    let mut speaker_of: HashMap<&str, &str> = HashMap::new();
    for (i, line) in utt2spk.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => continue,
            [utt, spk] => {
                speaker_of.insert(utt, spk);
            }
            _ => {
                return Err(DataError::Parse {
                    path: spk_path,
                    line: i + 1,
                    reason: format!("expected `<utterance> <speaker>`, found `{line}`"),
                })
            }
        }
    }
    let mut out = Vec::new();
    for (i, line) in scp.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let parse_err = |reason: String| DataError::Parse {
            path: scp_path.clone(),
            line: line_no,
            reason,
        };
        let Some((utt, rest)) = trimmed.split_once(char::is_whitespace) else {
            return Err(parse_err(format!("expected `<utterance> <path>`, found `{trimmed}`")));
        };
        let rest = rest.trim();
        if rest.ends_with('|') {
            return Err(parse_err(
                "piped commands (`… |`) are not supported; convert the audio to files and list their paths".into(),
            ));
        }
        let spk = speaker_of.get(utt).ok_or_else(|| DataError::Parse {
            path: spk_path.clone(),
            line: 0,
            reason: format!("utterance `{utt}` (wav.scp line {line_no}) has no speaker in utt2spk"),
        })?;
        let path = PathBuf::from(rest);
        let path = if path.is_absolute() { path } else { root.join(path) };
        out.push((utt.to_string(), spk.to_string(), path));
        if out.len().is_multiple_of(PROGRESS_EVERY) {
            report(out.len());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"x").unwrap();
    }

    #[test]
    fn detects_each_layout_and_sorts() {
        let d = tempfile::tempdir().unwrap();
        let vox = d.path().join("vox");
        touch(&vox.join("id2/vB/00001.wav"));
        touch(&vox.join("id1/vA/00002.wav"));
        touch(&vox.join("id1/vA/00001.wav"));
        touch(&vox.join("id1/vA/readme.txt"));
        let c = Corpus::index(&vox, CorpusLayout::Auto, None).unwrap();
        assert_eq!(c.layout, CorpusLayout::VoxCeleb);
        assert_eq!(c.speakers, vec!["id1", "id2"]);
        let ids: Vec<&str> = c.utterances.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, vec!["id1/vA/00001.wav", "id1/vA/00002.wav", "id2/vB/00001.wav"]);
        assert_eq!(c.find("id2/vB/00001.wav").unwrap().speaker, 1);

        let flat = d.path().join("flat");
        touch(&flat.join("alice/a.flac"));
        assert_eq!(detect_layout(&flat).unwrap(), CorpusLayout::Folders);

        let kaldi = d.path().join("kaldi");
        fs::create_dir_all(&kaldi).unwrap();
        fs::write(kaldi.join("wav.scp"), "u1 /x/u1.wav\n").unwrap();
        fs::write(kaldi.join("utt2spk"), "u1 s1\n").unwrap();
        assert_eq!(detect_layout(&kaldi).unwrap(), CorpusLayout::Kaldi);
    }

    #[test]
    fn serde_names_are_lowercase() {
        #[derive(Deserialize)]
        struct W {
            layout: CorpusLayout,
        }
        let w: W = toml::from_str("layout = \"voxceleb\"").unwrap();
        assert_eq!(w.layout, CorpusLayout::VoxCeleb);
    }

    #[test]
    fn kaldi_errors_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("wav.scp"), "u1 a.wav\nu2 sox x.wav -t wav - |\n").unwrap();
        fs::write(d.path().join("utt2spk"), "u1 s1\nu2 s1\n").unwrap();
        let e = Corpus::index(d.path(), CorpusLayout::Kaldi, None).unwrap_err();
        assert!(e.to_string().contains("wav.scp line 2"), "{e}");
    }
}
