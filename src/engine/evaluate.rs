//! Evaluating a run folder: its config rebuilds the model, its latest checkpoint restores what training changed,
//! the trial list (the run's own, or another) is embedded with a cache in `<run>/embeddings/`, scored, measured;
//! the score file goes to `<run>/scores/` and an `eval` event into `metrics.jsonl`, so the GUI shows it like an
//! evaluation made during training.

use super::checkpoint::{latest, Checkpoint};
use super::data_prep::prepare;
use super::embedder::ModelEmbedder;
use super::EngineError;
use crate::config::ScoreNorm;
use crate::data::trials::TrialList;
use crate::data::Corpus;
use crate::eval::{
    embed_utterances, evaluate_trials, write_scores, EmbedOptions, Matrix, NormMethod, ScoreNormalizer, TrialEval,
};
use crate::model::SpeakerModel;
use crate::runs::{append_event, load_dir, CHECKPOINTS_DIR, SCORES_DIR};
use burn::backend::Flex;
use std::path::{Path, PathBuf};

/// What one evaluation of a run produced.
#[derive(Debug, Clone)]
pub struct RunEvaluation {
    pub step: u64,
    pub trials: PathBuf,
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
fn cohort(
    embedder: &mut ModelEmbedder<Flex>,
    config: &crate::config::ExperimentConfig,
    train_root: &Path,
    dir: &Path,
    options: EmbedOptions,
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
    let cache = dir
        .join("embeddings")
        .join(format!("{}-cohort-{}.safetensors", embedder.key, options.key()));
    let embeddings = embed_utterances(embedder, &all, options, Some(&cache), &mut |d, t, eta| {
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

/// Evaluates the latest checkpoint of the run in `dir` on `trials` (default: the run's own trial list), on the CPU.
pub fn evaluate_run(dir: &Path, trials: Option<&Path>, progress: Progress<'_>) -> Result<RunEvaluation, EngineError> {
    let run = load_dir(dir);
    let config = run.config.clone().ok_or_else(|| EngineError::BadRun {
        dir: dir.to_path_buf(),
        reason: format!(
            "its config.toml is unreadable ({})",
            run.damage.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")
        ),
    })?;
    let (step, ckpt_path) =
        latest(&dir.join(CHECKPOINTS_DIR)).ok_or_else(|| EngineError::NoCheckpoint { dir: dir.to_path_buf() })?;
    let checkpoint = Checkpoint::read(&ckpt_path)?;
    let classes = checkpoint
        .shape("classifier.weight")
        .and_then(|s| s.get(1).copied())
        .ok_or_else(|| EngineError::Checkpoint {
            path: ckpt_path.clone(),
            message: "no classifier.weight [E, speakers] in it".into(),
        })?;

    let device = Default::default();
    let model = SpeakerModel::<Flex>::from_config(&config, classes, &device)?;
    let model = checkpoint.load_into(model)?;

    let data = prepare(
        &config,
        dir,
        Some(&mut |done, total| progress("writing the synthetic corpus", done, total, None)),
    )?;
    let trials_path = trials.map(Path::to_path_buf).unwrap_or(data.trials.clone());
    let list = TrialList::read(&trials_path)?;
    let utterances = list.audio_under(&data.eval_root)?;

    let options = EmbedOptions {
        chunk_seconds: config.eval.chunk_seconds,
    };
    let mut embedder = ModelEmbedder {
        model,
        device,
        key: format!("step-{step:08}"),
        dim: config.head.embedding_dim,
    };
    let cache = dir
        .join("embeddings")
        .join(format!("step-{step:08}-{}.safetensors", options.key()));
    let embeddings = embed_utterances(&mut embedder, &utterances, options, Some(&cache), &mut |d, t, eta| {
        progress("extracting embeddings", d, t, eta)
    })?;
    let mut result = evaluate_trials(&list, &embeddings, &config.eval.p_targets, false)?;
    if let Some(method) = norm_method(&config) {
        let cohort = cohort(&mut embedder, &config, &data.train_root, dir, options, progress)?;
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

    let stem = trials_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trials".into());
    let rel = format!("{SCORES_DIR}/{stem}-step{step:08}.txt");
    let scores_file = dir.join(&rel);
    write_scores(&scores_file, &result.scored)?;
    let trials_name = trials_path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let epoch = run.summary.epochs;
    append_event(dir, result.to_event(step, epoch, &trials_name, Some(rel)))?;
    Ok(RunEvaluation {
        step,
        trials: trials_path,
        scores_file,
        result,
    })
}
