//! Evaluating a speaker model on a trial list: embed every utterance (with a cache in `<run>/embeddings/` when
//! asked), score by cosine, normalise (S-norm / AS-norm as configured), measure, and write the score file into
//! `<run>/scores/`. [`evaluate_model`] is generic over the Burn backend and serves both the training loop (the
//! model in memory, on the training device) and [`evaluate_run`] (`adaptsv eval --run`: a finished run's latest
//! checkpoint, on the device asked for, recorded as an `eval` event so the GUI shows it like one made during
//! training).

use super::checkpoint::{latest, load_run_model, Checkpoint};
use super::data_prep::{prepare, PreparedData};
use super::embedder::ModelEmbedder;
use super::EngineError;
use crate::config::ExperimentConfig;
use crate::config::ScoreNorm;
use crate::data::trials::TrialList;
use crate::data::Corpus;
use crate::eval::{
    embed_utterances, evaluate_trials, write_scores, EmbedOptions, Matrix, NormMethod, ScoreNormalizer, TrialEval,
};
use crate::model::SpeakerModel;
use crate::runs::{append_event, load_dir, LoadedRun, CHECKPOINTS_DIR, SCORES_DIR};
use crate::device::{DeviceChoice, OnBackend};
use burn::tensor::backend::Backend;
use std::path::{Path, PathBuf};

/// What one evaluation of a run produced.
#[derive(Debug, Clone)]
pub struct RunEvaluation {
    pub step: u64,
    pub trials: PathBuf,
    /// The label of a list other than the run's own.
    pub label: Option<String>,
    pub scores_file: PathBuf,
    pub result: TrialEval,
}

/// Progress callback: stage, done, total, seconds left.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize, Option<f64>);

/// Utterances per training speaker averaged into its cohort embedding.
const COHORT_UTTERANCES: usize = 10;

fn norm_method(config: &crate::config::ExperimentConfig) -> Option<NormMethod> {
    match config.eval.score_norm {
        ScoreNorm::None => None,
        ScoreNorm::SNorm => Some(NormMethod::SNorm),
        ScoreNorm::AsNorm => Some(NormMethod::AsNorm {
            top_n: config.eval.cohort_top_n,
        }),
    }
}

/// The score-normalisation cohort: one mean embedding per training speaker (of its first
/// [`COHORT_UTTERANCES`] utterances, each scaled to unit length), extracted with the run's embedding cache.
fn cohort<B: Backend>(
    embedder: &mut ModelEmbedder<B>,
    config: &crate::config::ExperimentConfig,
    train_root: &Path,
    dir: &Path,
    options: EmbedOptions,
    cache_embeddings: bool,
    progress: Progress<'_>,
) -> Result<Matrix, EngineError> {
    let corpus = Corpus::index(train_root, config.data.layout, None)?;
    let mut per_speaker: Vec<Vec<(String, PathBuf)>> = vec![Vec::new(); corpus.speakers.len()];
    for u in &corpus.utterances {
        if per_speaker[u.speaker].len() < COHORT_UTTERANCES {
            per_speaker[u.speaker].push((u.id.clone(), u.path.clone()));
        }
    }
    let all: Vec<(String, PathBuf)> = per_speaker.iter().flatten().cloned().collect();
    let cache = embedder.cache_file(dir, "cohort", options);
    let cache = cache_embeddings.then_some(cache.as_path());
    let embeddings = embed_utterances(embedder, &all, options, cache, &mut |d, t, eta| {
        progress("embedding the cohort", d, t, eta)
    })?;
    let means: Vec<Vec<f32>> = per_speaker
        .iter()
        .filter(|utts| !utts.is_empty())
        .map(|utts| {
            let mut mean = vec![0.0f32; embedder.dim];
            for (id, _) in utts {
                let e = &embeddings[id];
                let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                mean.iter_mut().zip(e).for_each(|(m, x)| *m += x / norm);
            }
            mean
        })
        .collect();
    Ok(Matrix::from_rows(&means)?)
}

