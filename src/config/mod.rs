//! The experiment configuration: the TOML a user writes (or the GUI edits), parsed strictly and validated once.
//!
//! [`ExperimentConfig`] is the single description of a run. It is saved verbatim as `config.toml` in every run
//! folder, so a run folder alone reproduces the run. Parsing rejects unknown keys (a typo is an error, not a
//! silently ignored setting); [`ExperimentConfig::validate`] then reports *every* semantic problem at once, each
//! naming the dotted key and why (`adaptation.inner.bottleneck = 0: must be >= 1`). A config that passed is a
//! [`ValidConfig`], which the engine and the model take, so no value is checked twice.

mod describe;
mod experiment;
mod layers;
mod valid;
mod validate;

pub use describe::{describe, name_of};
pub use experiment::*;
pub use layers::LayerSelection;
pub use valid::ValidConfig;
pub use validate::{receptive_field, ConfigProblem, PRESETS, STANDARD_MIN_SAMPLES};

use std::path::{Path, PathBuf};

/// A dotted config key in short: its last part (`bottleneck`), or its last two (`inner.bottleneck`) where another
/// of `among` ends the same way. Run names of sweep axes and Compare's group labels write keys so.
pub fn short_key<S: AsRef<str>>(key: &str, among: &[S]) -> String {
    let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    let shared = among.iter().filter(|k| last(k.as_ref()) == last(key)).count() > 1;
    let parts: Vec<&str> = key.rsplit('.').take(if shared { 2 } else { 1 }).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join(".")
}

/// Why a config file could not be turned into a valid [`ExperimentConfig`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, wrong type or unknown key; `message` carries the line and column.
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<ConfigProblem>,
    },
}

impl ExperimentConfig {
    /// Parses TOML text without validating it. `origin` names the source in errors (a path, or "<editor>").
    pub fn parse_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config = Self::parse_toml(text, origin)?;
        config.validate().map_err(|problems| ConfigError::Invalid {
            origin: origin.to_string(),
            problems,
        })?;
        Ok(config)
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The TOML text of this config, as saved in a run folder.
    pub fn to_toml_string(&self) -> String {
        // Serialising plain structs of strings/numbers/arrays cannot fail; a failure would be a bug in our types.
        toml::to_string_pretty(self).expect("ExperimentConfig is always representable as TOML")
    }

    /// The built-in default experiment: inner+inter adapters on a tiny WavLM, trained on the synthetic corpus,
    /// so the whole product runs on a fresh machine with no downloads.
    pub fn builtin_default() -> Self {
        Self::from_toml_str(DEFAULT_TOML, "built-in default experiment")
            .expect("the built-in default experiment is valid (checked by a test)")
    }
}

/// The TOML of the built-in default experiment (also shipped as `experiments/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../../experiments/default.toml");
