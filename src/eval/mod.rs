//! Speaker-verification evaluation: from trial scores to the numbers and curves a paper reports.
//!
//! The pieces, in the order a run uses them:
//!
//! | module      | job                                                                                  |
//! |-------------|--------------------------------------------------------------------------------------|
//! | [`scores`]  | cosine scoring of a trial list from an embedding map; reading/writing score files     |
//! | [`norm`]    | S-norm and AS-norm (adaptive top-N cohort) score normalisation                        |
//! | [`metrics`] | the error curve of a score set; EER, normalised minDCF, actual DCF and Cllr for LLRs  |
//! | [`calibration`] | scores → LLRs: prior-weighted logistic regression (scale, offset), Cllr, minCllr (PAV), Bayes thresholds |
//! | [`det`]     | DET curve on normal-deviate (probit) axes, NIST ticks, reduction for plotting         |
//! | [`extract`] | embeddings of every utterance a trial list names (whole or chunked), cached per run   |
//! | [`ltas`]    | a model-free baseline embedder (long-term average spectrum), the floor models must beat |
//! | [`trials_eval`] | one evaluation: score a trial list, measure it, write the score file, make the event |
//!
//! Everything here works on plain `f32`/`f64` slices and owns no tensors, so it runs the same in the trainer thread,
//! the CLI and the GUI. All metric conventions (how ties, thresholds and interpolation are handled) are written out
//! in the [`metrics`] module docs; they follow the NIST SRE / WeSpeaker scoring scripts, so the numbers can be put
//! next to published ones.
//!
//! Errors from every part are one [`EvalError`]; its messages name the file, line or utterance involved.

pub mod calibration;
pub mod det;
pub mod extract;
pub mod ltas;
pub mod metrics;
pub mod norm;
pub mod scores;
pub mod trials_eval;

use std::path::PathBuf;

pub use det::{nist_ticks, probit, DetCurve, DetPoint, RATE_FLOOR};
pub use extract::{embed_utterances, EmbedOptions, Embedder, EmbeddingCache};
pub use ltas::LtasEmbedder;
pub use metrics::{
    compute_metrics, llr_metrics, ActDcf, DcfParams, Eer, ErrorCurve, LlrMetrics, Metrics, MinDcf, DEFAULT_P_TARGETS,
};
pub use norm::{CohortStats, Matrix, NormMethod, ScoreNormalizer};
pub use scores::{parse_scores, read_scores, score_trials, write_scores, ScoredTrial};
pub use trials_eval::{evaluate_trials, TrialEval};

/// Everything that can go wrong while scoring, normalising or measuring trials.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A metric was asked of an empty set of trials.
    #[error("no trials to evaluate: the score set is empty (check the trial list and the score file)")]
    NoTrials,

    /// Only non-target trials: miss rates are undefined.
    #[error("no target trials among {n_nontarget} trials: miss rates, EER and DCF need at least one target trial (check the labels)")]
    NoTargets { n_nontarget: usize },

    /// Only target trials: false-alarm rates are undefined.
    #[error("no non-target trials among {n_target} trials: false-alarm rates, EER and DCF need at least one non-target trial (check the labels)")]
    NoNonTargets { n_target: usize },

    /// A score is NaN or infinite; it cannot be ranked.
    #[error("the trial at index {index} (counting from 0) has a non-finite score ({score}); scores must be finite numbers (check the model output)")]
    NonFiniteScore { index: usize, score: f64 },

    /// A DCF operating point with a prior outside (0, 1) or a non-positive cost.
    #[error("invalid DCF parameters p_target={p_target}, c_miss={c_miss}, c_fa={c_fa}: p_target must lie strictly between 0 and 1 and both costs must be positive")]
    InvalidDcfParams { p_target: f64, c_miss: f64, c_fa: f64 },

    /// A score file could not be read or written.
    #[error("cannot {action} score file {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A malformed line in a score file.
    #[error("{path}:{line}: {reason}")]
    ScoreLine { path: PathBuf, line: usize, reason: String },

    /// An utterance id that a score file cannot hold (its fields are whitespace-separated).
    #[error("cannot write score file {path}: utterance id '{id}' is empty or contains whitespace, which the score-file format cannot hold (use ids without spaces, e.g. relative paths without spaces)")]
    IdWithWhitespace { path: PathBuf, id: String },

    /// A trial names an utterance with no embedding.
    #[error("trial {trial} (counting from 0) needs the embedding of '{key}', which is not among the {available} extracted embeddings (re-extract embeddings for this trial list)")]
    MissingEmbedding {
        trial: usize,
        key: String,
        available: usize,
    },

    /// Two embeddings (or an embedding and the cohort) have different dimensions.
    #[error("embedding '{key}' has {found} dimensions but {expected} were expected (were the embeddings made by the same model?)")]
    DimensionMismatch { key: String, expected: usize, found: usize },

    /// An embedding of zero (or non-finite) length: its cosine score is undefined.
    #[error("embedding '{key}' has zero or non-finite norm; its cosine score is undefined (check the extraction of this utterance)")]
    DegenerateEmbedding { key: String },

    /// Rows of different lengths given to [`Matrix::from_rows`].
    #[error("matrix row {row} has {found} values but row 0 has {expected}")]
    RaggedMatrix { row: usize, expected: usize, found: usize },

    /// A cohort with no rows.
    #[error(
        "the score-normalisation cohort is empty; give at least two cohort embeddings (e.g. training-speaker means)"
    )]
    EmptyCohort,

    /// AS-norm top-N outside `2..=cohort size`.
    #[error("AS-norm top-N is {top_n} but must lie between 2 and the cohort size {cohort_size}")]
    InvalidTopN { top_n: usize, cohort_size: usize },

    /// An utterance the embedder needs could not be read.
    #[error("cannot embed '{id}': {source}")]
    Audio {
        id: String,
        #[source]
        source: crate::data::DataError,
    },

    /// The embedder failed on an utterance.
    #[error("the embedder failed on '{id}' ({path}): {message}")]
    Embed { id: String, path: PathBuf, message: String },

    /// An embedding cache file is unreadable or could not be written.
    #[error("embedding cache {path}: {message} (delete the file to re-extract)")]
    Cache { path: PathBuf, message: String },

    /// All top-N cohort scores of an utterance are equal, so their standard deviation is zero.
    #[error("the cohort scores of '{key}' have zero spread, so they cannot normalise its scores (use a larger or more varied cohort)")]
    DegenerateCohortScores { key: String },
}
