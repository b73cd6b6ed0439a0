//! `adaptsv embed`: speaker embeddings of a corpus folder or of audio files with a trained run, headless (see
//! [`crate::engine::embed_audio`]), written as safetensors or CSV.
//!
//! `.safetensors`: one f32 tensor `embeddings` `[N, D]` and the utterance ids, in row order, as a JSON list in the
//! metadata entry `ids` (the format of the run's embedding caches; `safetensors.numpy.load_file` plus
//! `safe_open(...).metadata()` read it in Python). `.csv`: a header `id,e0,…,e{D-1}` and one row per utterance.
//! Rows are sorted by id either way.

use crate::data::{Corpus, CorpusLayout};
use crate::engine::embed_audio::{embed_with_run, AudioSource};
use crate::eval::EmbeddingCache;
use anyhow::{bail, Context};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct EmbedArgs {
    /// The trained run whose latest checkpoint embeds.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Embed every utterance of this corpus folder (ids relative to it, as trial lists name them).
    #[arg(long, value_name = "DIR", conflicts_with = "files")]
    pub corpus: Option<PathBuf>,
    /// The corpus folder's layout (default: detected).
    #[arg(long, value_enum, default_value = "auto", requires = "corpus")]
    pub layout: LayoutArg,
    /// Audio files to embed (WAV, FLAC, OGG; resampled to 16 kHz); each file's id is its path as written.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Where to write: `NAME.safetensors` or `NAME.csv`.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Average embeddings of chunks of this many seconds (default: the run's `eval.chunk_seconds`).
    #[arg(long, value_name = "S")]
    pub chunk_seconds: Option<f64>,
    /// Where the model runs: `cpu`, `wgpu:N` or `cuda:N` (`adaptsv devices` lists them).
    #[arg(long, default_value = "cpu", value_name = "cpu|wgpu:N|cuda:N", value_parser = super::device_arg)]
    pub device: crate::device::DeviceChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    Auto,
    Voxceleb,
    Kaldi,
    Folders,
}

impl From<LayoutArg> for CorpusLayout {
    fn from(l: LayoutArg) -> Self {
        match l {
            LayoutArg::Auto => CorpusLayout::Auto,
            LayoutArg::Voxceleb => CorpusLayout::VoxCeleb,
            LayoutArg::Kaldi => CorpusLayout::Kaldi,
            LayoutArg::Folders => CorpusLayout::Folders,
        }
    }
}

/// The output formats, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Safetensors,
    Csv,
}

fn format_of(out: &Path) -> anyhow::Result<Format> {
    match out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("safetensors") => Ok(Format::Safetensors),
        Some("csv") => Ok(Format::Csv),
        _ => bail!("--out {}: name a .safetensors or a .csv file", out.display()),
    }
}

pub fn run(args: &EmbedArgs) -> anyhow::Result<()> {
    // Everything the user typed is checked before the model loads.
    let format = format_of(&args.out)?;
    if let Some(s) = args.chunk_seconds {
        if !(s.is_finite() && s > 0.0) {
            bail!("--chunk-seconds {s}: must be a number of seconds > 0");
        }
    }
    let source = match &args.corpus {
        Some(root) => {
            let corpus = Corpus::index(root, args.layout.into(), None)
                .with_context(|| format!("cannot index the corpus folder {}", root.display()))?;
            AudioSource::Corpus {
                root: corpus.root.clone(),
                utterances: corpus.utterances.into_iter().map(|u| (u.id, u.path)).collect(),
            }
        }
        None if args.files.is_empty() => bail!("give --corpus DIR or one or more audio files to embed"),
        None => {
            if let Some(missing) = args.files.iter().find(|f| !f.is_file()) {
                bail!("{}: no such audio file", missing.display());
            }
            AudioSource::Files(args.files.clone())
        }
    };
    let mut show = super::eval_cmd::progress_printer();
    let result = embed_with_run(&args.run, &source, args.chunk_seconds, args.device, &mut show)?;
    if result.cache.is_none() && args.corpus.is_some() {
        eprintln!(
            "note: {} cannot be written, so these embeddings were not cached there (a rerun starts over)",
            args.run.join(crate::runs::EMBEDDINGS_DIR).display()
        );
    }
    let n = result.embeddings.len();
    let cache = EmbeddingCache {
        dim: result.dim,
        embeddings: result.embeddings,
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match format {
        Format::Safetensors => cache.save(&args.out)?,
        Format::Csv => crate::runs::write_atomic(&args.out, csv(&cache).as_bytes())
            .with_context(|| format!("cannot write {}", args.out.display()))?,
    }
    let chunks = result
        .chunk_seconds
        .map_or("whole utterances".to_string(), |s| format!("mean over {s} s chunks"));
    println!(
        "{n} embeddings of {} dims ({chunks}) from step {} of run {} → {}",
        cache.dim,
        result.step,
        args.run.display(),
        args.out.display()
    );
    Ok(())
}

/// `id,e0,…` then one row per utterance, sorted by id. Ids containing a comma or a quote are quoted.
fn csv(cache: &EmbeddingCache) -> String {
    let mut out = String::from("id");
    for i in 0..cache.dim {
        let _ = write!(out, ",e{i}");
    }
    out.push('\n');
    let mut ids: Vec<&String> = cache.embeddings.keys().collect();
    ids.sort();
    for id in ids {
        if id.contains([',', '"', '\n']) {
            let _ = write!(out, "\"{}\"", id.replace('"', "\"\""));
        } else {
            out.push_str(id);
        }
        for v in &cache.embeddings[id] {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    out
}
