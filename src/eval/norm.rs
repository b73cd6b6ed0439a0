//! Score normalisation against a cohort: S-norm and adaptive S-norm (AS-norm).
//!
//! Raw cosine scores drift with each utterance (some voices score high against everyone). Normalisation compares
//! each side of a trial with a cohort of impostors, e.g. the mean embeddings of the training speakers, and
//! measures the trial score in units of that spread:
//!
//! ```text
//! s' = ½ · ( (s − μ_e) / σ_e + (s − μ_t) / σ_t )
//! ```
//!
//! where `μ_e, σ_e` are the mean and (population) standard deviation of the enrolment utterance's cosine scores
//! against the cohort and `μ_t, σ_t` those of the test utterance. S-norm uses the whole cohort; AS-norm only the
//! `top_n` highest cohort scores of each utterance (its closest impostors). This follows WeSpeaker's
//! `wespeaker/utils/score_norm.py`.
//!
//! The cohort statistics of each utterance are computed once ([`ScoreNormalizer::stats`], O(cohort · dim)) and
//! reused by every trial that utterance appears in; the top-N selection is a linear-time partial sort.
//! Embeddings are plain `f32` rows ([`Matrix`], row-major `[rows, cols]`).

use std::collections::HashMap;

use super::scores::ScoredTrial;
use super::EvalError;

/// A dense row-major `f32` matrix, shape `[rows, cols]`: one embedding per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// An empty matrix whose rows will have `cols` values.
    pub fn with_cols(cols: usize) -> Self {
        Self {
            rows: 0,
            cols,
            data: Vec::new(),
        }
    }

    /// Stacks equally long rows; fails on ragged input.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self, EvalError> {
        let cols = rows.first().map_or(0, Vec::len);
        let mut matrix = Self::with_cols(cols);
        matrix.data.reserve(rows.len() * cols);
        for (row, values) in rows.iter().enumerate() {
            if values.len() != cols {
                return Err(EvalError::RaggedMatrix {
                    row,
                    expected: cols,
                    found: values.len(),
                });
            }
            matrix.push_row(values);
        }
        Ok(matrix)
    }

    /// Appends a row; the caller guarantees `values.len() == self.cols()`.
    fn push_row(&mut self, values: &[f32]) {
        debug_assert_eq!(values.len(), self.cols);
        self.data.extend_from_slice(values);
        self.rows += 1;
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `i`, `cols` values. Panics if `i >= rows` (an index, never user input).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Iterator over the rows.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f32]> {
        // `max(1)`: chunks_exact(0) panics; a zero-column matrix has no data to iterate anyway.
        self.data.chunks_exact(self.cols.max(1))
    }

    /// Appends `values` scaled to unit length, so dot products of rows are cosine similarities.
    ///
    /// `key` names the embedding in errors. Fails on a dimension mismatch or a zero/non-finite norm.
    pub(crate) fn push_unit_row(&mut self, key: &str, values: &[f32]) -> Result<(), EvalError> {
        if values.len() != self.cols {
            return Err(EvalError::DimensionMismatch {
                key: key.to_owned(),
                expected: self.cols,
                found: values.len(),
            });
        }
        let norm = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(EvalError::DegenerateEmbedding { key: key.to_owned() });
        }
        let scale = (1.0 / norm) as f32;
        self.data.extend(values.iter().map(|&v| v * scale));
        self.rows += 1;
        Ok(())
    }
}

/// Dot product of two equally long `f32` slices, accumulated in eight lanes so the compiler vectorises it.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Which normalisation to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormMethod {
    /// Symmetric normalisation against the whole cohort.
    SNorm,
    /// Adaptive S-norm against each utterance's `top_n` highest-scoring cohort members.
    AsNorm { top_n: usize },
}

/// Mean and population standard deviation of one utterance's (top-N) cohort scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CohortStats {
    /// Mean cohort score.
    pub mean: f64,
    /// Population standard deviation of the cohort scores (divides by N, as NumPy's `std`); positive.
    pub std: f64,
}

impl CohortStats {
    /// Statistics of the `top_n` highest of `scores` (all of them when `top_n >= scores.len()`).
    ///
    /// Reorders `scores`. Returns `None` when fewer than two scores are used or their spread is zero or not finite,
    /// since such statistics cannot normalise anything.
    pub fn from_scores(scores: &mut [f32], top_n: usize) -> Option<Self> {
        let n = top_n.min(scores.len());
        if n < 2 {
            return None;
        }
        if n < scores.len() {
            // Highest n first, in linear time; their order among themselves does not matter.
            scores.select_nth_unstable_by(n - 1, |a, b| b.total_cmp(a));
        }
        let top = &scores[..n];
        let mean = top.iter().map(|&s| f64::from(s)).sum::<f64>() / n as f64;
        let var = top.iter().map(|&s| (f64::from(s) - mean).powi(2)).sum::<f64>() / n as f64;
        let std = var.sqrt();
        (std.is_finite() && std > 0.0).then_some(Self { mean, std })
    }

    /// The z-score of `score` against these statistics.
    pub fn z(&self, score: f64) -> f64 {
        (score - self.mean) / self.std
    }
}

/// Normalises cosine scores against a fixed cohort; see the module docs for the formula.
#[derive(Debug, Clone)]
pub struct ScoreNormalizer {
    /// Cohort embeddings scaled to unit length, `[cohort size, dim]`.
    cohort: Matrix,
    /// Number of highest cohort scores used per utterance (the whole cohort for S-norm).
    top_n: usize,
}