/// Where an evaluation reads its audio and writes its results.
pub struct EvalTarget<'a> {
    /// The run folder (score files, embedding caches).
    pub dir: &'a Path,
    /// The run's data (its training corpus gives the score-normalisation cohort).
    pub data: &'a PreparedData,
    /// The trial list and the root its utterance ids are relative to.
    pub trials: &'a Path,
    pub eval_root: &'a Path,
    /// The label of a list other than the run's own (`None`: the run's own); it names the score and cache files.
    pub list: Option<&'a str>,
    /// Cache embeddings in `<run>/embeddings/`, keyed by step and trial list (off for a model still training).
    pub cache: bool,
}

/// Evaluates `model` on a trial list: embeddings, cosine scores, the configured normalisation, metrics and the
/// score file `<run>/scores/<trials>-step<step>.txt`. Returns the result and the score file relative to the run.
pub fn evaluate_model<B: Backend>(
    model: SpeakerModel<B>,
    device: &B::Device,
    config: &ExperimentConfig,
    target: &EvalTarget<'_>,
    step: u64,
    progress: Progress<'_>,
) -> Result<(TrialEval, String), EngineError> {
    let list = TrialList::read(target.trials)?;
    let utterances = list.audio_under(target.eval_root)?;
    let options = EmbedOptions {
        chunk_seconds: config.eval.chunk_seconds,
    };
    let mut embedder = ModelEmbedder::new(model, device.clone(), step, config.head.embedding_dim);
    let stem = match target.list {
        None => target
            .trials
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "trials".into()),
        Some(label) => list_file_key(label),
    };
    let cache = embedder.cache_file(target.dir, &stem, options);
    let cache = target.cache.then_some(cache.as_path());
    let embeddings = embed_utterances(&mut embedder, &utterances, options, cache, &mut |d, t, eta| {
        progress("extracting embeddings", d, t, eta)
    })?;
    let mut result = evaluate_trials(&list, &embeddings, &config.eval.p_targets, false)?;
    if let Some(method) = norm_method(config) {
        let cohort = cohort(
            &mut embedder,
            config,
            &target.data.train_root,
            target.dir,
            options,
            target.cache,
            progress,
        )?;
        let method = match method {
            NormMethod::AsNorm { top_n } => NormMethod::AsNorm {
                top_n: top_n.min(cohort.rows()),
            },
            m => m,
        };
        let normalizer = ScoreNormalizer::new(&cohort, method)?;
        let scored = normalizer.normalize_trials(&result.scored, &embeddings)?;
        result = TrialEval::from_scored(scored, &config.eval.p_targets)?;
    }
    let rel = format!("{SCORES_DIR}/{stem}-step{step:08}.txt");
    write_scores(&target.dir.join(&rel), &result.scored)?;
    Ok((result, rel))
}

/// The part of score and embedding-cache file names that stands for the trial list labelled `label`: its
/// letters, digits and `-` (runs of others become one `_`; the last 40 characters of a long label) and a hash of the whole label, so that two lists never share
/// a file even when their files have one name (`vox1/E/trials.txt`, `vox1/H/trials.txt`) or their labels differ
/// only in punctuation.
pub fn list_file_key(label: &str) -> String {
    let mut safe = String::new();
    for c in label.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' };
        if !(c == '_' && safe.ends_with('_')) {
            safe.push(c);
        }
    }
    // The end of a long path says most (`…/vox1/E/trials`).
    let safe = safe.trim_matches('_');
    let safe = &safe[safe.len().saturating_sub(40)..];
    // FNV-1a: stable across Rust versions and machines, unlike `DefaultHasher`.
    let hash = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    format!("list-{safe}-{:08x}", hash as u32)
}

/// Another corpus and trial list to evaluate a run on (an engineer's own data).
#[derive(Debug, Clone, Default)]
pub struct EvalData {
    /// A trial list other than the run's own.
    pub trials: Option<PathBuf>,
    /// Its label in the run's summary, Compare and `adaptsv runs` (default: the path as given).
    pub label: Option<String>,
    /// The root the trial list's utterance ids are relative to (default: the run's evaluation root).
    pub corpus: Option<PathBuf>,
}

/// A run's model at its latest checkpoint, on the device it was loaded to.
pub struct RunModel<B: Backend> {
    pub config: crate::config::ValidConfig,
    pub step: u64,
    pub model: SpeakerModel<B>,
}

