//! Embeddings of the utterances a trial list names: whole utterances or fixed-length chunks averaged, cached
//! per run so scoring several trial lists (or re-scoring after a crash) does not re-extract.
//!
//! The cache is one safetensors file per embedder state (`embeddings/<cache key>.safetensors`): a single
//! `[N, D]` f32 tensor `embeddings` and the utterance ids, in row order, as a JSON list in the metadata entry
//! `ids`. Extraction only computes the ids missing from the cache and then rewrites it atomically.

use super::EvalError;
use crate::data::audio::load_audio;
use crate::data::SAMPLE_RATE;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Something that turns a 16 kHz mono waveform into a speaker embedding.
pub trait Embedder {
    /// Embedding size.
    fn dim(&self) -> usize;
    /// Names the embedder's current state (model, checkpoint step) so caches of different states never mix.
    /// Letters, digits, `-`, `_`, `.` only.
    fn cache_key(&self) -> String;
    /// The embedding of one waveform (`[samples]` at 16 kHz) → `[dim]`.
    fn embed(&mut self, wave: &[f32]) -> Result<Vec<f32>, String>;
}

/// How an utterance becomes one embedding.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EmbedOptions {
    /// `None`: the whole utterance at once. `Some(s)`: the mean of the embeddings of consecutive `s`-second
    /// chunks (a final chunk shorter than half a chunk is dropped unless it is the only one).
    pub chunk_seconds: Option<f64>,
}

impl EmbedOptions {
    /// Cache-key suffix for these options.
    pub fn key(&self) -> String {
        match self.chunk_seconds {
            None => "whole".into(),
            Some(s) => format!("chunk{s}s"),
        }
    }
}

/// Splits `wave` into the pieces that are embedded for it.
pub fn chunks(wave: &[f32], options: EmbedOptions) -> Vec<&[f32]> {
    let Some(seconds) = options.chunk_seconds else {
        return vec![wave];
    };
    let len = ((seconds * SAMPLE_RATE as f64).round() as usize).max(1);
    let mut out: Vec<&[f32]> = wave.chunks(len).collect();
    if out.len() > 1 && out.last().is_some_and(|c| c.len() * 2 < len) {
        out.pop();
    }
    out
}

/// Embeddings already extracted, by utterance id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingCache {
    pub dim: usize,
    pub embeddings: HashMap<String, Vec<f32>>,
}

impl EmbeddingCache {
    /// Reads a cache file; a missing file is an empty cache.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(cache_error(path, e.to_string())),
        };
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| cache_error(path, e.to_string()))?;
        let ids: Vec<String> = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("ids"))
            .ok_or_else(|| cache_error(path, "no `ids` metadata".into()))
            .and_then(|j| serde_json::from_str(j).map_err(|e| cache_error(path, format!("bad `ids` metadata: {e}"))))?;
        let tensors = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| cache_error(path, e.to_string()))?;
        let view = tensors
            .tensor("embeddings")
            .map_err(|e| cache_error(path, e.to_string()))?;
        let shape = view.shape();
        if view.dtype() != safetensors::Dtype::F32 || shape.len() != 2 || shape[0] != ids.len() {
            return Err(cache_error(
                path,
                format!("expected f32 [{}, D], found {:?} {:?}", ids.len(), view.dtype(), shape),
            ));
        }
        let dim = shape[1];
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let embeddings = ids
            .into_iter()
            .zip(values.chunks_exact(dim.max(1)).map(|r| r.to_vec()))
            .collect();
        Ok(Self { dim, embeddings })
    }

    /// Writes the cache atomically (ids sorted, so the file does not depend on extraction order).
    pub fn save(&self, path: &Path) -> Result<(), EvalError> {
        let mut ids: Vec<&String> = self.embeddings.keys().collect();
        ids.sort();
        let mut data = Vec::with_capacity(ids.len() * self.dim * 4);
        for id in &ids {
            for v in &self.embeddings[*id] {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![ids.len(), self.dim], &data)
            .map_err(|e| cache_error(path, e.to_string()))?;
        let mut meta = HashMap::new();
        meta.insert(
            "ids".to_string(),
            serde_json::to_string(&ids).expect("strings serialise"),
        );
        let bytes =
            safetensors::serialize([("embeddings", view)], Some(meta)).map_err(|e| cache_error(path, e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| cache_error(path, e.to_string()))?;
        }
        crate::runs::write_atomic(path, &bytes).map_err(|e| cache_error(path, e.to_string()))
    }
}

fn cache_error(path: &Path, message: String) -> EvalError {
    EvalError::Cache {
        path: path.to_path_buf(),
        message,
    }
}

/// Progress of an extraction: done, total, and the estimated seconds left.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, Option<f64>);

