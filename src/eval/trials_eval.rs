//! One evaluation of a trial list: cosine scores from embeddings (optionally after subtracting the mean
//! embedding, WeSpeaker's `cal_mean`), EER and minDCF, a DET curve reduced for plotting, the score file, and
//! the `eval` event that the run folder and the GUI record.

use super::{compute_metrics, score_trials, DetCurve, ErrorCurve, EvalError, Metrics, ScoredTrial};
use crate::data::trials::TrialList;
use crate::runs::RunEvent;
use std::collections::{BTreeMap, HashMap};

/// DET points kept for plotting (and for the `eval` event).
pub const DET_POINTS: usize = 300;

/// The outcome of scoring one trial list.
#[derive(Debug, Clone)]
pub struct TrialEval {
    pub scored: Vec<ScoredTrial>,
    pub metrics: Metrics,
    /// Reduced to at most [`DET_POINTS`] points, extremes and EER point kept.
    pub det: DetCurve,
}

/// Scores every trial of `trials` by cosine similarity and measures the result.
pub fn evaluate_trials(
    trials: &TrialList,
    embeddings: &HashMap<String, Vec<f32>>,
    p_targets: &[f64],
    subtract_mean: bool,
) -> Result<TrialEval, EvalError> {
    let centred;
    let embeddings = if subtract_mean {
        centred = centre(embeddings);
        &centred
    } else {
        embeddings
    };
    let scored = score_trials(
        trials
            .trials
            .iter()
            .map(|t| (t.enroll.as_str(), t.test.as_str(), t.target)),
        embeddings,
    )?;
    TrialEval::from_scored(scored, p_targets)
}

/// Subtracts the mean of all embeddings from each.
fn centre(embeddings: &HashMap<String, Vec<f32>>) -> HashMap<String, Vec<f32>> {
    let dim = embeddings.values().next().map_or(0, |e| e.len());
    let mut mean = vec![0.0f64; dim];
    for e in embeddings.values() {
        for (m, v) in mean.iter_mut().zip(e) {
            *m += f64::from(*v);
        }
    }
    let n = embeddings.len().max(1) as f64;
    embeddings
        .iter()
        .map(|(k, e)| {
            (
                k.clone(),
                e.iter()
                    .zip(&mean)
                    .map(|(v, m)| (f64::from(*v) - m / n) as f32)
                    .collect(),
            )
        })
        .collect()
}

impl TrialEval {
    /// Measures already scored trials (e.g. after score normalisation).
    pub fn from_scored(scored: Vec<ScoredTrial>, p_targets: &[f64]) -> Result<Self, EvalError> {
        let metrics = compute_metrics(scored.iter().map(ScoredTrial::pair), p_targets)?;
        let det = DetCurve::from_curve(&ErrorCurve::new(scored.iter().map(ScoredTrial::pair))?).reduced(DET_POINTS);
        Ok(TrialEval { scored, metrics, det })
    }

    /// The `eval` event of this evaluation (EER as a fraction, minDCF keyed by p_target as written).
    /// `list`: the label of a trial list other than the run's own (`None` for the run's own).
    pub fn to_event(
        &self,
        step: u64,
        epoch: f64,
        trials_name: &str,
        list: Option<String>,
        scores_file: Option<String>,
    ) -> RunEvent {
        let min_dcf: BTreeMap<String, f64> = self
            .metrics
            .min_dcf
            .iter()
            .map(|m| (format!("{}", m.params.p_target), m.value))
            .collect();
        RunEvent::Eval {
            step,
            epoch,
            trials: trials_name.to_string(),
            list,
            n_target: self.metrics.n_target as u64,
            n_nontarget: self.metrics.n_nontarget as u64,
            eer: self.metrics.eer.rate,
            min_dcf,
            det: self.det.points().iter().map(|p| [p.p_fa, p.p_miss]).collect(),
            scores_file,
        }
    }
}
