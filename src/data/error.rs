//! The error type of the `data` module. Every variant names the file (and line or key where there
//! is one) and says what to do, so a message can be shown to a user as is.

use std::path::PathBuf;

/// Anything that can go wrong reading corpora, trial lists and audio.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file or folder could not be opened or read.
    #[error("cannot read {path}: {source}. Check that it exists and is readable")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write {path}: {source}. Check the folder exists and there is free space")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not audio in a format we read (WAV, FLAC, OGG/Vorbis), or it is damaged.
    #[error("cannot decode audio file {path}: {reason}. Check it is a complete WAV, FLAC or OGG file")]
    Decode { path: PathBuf, reason: String },
    /// The file stops before its header says it should (a partial copy or download).
    #[error("audio file {path} is truncated: {reason}. Copy or download it again")]
    Truncated { path: PathBuf, reason: String },
    /// The file decodes but holds no samples.
    #[error("audio file {path} holds no audio samples. Remove it from the corpus")]
    Empty { path: PathBuf },
    /// Sample-rate conversion failed (bad rates).
    #[error("cannot resample {path} from {from} Hz to {to} Hz: {reason}")]
    Resample {
        path: PathBuf,
        from: u32,
        to: u32,
        reason: String,
    },
    /// A line of a text file (trial list, wav.scp, utt2spk) does not have the expected form.
    #[error("{path} line {line}: {reason}")]
    Parse { path: PathBuf, line: usize, reason: String },
    /// The corpus folder does not look like any layout we know, or holds no audio.
    #[error("corpus folder {root}: {reason}")]
    Layout { root: PathBuf, reason: String },
    /// Too much of the corpus fails to load to make batches.
    #[error("corpus {root} is mostly unreadable: {reason}. Check the files or the corpus folder")]
    Unusable { root: PathBuf, reason: String },
    /// A trial list names an utterance the corpus does not have.
    #[error(
        "trial list {path} line {line} names {id}, which is not in the corpus folder {root} \
         ({missing} trial-list entries are missing in all). Point the trial list at the matching corpus folder"
    )]
    TrialNotInCorpus {
        path: PathBuf,
        line: usize,
        id: String,
        root: PathBuf,
        missing: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid data setting `{key}`: {reason}")]
    Config { key: &'static str, reason: String },
}

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