/// Rebuilds the model of the run in `dir` (already loaded as `run`) at its latest checkpoint on `device`, whatever
/// its status: checkpoints are written atomically, so a running run's newest one is whole.
pub fn load_latest<B: Backend>(dir: &Path, run: &LoadedRun, device: &B::Device) -> Result<RunModel<B>, EngineError> {
    let config = super::run_config(dir, run)?;
    let checkpoints = dir.join(CHECKPOINTS_DIR);
    let (step, ckpt_path) = latest(&checkpoints).ok_or_else(|| EngineError::NoCheckpoint { dir: dir.to_path_buf() })?;
    let checkpoint = Checkpoint::read(&ckpt_path)?;
    let classes = checkpoint
        .shape("classifier.weight")
        .and_then(|s| s.get(1).copied())
        .ok_or_else(|| EngineError::Checkpoint {
            path: ckpt_path.clone(),
            message: "no classifier.weight [E, speakers] in it".into(),
        })?;
    let model = load_run_model::<B>(&config, &checkpoints, &checkpoint, classes, device)?;
    Ok(RunModel { config, step, model })
}

/// Evaluates the latest checkpoint of the run in `dir` on `device` (probed first), on its own trial list or on
/// `other`, and records the result as an `eval` event. A running run is refused (its own process evaluates it).
pub fn evaluate_run(
    dir: &Path,
    other: &EvalData,
    device: DeviceChoice,
    progress: Progress<'_>,
) -> Result<RunEvaluation, EngineError> {
    let run = load_dir(dir);
    if run.status == crate::runs::RunStatus::Running {
        return Err(EngineError::BadRun {
            dir: dir.to_path_buf(),
            reason: "it is still running; it evaluates itself every `eval.every_epochs` epochs".into(),
        });
    }
    crate::device::probe(device)?;
    crate::device::run_on(device, EvaluateRun { dir, other, run, progress })?
}

/// [`evaluate_run`]'s work once the device is known.
struct EvaluateRun<'a, 'p> {
    dir: &'a Path,
    other: &'a EvalData,
    run: LoadedRun,
    progress: Progress<'p>,
}

impl OnBackend for EvaluateRun<'_, '_> {
    type Output = Result<RunEvaluation, EngineError>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let EvaluateRun { dir, other, run, progress } = self;
        let RunModel { config, step, model } = load_latest::<B>(dir, &run, &device)?;

    let data = prepare(
        &config,
        dir,
        Some(&mut |done, total| progress("writing the synthetic corpus", done, total, None)),
    )?;
    let trials_path = other.trials.clone().unwrap_or(data.trials.clone());
    let eval_root = other.corpus.clone().unwrap_or(data.eval_root.clone());
    let label = other
        .trials
        .as_ref()
        .map(|t| other.label.clone().unwrap_or_else(|| t.display().to_string()));
    let target = EvalTarget {
        dir,
        data: &data,
        trials: &trials_path,
        eval_root: &eval_root,
        list: label.as_deref(),
        cache: true,
    };
    let (result, rel) = evaluate_model(model, &device, &config, &target, step, progress)?;
    let trials_name = trials_path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    append_event(
        dir,
        result.to_event(step, run.summary.epochs, &trials_name, label.clone(), Some(rel.clone())),
    )?;
    Ok(RunEvaluation {
        step,
        trials: trials_path,
        label,
        scores_file: dir.join(rel),
        result,
    })
}
}

#[cfg(test)]
mod tests {
    use super::list_file_key;

    #[test]
    fn list_file_keys_are_file_safe_and_never_shared() {
        assert!(list_file_key("vox1-E").starts_with("list-vox1-E-"));
        assert!(list_file_key("other (training)").starts_with("list-other_training-"));
        let (e, h) = (list_file_key("/data/vox1/E/trials.txt"), list_file_key("/data/vox1/H/trials.txt"));
        assert!(e.starts_with("list-data_vox1_E_trials_txt-"), "{e}");
        assert_ne!(e, h);
        assert_ne!(list_file_key("a b"), list_file_key("a_b"));
        assert!(list_file_key(&"x".repeat(300)).len() < 60);
    }
}
