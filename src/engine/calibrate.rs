//! Score calibration of a trained run (`adaptsv calibrate --run`, the Monitor's "Calibrate"): the run's latest
//! checkpoint is evaluated on a held-out calibration list (kept as its other list `calibration`), a logistic
//! regression `llr = scale · score + offset` is fitted on those scores ([`crate::eval::calibration`]) and applied
//! to the run's own list's latest scores, written beside them as `<name>-calibrated.txt`; what was fitted and
//! measured goes to `<run>/calibration.json` ([`CalibrationRecord`]), which the app shows beside the run's
//! evaluations.

use super::evaluate::{evaluate_run, EvalData, Progress};
use crate::device::DeviceChoice;
use crate::eval::calibration::{bayes_threshold, cllr, min_cllr, Calibration};
use crate::eval::{read_scores, write_scores, ScoredTrial};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The target prior a fit weights trials with unless told otherwise (BOSARIS' effective prior 0.5).
pub const DEFAULT_PRIOR: f64 = 0.5;
/// The target priors whose Bayes thresholds are reported unless others are asked for.
pub const DEFAULT_THRESHOLD_PRIORS: [f64; 2] = [0.01, 0.05];

/// Where a run's calibration is recorded.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// A Bayes decision threshold for one target prior, on the LLR and on the raw score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub p_target: f64,
    pub llr: f64,
    pub score: f64,
}

/// What was fitted and measured (`calibration.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRecord {
    /// The prior the fit weighted targets and non-targets with.
    pub prior: f64,
    pub scale: f64,
    pub offset: f64,
    /// The calibration list's score file.
    pub fitted_on: PathBuf,
    pub n_target: usize,
    pub n_nontarget: usize,
    /// The score file the figures below are of.
    pub measured_on: PathBuf,
    /// Where its calibrated scores (natural-log LLRs) went.
    pub calibrated_scores: Option<PathBuf>,
    /// Cllr (bits) of the raw scores read as LLRs, of the calibrated ones, and the best any monotone map reaches.
    pub cllr_before: f64,
    pub cllr_after: f64,
    pub min_cllr: f64,
    pub thresholds: Vec<Threshold>,
}

impl CalibrationRecord {
    /// The fit as a [`Calibration`].
    pub fn calibration(&self) -> Calibration {
        Calibration {
            scale: self.scale,
            offset: self.offset,
            prior: self.prior,
        }
    }
}

fn pairs(trials: &[ScoredTrial]) -> impl Iterator<Item = (f64, bool)> + '_ {
    trials.iter().map(|t| (t.score, t.is_target))
}

/// Fits on `cal` (the scores of `cal_path`), calibrates `target`'s scores (written to `out` if given) and
/// measures them, with the Bayes thresholds of `threshold_priors`.
pub fn fit_and_measure(
    cal_path: &Path,
    cal: &[ScoredTrial],
    target: (&Path, &[ScoredTrial]),
    out: Option<&Path>,
    prior: f64,
    threshold_priors: &[f64],
) -> anyhow::Result<CalibrationRecord> {
    let c = Calibration::fit(pairs(cal), prior).with_context(|| format!("fitting on {}", cal_path.display()))?;
    let (path, scores) = target;
    let calibrated: Vec<ScoredTrial> = scores
        .iter()
        .map(|t| ScoredTrial {
            score: c.llr(t.score),
            ..t.clone()
        })
        .collect();
    if let Some(out) = out {
        write_scores(out, &calibrated)?;
    }
    Ok(CalibrationRecord {
        prior: c.prior,
        scale: c.scale,
        offset: c.offset,
        fitted_on: cal_path.to_path_buf(),
        n_target: cal.iter().filter(|t| t.is_target).count(),
        n_nontarget: cal.iter().filter(|t| !t.is_target).count(),
        measured_on: path.to_path_buf(),
        calibrated_scores: out.map(Path::to_path_buf),
        cllr_before: cllr(pairs(scores))?,
        cllr_after: cllr(pairs(&calibrated))?,
        min_cllr: min_cllr(pairs(scores))?,
        thresholds: threshold_priors
            .iter()
            .map(|&p| Threshold {
                p_target: p,
                llr: bayes_threshold(p),
                score: c.score_threshold(p),
            })
            .collect(),
    })
}

/// Calibrates a trained run with the held-out list `trials` (ids relative to `corpus`, or the run's evaluation
/// root), embedding on `device`; writes the calibrated scores and `calibration.json` into the run folder.
pub fn calibrate_run(
    dir: &Path,
    trials: &Path,
    corpus: Option<&Path>,
    device: DeviceChoice,
    prior: f64,
    threshold_priors: &[f64],
    progress: Progress<'_>,
) -> anyhow::Result<CalibrationRecord> {
    // The run's own list, as last evaluated: the scores to calibrate.
    let run = crate::runs::load_dir(dir);
    let own = run.events.iter().rev().find_map(|r| match &r.event {
        crate::runs::RunEvent::Eval {
            list: None,
            scores_file: Some(f),
            step,
            ..
        } => Some((*step, f.clone())),
        _ => None,
    });
    let Some((own_step, own_file)) = own else {
        bail!(
            "{} has no evaluation of its own trial list yet: run `adaptsv eval --run {}` first",
            dir.display(),
            dir.display()
        )
    };
    let other = EvalData {
        trials: Some(trials.to_path_buf()),
        label: Some("calibration".into()),
        corpus: corpus.map(Path::to_path_buf),
    };
    let cal = evaluate_run(dir, &other, device, progress)?;
    if cal.step != own_step {
        bail!(
            "the run's own list was last scored at step {own_step}, its latest checkpoint is step {}: run `adaptsv \
             eval --run {}` first so both lists are scored by the same model",
            cal.step,
            dir.display()
        );
    }
    let own_path = dir.join(&own_file);
    let own_scores = read_scores(&own_path)?;
    let cal_scores = read_scores(&cal.scores_file)?;
    let out = own_path.with_file_name(format!(
        "{}-calibrated.txt",
        own_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let record = fit_and_measure(
        &cal.scores_file,
        &cal_scores,
        (&own_path, &own_scores),
        Some(&out),
        prior,
        threshold_priors,
    )?;
    let path = dir.join(CALIBRATION_FILE);
    let text = serde_json::to_string_pretty(&record).expect("a calibration record serialises");
    crate::runs::write_atomic(&path, format!("{text}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(record)
}

/// The run's `calibration.json`, if it has one; an unreadable one is an error naming the file.
pub fn read_record(dir: &Path) -> anyhow::Result<Option<CalibrationRecord>> {
    let path = dir.join(CALIBRATION_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
