//! `adaptsv calibrate`: scores an engineer can threshold. Fits `llr = scale · score + offset` on a held-out
//! calibration list ([`crate::eval::calibration`]), applies it, and reports Cllr before and after, the minimum
//! Cllr, and the Bayes threshold of each target prior on the LLR and on the raw score.
//!
//! Two sources: score files (`--scores CAL [--apply SCORES --out FILE]`, any toolkit's), or a trained run
//! (`--run DIR --trials CAL_LIST [--corpus ROOT]`, [`crate::engine::calibrate`]): the run's latest checkpoint is
//! evaluated on the calibration list (kept as the other list `calibration`), the fit is applied to the run's own
//! latest score file, and the calibrated file and `calibration.json` go into the run folder.

use crate::engine::calibrate::{
    calibrate_run, fit_and_measure, CalibrationRecord as Report, DEFAULT_PRIOR, DEFAULT_THRESHOLD_PRIORS,
};
use crate::eval::read_scores;
use anyhow::bail;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct CalibrateArgs {
    /// Score file of the calibration list (`enroll test score label`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["run", "trials", "corpus"], required_unless_present = "run")]
    pub scores: Option<PathBuf>,
    /// With --scores: a score file to calibrate (default: report on the calibration list itself).
    #[arg(long, value_name = "FILE", requires = "scores")]
    pub apply: Option<PathBuf>,
    /// With --apply: where the calibrated scores (natural-log LLRs) go.
    #[arg(long, value_name = "FILE", requires = "apply")]
    pub out: Option<PathBuf>,
    /// A trained run: its latest checkpoint is evaluated on --trials and calibrates its own list's scores.
    #[arg(long, value_name = "DIR", requires = "trials")]
    pub run: Option<PathBuf>,
    /// With --run: the held-out calibration trial list (not the list being calibrated).
    #[arg(long, value_name = "FILE")]
    pub trials: Option<PathBuf>,
    /// With --run: the folder the calibration list's ids are relative to (default: the run's evaluation root).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// The target prior the fit weights targets and non-targets with (BOSARIS' effective prior).
    #[arg(long, default_value_t = DEFAULT_PRIOR, value_name = "P", value_parser = super::metrics::parse_p_target)]
    pub prior: f64,
    /// Target prior whose Bayes threshold to report; repeat for several (default 0.01 and 0.05).
    #[arg(long = "threshold-prior", value_name = "P", value_parser = super::metrics::parse_p_target)]
    pub threshold_prior: Vec<f64>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// With --run: where the model embeds (`cpu`, `wgpu:N`, `cuda:N`).
    #[arg(long, default_value = "cpu", value_name = "cpu|wgpu:N|cuda:N", value_parser = super::device_arg)]
    pub device: crate::device::DeviceChoice,
}

pub fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    let priors = if args.threshold_prior.is_empty() { DEFAULT_THRESHOLD_PRIORS.to_vec() } else { args.threshold_prior.clone() };
    let report = match (&args.scores, &args.run) {
        (Some(cal), _) => from_files(cal, args.apply.as_deref(), args.out.as_deref(), args.prior, &priors)?,
        (None, Some(dir)) => {
            let Some(trials) = &args.trials else { bail!("--run needs --trials FILE: the held-out calibration list") };
            let mut show = super::eval_cmd::progress_printer();
            calibrate_run(dir, trials, args.corpus.as_deref(), args.device, args.prior, &priors, &mut show)?
        }
        (None, None) => bail!("give --scores FILE (a calibration score file) or --run DIR --trials FILE"),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

fn from_files(cal: &Path, apply: Option<&Path>, out: Option<&Path>, prior: f64, priors: &[f64]) -> anyhow::Result<Report> {
    let cal_scores = read_scores(cal)?;
    match apply {
        Some(path) => {
            let scores = read_scores(path)?;
            fit_and_measure(cal, &cal_scores, (path, &scores), out, prior, priors)
        }
        None => fit_and_measure(cal, &cal_scores, (cal, &cal_scores), None, prior, priors),
    }
}

fn table(r: &Report) -> String {
    let c = r.calibration();
    let mut out = format!(
        "{:<22}llr = {:.6} × score {} {:.6}   (prior {} on {}: {} target, {} non-target)\n",
        "Calibration",
        c.scale,
        if c.offset < 0.0 { "−" } else { "+" },
        c.offset.abs(),
        c.prior,
        r.fitted_on.display(),
        r.n_target,
        r.n_nontarget
    );
    out += &format!("{:<22}{}\n", "Measured on", r.measured_on.display());
    out += &format!("{:<22}{:.4} bits\n{:<22}{:.4} bits\n{:<22}{:.4} bits (the best any monotone calibration reaches)\n",
        "Cllr before", r.cllr_before, "Cllr after", r.cllr_after, "min Cllr", r.min_cllr);
    for t in &r.thresholds {
        out += &format!(
            "{:<22}accept when llr ≥ {:.4} (raw score ≥ {:.6})\n",
            format!("Threshold P = {}", t.p_target),
            t.llr,
            t.score
        );
    }
    if c.scale <= 0.0 {
        out += "Warning               the scale is not positive: on the calibration list higher scores mean *less* \
                likely the same speaker, so the model does not separate its speakers; check the list and the model\n";
    }
    if let Some(w) = &r.calibrated_scores {
        out += &format!("{:<22}{}\n", "Calibrated scores", w.display());
    }
    out
}
