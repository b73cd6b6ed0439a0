//! Embeddings of any audio with a trained run, headless (`adaptsv embed`): the engineer's extraction on a server,
//! with the same model, chunking and code path as the run's own evaluation.
//!
//! The run's latest checkpoint is rebuilt on the device asked for ([`super::evaluate::load_latest`]); every
//! utterance becomes one embedding `[D]` (`D = head.embedding_dim`), the whole utterance or the mean over chunks
//! (`chunk_seconds`, default: the run's `eval.chunk_seconds`). For a corpus folder the embeddings are cached in
//! `<run>/embeddings/step-<step>-corpus-<hash of the folder's path>-<whole|chunkSs>.safetensors`, so an
//! interrupted extraction of a large corpus picks up where it stopped; a list of files is embedded afresh.

use super::embedder::ModelEmbedder;
use super::evaluate::{load_latest, Progress, RunModel};
use super::EngineError;
use crate::data::SAMPLE_RATE;
use crate::device::{DeviceChoice, OnBackend};
use burn::tensor::backend::Backend;
use crate::eval::{embed_utterances, EmbedOptions};
use crate::runs::load_dir;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

/// What to embed.
#[derive(Debug, Clone)]
pub enum AudioSource {
    /// Every utterance of an indexed corpus (ids relative to its root, as trial lists name them).
    Corpus {
        root: PathBuf,
        utterances: Vec<(String, PathBuf)>,
    },
    /// Files as given (each file's id is its path as written).
    Files(Vec<PathBuf>),
}

/// Embeddings by utterance id, and where they came from.
#[derive(Debug, Clone)]
pub struct RunEmbeddings {
    pub step: u64,
    pub dim: usize,
    pub chunk_seconds: Option<f64>,
    pub embeddings: HashMap<String, Vec<f32>>,
    /// The cache used (`None` for a list of files, or when the run folder cannot be written: a copied-back or
    /// shared read-only folder still embeds, it just does not resume).
    pub cache: Option<PathBuf>,
}

/// Embeds `source` with the run in `dir` at its latest checkpoint, on `device` (probed first). `chunk_seconds`
/// overrides the run's `eval.chunk_seconds`; chunks shorter than the backbone's shortest input are refused before
/// any audio is read.
pub fn embed_with_run(
    dir: &Path,
    source: &AudioSource,
    chunk_seconds: Option<f64>,
    device: DeviceChoice,
    progress: Progress<'_>,
) -> Result<RunEmbeddings, EngineError> {
    crate::device::probe(device)?;
    let job = EmbedJob {
        dir,
        source,
        chunk_seconds,
        progress,
    };
    crate::device::run_on(device, job)?
}

/// [`embed_with_run`]'s work once the device is known.
struct EmbedJob<'a, 'p> {
    dir: &'a Path,
    source: &'a AudioSource,
    chunk_seconds: Option<f64>,
    progress: Progress<'p>,
}

impl OnBackend for EmbedJob<'_, '_> {
    type Output = Result<RunEmbeddings, EngineError>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let EmbedJob {
            dir,
            source,
            chunk_seconds,
            progress,
        } = self;
        embed::<B>(dir, source, chunk_seconds, device, progress)
    }
}

fn embed<B: Backend>(
    dir: &Path,
    source: &AudioSource,
    chunk_seconds: Option<f64>,
    device: B::Device,
    progress: Progress<'_>,
) -> Result<RunEmbeddings, EngineError> {
    let run = load_dir(dir);
    let RunModel { config, step, model } = load_latest::<B>(dir, &run, &device)?;
    let options = EmbedOptions {
        chunk_seconds: chunk_seconds.or(config.eval.chunk_seconds),
    };
    if let Some(s) = options.chunk_seconds {
        let samples = (s * SAMPLE_RATE as f64).round() as usize;
        model.backbone.check_input_len(samples).map_err(|e| EngineError::BadRun {
            dir: dir.to_path_buf(),
            reason: format!("chunks of {s} s are too short for its backbone: {e}"),
        })?;
    }
    let dim = config.head.embedding_dim;
    let mut embedder = ModelEmbedder::new(model, device, step, dim);
    let (utterances, cache) = match source {
        AudioSource::Corpus { root, utterances } => {
            let root = root.canonicalize().unwrap_or_else(|_| root.clone());
            let mut h = DefaultHasher::new();
            root.hash(&mut h);
            let cache = embedder.cache_file(dir, &format!("corpus-{:016x}", h.finish()), options);
            (utterances.clone(), writable(&cache).then_some(cache))
        }
        AudioSource::Files(files) => (
            files.iter().map(|p| (p.to_string_lossy().into_owned(), p.clone())).collect(),
            None,
        ),
    };
    let embeddings = embed_utterances(&mut embedder, &utterances, options, cache.as_deref(), &mut |d, t, eta| {
        progress("embedding utterances", d, t, eta)
    })?;
    Ok(RunEmbeddings {
        step,
        dim,
        chunk_seconds: options.chunk_seconds,
        embeddings,
        cache,
    })
}

/// Whether a cache file can be written at `path` (its folder made, a probe file created and removed).
fn writable(path: &Path) -> bool {
    let Some(dir) = path.parent() else {
        return false;
    };
    let probe = dir.join(".adaptsv-write-probe");
    let ok = std::fs::create_dir_all(dir).is_ok() && std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}
