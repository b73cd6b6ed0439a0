//! `adaptsv calibrate`: scores an engineer can threshold. Fits `llr = scale · score + offset` on a held-out
//! calibration list ([`crate::eval::calibration`]), applies it, and reports Cllr before and after, the minimum
//! Cllr, and the Bayes threshold of each target prior on the LLR and on the raw score.
//!
//! Two sources: score files (`--scores CAL [--apply SCORES --out FILE]`, any toolkit's), or a trained run
//! (`--run DIR --trials CAL_LIST [--corpus ROOT]`): the run's latest checkpoint is evaluated on the calibration
//! list (kept as the other list `calibration`), the fit is applied to the run's own latest score file, and the
//! calibrated file and `calibration.json` go into the run folder.

use crate::eval::calibration::{bayes_threshold, cllr, min_cllr, Calibration};
use crate::eval::{read_scores, write_scores, ScoredTrial};
use anyhow::{bail, Context};
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
    #[arg(long, default_value_t = 0.5, value_name = "P", value_parser = super::metrics::parse_p_target)]
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

/// What was fitted and measured.
struct Report {
    calibration: Calibration,
    fitted_on: PathBuf,
    n_target: usize,
    n_nontarget: usize,
    /// The list the figures below are of, and where its calibrated scores went.
    measured_on: PathBuf,
    written: Option<PathBuf>,
    cllr_before: f64,
    cllr_after: f64,
    min_cllr: f64,
    thresholds: Vec<f64>,
}

pub fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    let priors = if args.threshold_prior.is_empty() { vec![0.01, 0.05] } else { args.threshold_prior.clone() };
    let report = match (&args.scores, &args.run) {
        (Some(cal), _) => from_files(cal, args.apply.as_deref(), args.out.as_deref(), args.prior, priors)?,
        (None, Some(dir)) => from_run(dir, args, priors)?,
        (None, None) => bail!("give --scores FILE (a calibration score file) or --run DIR --trials FILE"),
    };
    if args.json {
        println!("{}", json(&report));
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

fn pairs(trials: &[ScoredTrial]) -> impl Iterator<Item = (f64, bool)> + '_ {
    trials.iter().map(|t| (t.score, t.is_target))
}

fn fit_and_measure(
    cal_path: &Path,
    cal: &[ScoredTrial],
    target: (&Path, &[ScoredTrial]),
    out: Option<&Path>,
    prior: f64,
    threshold_priors: Vec<f64>,
) -> anyhow::Result<Report> {
    let calibration = Calibration::fit(pairs(cal), prior).with_context(|| format!("fitting on {}", cal_path.display()))?;
    let (path, scores) = target;
    let calibrated: Vec<ScoredTrial> =
        scores.iter().map(|t| ScoredTrial { score: calibration.llr(t.score), ..t.clone() }).collect();
    if let Some(out) = out {
        write_scores(out, &calibrated)?;
    }
    Ok(Report {
        calibration,
        fitted_on: cal_path.to_path_buf(),
        n_target: cal.iter().filter(|t| t.is_target).count(),
        n_nontarget: cal.iter().filter(|t| !t.is_target).count(),
        measured_on: path.to_path_buf(),
        written: out.map(Path::to_path_buf),
        cllr_before: cllr(pairs(scores))?,
        cllr_after: cllr(pairs(&calibrated))?,
        min_cllr: min_cllr(pairs(scores))?,
        thresholds: threshold_priors,
    })
}

fn from_files(cal: &Path, apply: Option<&Path>, out: Option<&Path>, prior: f64, priors: Vec<f64>) -> anyhow::Result<Report> {
    let cal_scores = read_scores(cal)?;
    match apply {
        Some(path) => {
            let scores = read_scores(path)?;
            fit_and_measure(cal, &cal_scores, (path, &scores), out, prior, priors)
        }
        None => fit_and_measure(cal, &cal_scores, (cal, &cal_scores), None, prior, priors),
    }
}

fn from_run(dir: &Path, args: &CalibrateArgs, priors: Vec<f64>) -> anyhow::Result<Report> {
    let Some(trials) = &args.trials else { bail!("--run needs --trials FILE: the held-out calibration list") };
    // The run's own list, as last evaluated: the scores to calibrate.
    let run = crate::runs::load_dir(dir);
    let own = run.events.iter().rev().find_map(|r| match &r.event {
        crate::runs::RunEvent::Eval { list: None, scores_file: Some(f), step, .. } => Some((*step, f.clone())),
        _ => None,
    });
    let Some((own_step, own_file)) = own else {
        bail!("{} has no evaluation of its own trial list yet: run `adaptsv eval --run {}` first", dir.display(), dir.display())
    };
    let other = crate::engine::evaluate::EvalData {
        trials: Some(trials.clone()),
        label: Some("calibration".into()),
        corpus: args.corpus.clone(),
    };
    let mut show = super::eval_cmd::progress_printer();
    let cal = crate::engine::evaluate::evaluate_run(dir, &other, args.device, &mut show)?;
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
        own_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let report = fit_and_measure(&cal.scores_file, &cal_scores, (&own_path, &own_scores), Some(&out), args.prior, priors)?;
    let record = json(&report);
    crate::runs::write_atomic(&dir.join("calibration.json"), format!("{record:#}\n").as_bytes())
        .with_context(|| format!("writing {}", dir.join("calibration.json").display()))?;
    Ok(report)
}

fn json(r: &Report) -> serde_json::Value {
    let c = &r.calibration;
    serde_json::json!({
        "prior": c.prior,
        "scale": c.scale,
        "offset": c.offset,
        "fitted_on": r.fitted_on,
        "n_target": r.n_target,
        "n_nontarget": r.n_nontarget,
        "measured_on": r.measured_on,
        "calibrated_scores": r.written,
        "cllr_before": r.cllr_before,
        "cllr_after": r.cllr_after,
        "min_cllr": r.min_cllr,
        "thresholds": r.thresholds.iter().map(|&p| serde_json::json!({
            "p_target": p,
            "llr": bayes_threshold(p),
            "score": c.score_threshold(p),
        })).collect::<Vec<_>>(),
    })
}

fn table(r: &Report) -> String {
    let c = &r.calibration;
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
    for &p in &r.thresholds {
        out += &format!(
            "{:<22}accept when llr ≥ {:.4} (raw score ≥ {:.6})\n",
            format!("Threshold P = {p}"),
            bayes_threshold(p),
            c.score_threshold(p)
        );
    }
    if c.scale <= 0.0 {
        out += "Warning               the scale is not positive: on the calibration list higher scores mean *less* \
                likely the same speaker, so the model does not separate its speakers; check the list and the model\n";
    }
    if let Some(w) = &r.written {
        out += &format!("{:<22}{}\n", "Calibrated scores", w.display());
    }
    out
}
