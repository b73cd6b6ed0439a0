//! The one error type of the backbone module: every way a config, a checkpoint or an input can fail to fit
//! the model, each message naming the file and the key involved and saying what to do.

use std::path::PathBuf;

/// Errors from building, loading or running an SSL backbone.
#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    /// A file could not be read.
    /// (The cause is part of the message, not a `source()`, so that one-line displays keep it.)
    #[error("cannot read {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    /// `config.json` is not valid JSON or has a field of the wrong type.
    #[error("{path} is not a valid HuggingFace config.json: {message}")]
    ConfigParse { path: PathBuf, message: String },
    /// The config describes an architecture this crate does not implement.
    #[error("{path}: unsupported model config:\n  - {}\nUse a WavLM, HuBERT or wav2vec 2.0 base model checkpoint (model_type wavlm, hubert or wav2vec2)", problems.join("\n  - "))]
    UnsupportedConfig { path: PathBuf, problems: Vec<String> },
    /// The folder holds neither `model.safetensors` nor `pytorch_model.bin`.
    #[error("{dir} holds no weights: expected model.safetensors or pytorch_model.bin next to config.json")]
    NoWeights { dir: PathBuf },
    /// The weights file is not a readable safetensors / PyTorch zip file.
    #[error("{path} is not a readable weights file: {message}")]
    WeightsFormat { path: PathBuf, message: String },
    /// The checkpoint does not fit the config: every problem is listed at once.
    #[error("{path} does not fit {config}:\n  - {}\nCheck that config.json and the weights come from the same model", problems.join("\n  - "))]
    CheckpointMismatch {
        path: PathBuf,
        config: PathBuf,
        problems: Vec<String>,
    },
    /// The input waveform is too short for the convolutional feature encoder.
    #[error(
        "the waveform has {samples} samples but the feature encoder needs at least {needed} (about {ms} ms at 16 kHz)"
    )]
    InputTooShort { samples: usize, needed: usize, ms: usize },
}