/// How often a long extraction writes its cache (and once more at the end, or before returning an error), so an
/// interrupted one resumes.
const SAVE_EVERY_SECS: u64 = 30;

/// The embedding of one utterance: the whole of it, or the mean over its chunks.
fn embed_one(embedder: &mut dyn Embedder, id: &str, path: &Path, options: EmbedOptions) -> Result<Vec<f32>, EvalError> {
    let wave = load_audio(path).map_err(|source| EvalError::Audio { id: id.to_string(), source })?;
    let pieces = chunks(&wave, options);
    let mut mean = vec![0.0f32; embedder.dim()];
    for piece in &pieces {
        let e = embedder.embed(piece).map_err(|message| EvalError::Embed {
            id: id.to_string(),
            path: path.to_path_buf(),
            message,
        })?;
        if e.len() != mean.len() {
            return Err(EvalError::DimensionMismatch {
                key: id.to_string(),
                expected: mean.len(),
                found: e.len(),
            });
        }
        mean.iter_mut().zip(&e).for_each(|(m, v)| *m += v / pieces.len() as f32);
    }
    Ok(mean)
}

/// Embeds every `(id, path)` not yet in the cache at `cache_path` (if given), saves the cache, and returns the
/// embeddings of all requested ids. Unreadable audio stops the extraction with the utterance's id and path:
/// an evaluation with silently missing trials would report a wrong EER (what was extracted before it is kept in
/// the cache).
pub fn embed_utterances(
    embedder: &mut dyn Embedder,
    utterances: &[(String, PathBuf)],
    options: EmbedOptions,
    cache_path: Option<&Path>,
    progress: Progress<'_>,
) -> Result<HashMap<String, Vec<f32>>, EvalError> {
    let mut cache = match cache_path {
        Some(p) => EmbeddingCache::load(p)?,
        None => EmbeddingCache::default(),
    };
    if cache.embeddings.is_empty() || cache.dim != embedder.dim() {
        cache = EmbeddingCache {
            dim: embedder.dim(),
            embeddings: HashMap::new(),
        };
    }
    let todo: Vec<&(String, PathBuf)> = utterances
        .iter()
        .filter(|(id, _)| !cache.embeddings.contains_key(id))
        .collect();
    let start = Instant::now();
    let mut saved = Instant::now();
    for (done, (id, path)) in todo.iter().enumerate() {
        let embedded = embed_one(embedder, id, path, options);
        let mean = match embedded {
            Ok(mean) => mean,
            Err(e) => {
                // Keep what was extracted: a rerun after fixing the file starts where this one stopped.
                if let (Some(p), true) = (cache_path, done > 0) {
                    cache.save(p)?;
                }
                return Err(e);
            }
        };
        cache.embeddings.insert(id.to_string(), mean);
        if let (Some(p), true) = (cache_path, saved.elapsed().as_secs() >= SAVE_EVERY_SECS) {
            cache.save(p)?;
            saved = Instant::now();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let eta = elapsed / (done + 1) as f64 * (todo.len() - done - 1) as f64;
        progress(done + 1, todo.len(), Some(eta));
    }
    if let (Some(p), false) = (cache_path, todo.is_empty()) {
        cache.save(p)?;
    }
    Ok(utterances
        .iter()
        .filter_map(|(id, _)| cache.embeddings.get(id).map(|e| (id.clone(), e.clone())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_keeps_whole_chunks_and_drops_a_short_tail() {
        let wave = vec![0.0f32; 16_000 * 5 + 4_000];
        let c = chunks(
            &wave,
            EmbedOptions {
                chunk_seconds: Some(2.0),
            },
        );
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![32_000, 32_000, 20_000]
        );
        let c = chunks(
            &wave[..16_000 * 4 + 100],
            EmbedOptions {
                chunk_seconds: Some(2.0),
            },
        );
        assert_eq!(c.len(), 2);
        let c = chunks(
            &wave[..8_000],
            EmbedOptions {
                chunk_seconds: Some(2.0),
            },
        );
        assert_eq!(c.len(), 1, "a short utterance is its own chunk");
    }

    #[test]
    fn cache_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.safetensors");
        let mut cache = EmbeddingCache {
            dim: 3,
            embeddings: HashMap::new(),
        };
        cache.embeddings.insert("id1/a/00001.wav".into(), vec![1.0, -2.0, 0.5]);
        cache.embeddings.insert("id2/b/00002.wav".into(), vec![0.25, 4.0, -1.0]);
        cache.save(&path).unwrap();
        assert_eq!(EmbeddingCache::load(&path).unwrap(), cache);
        std::fs::write(&path, b"garbage").unwrap();
        let err = EmbeddingCache::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("e.safetensors") && err.contains("delete the file"),
            "{err}"
        );
    }
}
