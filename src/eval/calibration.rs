//! Score calibration: cosine scores turned into log-likelihood ratios an engineer can threshold, as in the
//! NIST / BOSARIS practice.
//!
//! [`Calibration::fit`] fits `llr = scale · score + offset` by prior-weighted logistic regression on a held-out
//! calibration trial list: it minimises
//!
//! ```text
//! C(a, b) = π / N_tar · Σ_tar ln(1 + e^−(a·s + b + logit π)) + (1 − π) / N_non · Σ_non ln(1 + e^(a·s + b + logit π))
//! ```
//!
//! (convex; solved by Newton's method to machine precision), so targets and non-targets count with the weights of
//! the prior `π` (0.5 by default) whatever their numbers. The fitted scores are natural-log LLRs: the Bayes
//! decision for a target prior `P` (equal costs) accepts when `llr ≥ ln((1 − P) / P)` ([`bayes_threshold`]).
//! [`min_cllr`] is the Cllr of the best monotone calibration of the same scores (pool-adjacent-violators), the
//! floor any calibration can reach: `Cllr − minCllr` is the calibration loss.

use super::metrics::{softplus, split_trials};
use super::EvalError;

/// `llr = scale · score + offset`, fitted at `prior`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    pub scale: f64,
    pub offset: f64,
    /// The target prior the fit weighted the trials with.
    pub prior: f64,
}

/// `ln(p / (1 − p))`.
pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The LLR above which a trial is accepted for target prior `p_target` (equal costs of miss and false alarm).
pub fn bayes_threshold(p_target: f64) -> f64 {
    -logit(p_target)
}