impl ScoreNormalizer {
    /// Prepares `cohort` (`[cohort size, dim]`, e.g. one mean embedding per training speaker) for `method`.
    ///
    /// Fails on an empty cohort, a cohort row of zero length, or an AS-norm `top_n` outside `2..=cohort size`.
    pub fn new(cohort: &Matrix, method: NormMethod) -> Result<Self, EvalError> {
        let size = cohort.rows();
        if size == 0 {
            return Err(EvalError::EmptyCohort);
        }
        let top_n = match method {
            NormMethod::SNorm => size,
            NormMethod::AsNorm { top_n } => top_n,
        };
        if !(2..=size).contains(&top_n) {
            return Err(EvalError::InvalidTopN {
                top_n,
                cohort_size: size,
            });
        }
        let mut unit = Matrix::with_cols(cohort.cols());
        for (i, row) in cohort.iter_rows().enumerate() {
            unit.push_unit_row(&format!("cohort row {i}"), row)?;
        }
        Ok(Self { cohort: unit, top_n })
    }

    /// Cohort size.
    pub fn cohort_size(&self) -> usize {
        self.cohort.rows()
    }

    /// Number of highest cohort scores each utterance is normalised by.
    pub fn top_n(&self) -> usize {
        self.top_n
    }

    /// Cohort statistics of one utterance's embedding (`[dim]`); `key` names it in errors.
    pub fn stats(&self, key: &str, embedding: &[f32]) -> Result<CohortStats, EvalError> {
        let mut unit = Matrix::with_cols(self.cohort.cols());
        unit.push_unit_row(key, embedding)?;
        let query = unit.row(0);
        let mut scores: Vec<f32> = self.cohort.iter_rows().map(|c| dot(query, c)).collect();
        CohortStats::from_scores(&mut scores, self.top_n)
            .ok_or_else(|| EvalError::DegenerateCohortScores { key: key.to_owned() })
    }

    /// The normalised score of a trial whose raw score is `score`.
    pub fn normalize(score: f64, enroll: &CohortStats, test: &CohortStats) -> f64 {
        0.5 * (enroll.z(score) + test.z(score))
    }

    /// Normalises every trial's score (raw cosine scores, e.g. from [`super::score_trials`]).
    ///
    /// Cohort statistics are computed once per distinct utterance. Fails if an utterance has no embedding.
    pub fn normalize_trials(
        &self,
        trials: &[ScoredTrial],
        embeddings: &HashMap<String, Vec<f32>>,
    ) -> Result<Vec<ScoredTrial>, EvalError> {
        let mut stats: HashMap<&str, CohortStats> = HashMap::new();
        let mut normalized = Vec::with_capacity(trials.len());
        for (index, trial) in trials.iter().enumerate() {
            let mut lookup = |key: &str| -> Result<CohortStats, EvalError> {
                if let Some(s) = stats.get(key) {
                    return Ok(*s);
                }
                let (key, embedding) = embeddings
                    .get_key_value(key)
                    .ok_or_else(|| EvalError::MissingEmbedding {
                        trial: index,
                        key: key.to_owned(),
                        available: embeddings.len(),
                    })?;
                let s = self.stats(key, embedding)?;
                stats.insert(key.as_str(), s);
                Ok(s)
            };
            let (enroll, test) = (lookup(&trial.enroll)?, lookup(&trial.test)?);
            normalized.push(ScoredTrial {
                score: Self::normalize(trial.score, &enroll, &test),
                ..trial.clone()
            });
        }
        Ok(normalized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum_for_any_length() {
        for len in [0, 1, 7, 8, 9, 31] {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..len).map(|i| 1.0 - i as f32 * 0.25).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "len {len}");
        }
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let err = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
        assert!(matches!(
            err,
            EvalError::RaggedMatrix {
                row: 1,
                expected: 2,
                found: 1
            }
        ));
    }

    #[test]
    fn cohort_stats_use_the_highest_scores() {
        let mut scores = [0.1, 0.9, 0.3, 0.7, 0.5];
        let top2 = CohortStats::from_scores(&mut scores, 2).unwrap();
        assert!((top2.mean - 0.8).abs() < 1e-7);
        assert!((top2.std - 0.1).abs() < 1e-7);
        assert_eq!(CohortStats::from_scores(&mut [0.5, 0.5, 0.5], 3), None);
        assert_eq!(CohortStats::from_scores(&mut [0.5, 0.7], 1), None);
    }

    #[test]
    fn invalid_cohorts_are_rejected() {
        let empty = Matrix::with_cols(4);
        assert!(matches!(
            ScoreNormalizer::new(&empty, NormMethod::SNorm),
            Err(EvalError::EmptyCohort)
        ));
        let two = Matrix::from_rows(&[vec![1.0, 0.0], vec![0.0, 1.0]]).unwrap();
        let too_many = ScoreNormalizer::new(&two, NormMethod::AsNorm { top_n: 3 });
        assert!(matches!(
            too_many,
            Err(EvalError::InvalidTopN {
                top_n: 3,
                cohort_size: 2
            })
        ));
        let zero_row = Matrix::from_rows(&[vec![1.0, 0.0], vec![0.0, 0.0]]).unwrap();
        assert!(matches!(
            ScoreNormalizer::new(&zero_row, NormMethod::SNorm),
            Err(EvalError::DegenerateEmbedding { .. })
        ));
    }
}
