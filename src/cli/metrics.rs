//! `adaptsv metrics`: EER and minDCF of a score file, as a readable table or one JSON object.
//!
//! This is how a server user (or a script comparing runs) gets the headline numbers of any score file, ours or
//! another toolkit's, without opening the GUI. Conventions are those of [`crate::eval::metrics`].

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::eval::{compute_metrics, read_scores, Metrics, DEFAULT_P_TARGETS};

/// Compute EER and minDCF from a score file.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsArgs {
    /// Score file: one trial per line, `enroll test score label`, label `target`/`nontarget` or `1`/`0`.
    #[arg(long, value_name = "FILE")]
    pub scores: PathBuf,

    /// Target prior for normalised minDCF (C_miss = C_fa = 1); repeat for several [default: 0.01 and 0.05].
    #[arg(long = "p-target", value_name = "P", value_parser = parse_p_target)]
    pub p_target: Vec<f64>,

    /// Print exactly one JSON object instead of the table:
    /// `{"eer": fraction, "eer_threshold": score, "min_dcf": {"0.01": value, ...}, "n_target": n, "n_nontarget": n}`.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand: reads the score file, prints the table or the JSON object to stdout.
pub fn run(args: &MetricsArgs) -> anyhow::Result<()> {
    let metrics = evaluate(&args.scores, &p_targets(args))?;
    let text = if args.json {
        to_json(&metrics).to_string()
    } else {
        to_table(&args.scores, &metrics)
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").context("writing the metrics to stdout")
}

/// The requested priors in the order given, duplicates dropped, or [`DEFAULT_P_TARGETS`] if none were given.
fn p_targets(args: &MetricsArgs) -> Vec<f64> {
    unique_p_targets(&args.p_target)
}

/// The priors given on the command line without repeats, or the defaults when none were given.
pub(crate) fn unique_p_targets(given: &[f64]) -> Vec<f64> {
    if given.is_empty() {
        return DEFAULT_P_TARGETS.to_vec();
    }
    let mut unique: Vec<f64> = Vec::with_capacity(given.len());
    for &p in given {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    unique
}

/// Reads `path` and computes EER and one minDCF per prior.
pub fn evaluate(path: &Path, p_targets: &[f64]) -> anyhow::Result<Metrics> {
    let trials = read_scores(path)?;
    compute_metrics(trials.iter().map(|t| t.pair()), p_targets)
        .with_context(|| format!("computing metrics of score file {}", path.display()))
}

/// The JSON report: `eer` as a fraction, `min_dcf` keyed by the prior written as the shortest decimal
/// (`0.01`, `0.05`, …).
pub fn to_json(metrics: &Metrics) -> serde_json::Value {
    let min_dcf: serde_json::Map<String, serde_json::Value> = metrics
        .min_dcf
        .iter()
        .map(|m| (m.params.p_target.to_string(), m.value.into()))
        .collect();
    serde_json::json!({
        "eer": metrics.eer.rate,
        "eer_threshold": metrics.eer.threshold,
        "min_dcf": min_dcf,
        "n_target": metrics.n_target,
        "n_nontarget": metrics.n_nontarget,
    })
}

/// The human-readable report, one figure per line with its unit.
pub fn to_table(path: &Path, metrics: &Metrics) -> String {
    let mut out = String::new();
    let total = metrics.n_target + metrics.n_nontarget;
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{:<18}{}", "Score file", path.display());
    let _ = writeln!(
        out,
        "{:<18}{total}  ({} target, {} non-target)",
        "Trials", metrics.n_target, metrics.n_nontarget
    );
    let _ = writeln!(
        out,
        "{:<18}{:.4} %  (threshold {:.6})",
        "EER",
        100.0 * metrics.eer.rate,
        metrics.eer.threshold
    );
    for m in &metrics.min_dcf {
        let threshold = if m.threshold.is_finite() {
            format!("{:.6}", m.threshold)
        } else {
            "reject all".into()
        };
        let label = format!("minDCF (P={})", m.params.p_target);
        let _ = writeln!(out, "{label:<18}{:.4}    (threshold {threshold})", m.value);
    }
    out.pop(); // the caller adds the final newline
    out
}

/// Parses a target prior, which must lie strictly between 0 and 1.
pub(crate) fn parse_p_target(text: &str) -> Result<f64, String> {
    let p: f64 = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    if p > 0.0 && p < 1.0 {
        Ok(p)
    } else {
        Err(format!("{p} is not a probability strictly between 0 and 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_target_must_be_a_probability() {
        assert_eq!(parse_p_target("0.01"), Ok(0.01));
        assert!(parse_p_target("0").is_err());
        assert!(parse_p_target("1").is_err());
        assert!(parse_p_target("abc").is_err());
    }

    #[test]
    fn duplicate_priors_are_dropped_and_defaults_apply() {
        let mut args = MetricsArgs {
            scores: PathBuf::from("x"),
            p_target: vec![],
            json: false,
        };
        assert_eq!(p_targets(&args), vec![0.01, 0.05]);
        args.p_target = vec![0.05, 0.001, 0.05];
        assert_eq!(p_targets(&args), vec![0.05, 0.001]);
    }
}