impl Calibration {
    /// Fits the calibration on `trials` (score, is target) at `prior` (strictly between 0 and 1).
    pub fn fit<I>(trials: I, prior: f64) -> Result<Self, EvalError>
    where
        I: IntoIterator<Item = (f64, bool)>,
    {
        if !(prior > 0.0 && prior < 1.0) {
            return Err(EvalError::InvalidDcfParams { p_target: prior, c_miss: 1.0, c_fa: 1.0 });
        }
        let (tar, non) = split_trials(trials)?;
        // Standardised scores keep Newton's steps well scaled; the answer is mapped back at the end.
        let all = tar.iter().chain(&non);
        let n = (tar.len() + non.len()) as f64;
        let mean = all.clone().sum::<f64>() / n;
        let sd = (all.map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
        let sd = if sd > 0.0 { sd } else { 1.0 };
        let z = |s: f64| (s - mean) / sd;
        let (wt, wn) = (prior / tar.len() as f64, (1.0 - prior) / non.len() as f64);
        let shift = logit(prior);
        let cost = |a: f64, b: f64| -> f64 {
            wt * tar.iter().map(|&s| softplus(-(a * z(s) + b + shift))).sum::<f64>()
                + wn * non.iter().map(|&s| softplus(a * z(s) + b + shift)).sum::<f64>()
        };
        let (mut a, mut b) = (0.0f64, 0.0f64);
        let mut current = cost(a, b);
        for _ in 0..200 {
            // Gradient and Hessian of the cost in (a, b).
            let (mut g, mut h) = ([0.0f64; 2], [0.0f64; 3]);
            for (set, w, sign) in [(&tar, wt, -1.0), (&non, wn, 1.0)] {
                for &s in set.iter() {
                    let x = z(s);
                    let p = sigmoid(sign * (a * x + b + shift));
                    let d = w * sign * p;
                    g[0] += d * x;
                    g[1] += d;
                    let c = w * p * (1.0 - p);
                    h[0] += c * x * x;
                    h[1] += c * x;
                    h[2] += c;
                }
            }
            let det = h[0] * h[2] - h[1] * h[1];
            if !(det > 0.0) || (g[0].abs() + g[1].abs()) < 1e-15 {
                break;
            }
            let step = [(h[2] * g[0] - h[1] * g[1]) / det, (h[0] * g[1] - h[1] * g[0]) / det];
            // Backtracking keeps every step a descent (separable data would otherwise run off).
            let mut t = 1.0;
            let mut next = cost(a - t * step[0], b - t * step[1]);
            while next > current && t > 1e-10 {
                t *= 0.5;
                next = cost(a - t * step[0], b - t * step[1]);
            }
            let moved = (t * step[0]).abs() + (t * step[1]).abs();
            a -= t * step[0];
            b -= t * step[1];
            current = next;
            if moved < 1e-15 {
                break;
            }
        }
        // llr = a·(s − mean)/sd + b.
        Ok(Calibration { scale: a / sd, offset: b - a * mean / sd, prior })
    }

    /// The calibrated LLR of a raw score.
    pub fn llr(&self, score: f64) -> f64 {
        self.scale * score + self.offset
    }

    /// The raw score at which the calibrated LLR reaches the Bayes threshold of `p_target`.
    pub fn score_threshold(&self, p_target: f64) -> f64 {
        (bayes_threshold(p_target) - self.offset) / self.scale
    }
}

/// Cllr (bits) of scores read as natural-log LLRs.
pub fn cllr<I>(trials: I) -> Result<f64, EvalError>
where
    I: IntoIterator<Item = (f64, bool)>,
{
    let (tar, non) = split_trials(trials)?;
    let t = tar.iter().map(|&s| softplus(-s)).sum::<f64>() / tar.len() as f64;
    let n = non.iter().map(|&s| softplus(s)).sum::<f64>() / non.len() as f64;
    Ok((t + n) / (2.0 * std::f64::consts::LN_2))
}

/// The minimum Cllr (bits) over monotone calibrations of the scores: the pool-adjacent-violators fit of the
/// target posterior (tied scores pooled), turned into LLRs with the list's own target proportion.
pub fn min_cllr<I>(trials: I) -> Result<f64, EvalError>
where
    I: IntoIterator<Item = (f64, bool)>,
{
    let (tar, non) = split_trials(trials)?;
    let (nt, nn) = (tar.len() as f64, non.len() as f64);
    let mut all: Vec<(f64, f64)> = tar.iter().map(|&s| (s, 1.0)).chain(non.iter().map(|&s| (s, 0.0))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Blocks of (sum of labels, count): ties first, then merged while the posterior would decrease.
    let mut blocks: Vec<(f64, f64)> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        let (mut sum, mut count) = (0.0, 0.0);
        while j < all.len() && all[j].0 == all[i].0 {
            sum += all[j].1;
            count += 1.0;
            j += 1;
        }
        blocks.push((sum, count));
        while blocks.len() > 1 {
            let (s2, c2) = blocks[blocks.len() - 1];
            let (s1, c1) = blocks[blocks.len() - 2];
            if s1 / c1 < s2 / c2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s1 + s2, c1 + c2);
        }
        i = j;
    }
    // Each block's targets pay −log2 of the posterior over the prior odds, its non-targets likewise; a block of one
    // class costs nothing (its LLR is ±∞ on the right side).
    let prior_odds = nt / nn;
    let (mut t_cost, mut n_cost) = (0.0, 0.0);
    for (sum, count) in blocks {
        let (targets, nontargets) = (sum, count - sum);
        if targets > 0.0 && nontargets > 0.0 {
            let llr = (targets / nontargets / prior_odds).ln();
            t_cost += targets * softplus(-llr);
            n_cost += nontargets * softplus(llr);
        }
    }
    Ok((t_cost / nt + n_cost / nn) / (2.0 * std::f64::consts::LN_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_that_are_already_llrs_calibrate_to_themselves() {
        // Scores drawn so that s is exactly the LLR: N(+1, √2) targets vs N(−1, √2) non-targets have LLR = s.
        let mut rng = 12345u64;
        let mut normal = || {
            let mut u = || {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((rng >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            };
            (-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos()
        };
        let sd = 2f64.sqrt();
        let trials: Vec<(f64, bool)> = (0..40_000)
            .map(|i| if i % 2 == 0 { (1.0 + sd * normal(), true) } else { (-1.0 + sd * normal(), false) })
            .collect();
        let c = Calibration::fit(trials.iter().copied(), 0.5).unwrap();
        assert!((c.scale - 1.0).abs() < 0.03 && c.offset.abs() < 0.03, "{c:?}");
        let before = cllr(trials.iter().copied()).unwrap();
        let after = cllr(trials.iter().map(|&(s, t)| (c.llr(s), t))).unwrap();
        let floor = min_cllr(trials.iter().copied()).unwrap();
        assert!(after <= before + 1e-12 && floor <= after + 1e-12, "{floor} <= {after} <= {before}");
    }

    #[test]
    fn the_bayes_threshold_is_the_prior_log_odds() {
        assert_eq!(bayes_threshold(0.5), 0.0);
        assert!((bayes_threshold(0.01) - 99f64.ln()).abs() < 1e-12);
        let c = Calibration { scale: 2.0, offset: -1.0, prior: 0.5 };
        assert!((c.llr(c.score_threshold(0.01)) - 99f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn perfectly_separated_scores_have_no_calibration_floor() {
        assert_eq!(min_cllr([(0.9, true), (0.8, true), (0.1, false)]).unwrap(), 0.0);
        // Interleaved classes in one pooled block: posterior 1/2 with prior odds 1: one bit.
        assert!((min_cllr([(0.5, true), (0.5, false)]).unwrap() - 1.0).abs() < 1e-12);
    }
}
