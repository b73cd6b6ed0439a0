//! Verification metrics of a set of scored trials: EER, normalised minDCF, and, for calibrated log-likelihood-ratio
//! scores, actual DCF and Cllr.
//!
//! Every figure is read off one [`ErrorCurve`], built in O(n log n) by sorting the scores once; the figures
//! themselves are then O(n). The conventions, chosen to match the NIST SRE scoring script that WeSpeaker ships
//! (`wespeaker/utils/score_metrics.py`: `compute_pmiss_pfa_rbst`, `compute_eer`, `compute_c_norm`), are:
//!
//! - **Decision rule.** A trial is accepted when `score >= threshold`. Higher scores mean "same speaker".
//! - **Thresholds are the distinct scores**, in increasing order, followed by `+∞` (reject everything). At the
//!   lowest score everything is accepted (`P_miss = 0`, `P_fa = 1`), at `+∞` everything is rejected
//!   (`P_miss = 1`, `P_fa = 0`), so the curve always spans both extremes.
//! - **Ties move together.** Trials with equal scores are accepted or rejected together, so no figure depends on the
//!   input order. `-0.0` is treated as `0.0`.
//! - **EER** is where the miss and false-alarm rates, linearly interpolated between neighbouring thresholds, cross:
//!   with `x1` the first threshold where `P_miss >= P_fa` and `x2 = x1 - 1` the last where `P_miss < P_fa`, the
//!   segment between those two (P_fa, P_miss) points is intersected with the diagonal. Because each distinct score
//!   holds at least one trial, `P_miss - P_fa` strictly increases along the curve, so the crossing is unique. This
//!   is the NIST/WeSpeaker `compute_eer` on a tie-grouped curve; with no ties it gives the same number.
//! - **EER threshold** is the threshold at `x2`: the highest distinct score at which accepting `score >= threshold`
//!   still gives `P_miss < P_fa`. With no ties this equals the threshold NIST/WeSpeaker's `compute_eer` returns.
//! - **minDCF** is `min over thresholds of (C_miss·P_miss·P + C_fa·P_fa·(1−P)) / min(C_miss·P, C_fa·(1−P))`,
//!   both extremes included (so it never exceeds 1). Its threshold is the lowest one reaching the minimum
//!   (`+∞` when rejecting everything is best).
//! - **Actual DCF** (for LLR scores) applies the Bayes threshold `ln(C_fa·(1−P) / (C_miss·P))` with the same
//!   accept rule and normalisation. **Cllr** is in bits:
//!   `(mean over targets of log2(1+e^−s) + mean over non-targets of log2(1+e^s)) / 2`.
//!
//! Rates are fractions in `[0, 1]`; callers format them as percentages for people.

use super::EvalError;

/// The target priors reported by default: the NIST SRE 2008 (0.01) and VoxSRC (0.05) operating points.
pub const DEFAULT_P_TARGETS: [f64; 2] = [0.01, 0.05];

/// One detection-cost operating point: the target prior and the two error costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DcfParams {
    /// Prior probability of a target trial, strictly between 0 and 1.
    pub p_target: f64,
    /// Cost of a miss (rejected target trial), positive.
    pub c_miss: f64,
    /// Cost of a false alarm (accepted non-target trial), positive.
    pub c_fa: f64,
}

impl DcfParams {
    /// The operating point with prior `p_target` and unit costs (`C_miss = C_fa = 1`).
    pub fn new(p_target: f64) -> Self {
        Self {
            p_target,
            c_miss: 1.0,
            c_fa: 1.0,
        }
    }

    /// Checks that the prior lies in (0, 1) and both costs are positive and finite.
    pub fn validate(&self) -> Result<(), EvalError> {
        let prior_ok = self.p_target > 0.0 && self.p_target < 1.0;
        let costs_ok = [self.c_miss, self.c_fa].iter().all(|c| c.is_finite() && *c > 0.0);
        if prior_ok && costs_ok {
            Ok(())
        } else {
            Err(EvalError::InvalidDcfParams {
                p_target: self.p_target,
                c_miss: self.c_miss,
                c_fa: self.c_fa,
            })
        }
    }

    /// Cost of the best trivial system (accept all or reject all): `min(C_miss·P, C_fa·(1−P))`.
    pub fn default_cost(&self) -> f64 {
        (self.c_miss * self.p_target).min(self.c_fa * (1.0 - self.p_target))
    }

    /// The Bayes decision threshold for log-likelihood-ratio scores: `ln(C_fa·(1−P) / (C_miss·P))`.
    pub fn llr_threshold(&self) -> f64 {
        (self.c_fa * (1.0 - self.p_target) / (self.c_miss * self.p_target)).ln()
    }

    /// The detection cost of error rates `p_miss`, `p_fa`, divided by [`Self::default_cost`].
    pub fn normalized_cost(&self, p_miss: f64, p_fa: f64) -> f64 {
        (self.c_miss * p_miss * self.p_target + self.c_fa * p_fa * (1.0 - self.p_target)) / self.default_cost()
    }
}

/// Miss and false-alarm rates at every distinct score, ties grouped (see the module docs).
///
/// Arrays have one entry per distinct score plus a final `+∞` threshold; along them thresholds increase,
/// `p_miss` rises from 0 to 1 and `p_fa` falls from 1 to 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorCurve {
    thresholds: Vec<f64>,
    p_miss: Vec<f64>,
    p_fa: Vec<f64>,
    n_target: usize,
    n_nontarget: usize,
}

impl ErrorCurve {
    /// Builds the curve from `(score, is_target)` pairs in O(n log n).
    ///
    /// Fails on an empty set, a set without targets or without non-targets, or a non-finite score.
    pub fn new<I>(trials: I) -> Result<Self, EvalError>
    where
        I: IntoIterator<Item = (f64, bool)>,
    {
        let (tar, non) = split_trials(trials)?;

        let (n_target, n_nontarget) = (tar.len(), non.len());
        let capacity = n_target + n_nontarget + 1;
        let mut curve = Self {
            thresholds: Vec::with_capacity(capacity),
            p_miss: Vec::with_capacity(capacity),
            p_fa: Vec::with_capacity(capacity),
            n_target,
            n_nontarget,
        };
        // `i` targets and `j` non-targets score strictly below the current threshold.
        let (mut i, mut j) = (0, 0);
        loop {
            let threshold = match (tar.get(i), non.get(j)) {
                (Some(&t), Some(&n)) => t.min(n),
                (Some(&t), None) => t,
                (None, Some(&n)) => n,
                (None, None) => break,
            };
            curve.push(threshold, i, n_nontarget - j);
            while tar.get(i) == Some(&threshold) {
                i += 1;
            }
            while non.get(j) == Some(&threshold) {
                j += 1;
            }
        }
        curve.push(f64::INFINITY, n_target, 0);
        Ok(curve)
    }

    fn push(&mut self, threshold: f64, n_miss: usize, n_fa: usize) {
        self.thresholds.push(threshold);
        self.p_miss.push(n_miss as f64 / self.n_target as f64);
        self.p_fa.push(n_fa as f64 / self.n_nontarget as f64);
    }

    /// Number of operating points (distinct scores + 1).
    pub fn len(&self) -> usize {
        self.thresholds.len()
    }

    /// Always false: a curve holds at least the accept-all and reject-all points.
    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty()
    }

    /// Increasing thresholds: the distinct scores, then `+∞`.
    pub fn thresholds(&self) -> &[f64] {
        &self.thresholds
    }

    /// Miss rate (fraction of target trials scoring below the threshold) at each threshold.
    pub fn p_miss(&self) -> &[f64] {
        &self.p_miss
    }

    /// False-alarm rate (fraction of non-target trials scoring at or above the threshold) at each threshold.
    pub fn p_fa(&self) -> &[f64] {
        &self.p_fa
    }

    /// Number of target trials.
    pub fn n_target(&self) -> usize {
        self.n_target
    }

    /// Number of non-target trials.
    pub fn n_nontarget(&self) -> usize {
        self.n_nontarget
    }

    /// Index `x1` of the first point with `P_miss >= P_fa`; the EER lies on the segment `x1 - 1 ..= x1`.
    ///
    /// Always in `1..len()`: the first point has `P_miss − P_fa = −1`, the last `+1`.
    pub fn eer_index(&self) -> usize {
        // P_miss − P_fa strictly increases, so binary search with the invariant
        // P_miss[lo] < P_fa[lo] and P_miss[hi] >= P_fa[hi].
        let (mut lo, mut hi) = (0, self.len() - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.p_miss[mid] >= self.p_fa[mid] {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    /// Equal error rate and its threshold (see the module docs for the interpolation).
    pub fn eer(&self) -> Eer {
        let x1 = self.eer_index();
        let x2 = x1 - 1;
        let d1 = self.p_miss[x1] - self.p_fa[x1]; // >= 0
        let d2 = self.p_miss[x2] - self.p_fa[x2]; // < 0
        let lambda = d1 / (d1 - d2);
        let rate = self.p_miss[x1] + lambda * (self.p_miss[x2] - self.p_miss[x1]);
        Eer {
            rate,
            threshold: self.thresholds[x2],
        }
    }

    /// Normalised minimum detection cost at `params`.
    pub fn min_dcf(&self, params: &DcfParams) -> Result<MinDcf, EvalError> {
        params.validate()?;
        let mut best = (f64::INFINITY, 0);
        for (k, (&p_miss, &p_fa)) in self.p_miss.iter().zip(&self.p_fa).enumerate() {
            let cost = params.normalized_cost(p_miss, p_fa);
            // Strict `<`: on equal cost the lowest threshold wins.
            if cost < best.0 {
                best = (cost, k);
            }
        }
        Ok(MinDcf {
            params: *params,
            value: best.0,
            threshold: self.thresholds[best.1],
        })
    }
}

/// The equal error rate and where it is reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eer {
    /// EER as a fraction in `[0, 1]`.
    pub rate: f64,
    /// Highest distinct score at which accepting `score >= threshold` still gives `P_miss < P_fa`.
    pub threshold: f64,
}

/// A normalised minimum detection cost and the threshold reaching it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinDcf {
    /// The operating point it was computed for.
    pub params: DcfParams,
    /// minDCF normalised by [`DcfParams::default_cost`]; in `[0, 1]`.
    pub value: f64,
    /// Lowest threshold reaching the minimum; `+∞` when rejecting every trial is best.
    pub threshold: f64,
}

/// The summary figures of a score set, as reported after each evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Number of target trials.
    pub n_target: usize,
    /// Number of non-target trials.
    pub n_nontarget: usize,
    /// Equal error rate.
    pub eer: Eer,
    /// One minDCF per requested operating point, in the order requested.
    pub min_dcf: Vec<MinDcf>,
}

impl Metrics {
    /// Reads the summary figures off an already built curve.
    pub fn from_curve(curve: &ErrorCurve, params: &[DcfParams]) -> Result<Self, EvalError> {
        Ok(Self {
            n_target: curve.n_target(),
            n_nontarget: curve.n_nontarget(),
            eer: curve.eer(),
            min_dcf: params.iter().map(|p| curve.min_dcf(p)).collect::<Result<_, _>>()?,
        })
    }
}

/// EER and minDCF (unit costs, one per entry of `p_targets`, e.g. [`DEFAULT_P_TARGETS`]) of `(score, is_target)`
/// pairs.
pub fn compute_metrics<I>(trials: I, p_targets: &[f64]) -> Result<Metrics, EvalError>
where
    I: IntoIterator<Item = (f64, bool)>,
{
    let params: Vec<DcfParams> = p_targets.iter().map(|&p| DcfParams::new(p)).collect();
    // Reject bad priors before the sort.
    params.iter().try_for_each(DcfParams::validate)?;
    Metrics::from_curve(&ErrorCurve::new(trials)?, &params)
}

/// The actual (not minimum) normalised detection cost of LLR scores at one operating point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActDcf {
    /// The operating point, whose Bayes threshold was applied.
    pub params: DcfParams,
    /// Actual DCF normalised by [`DcfParams::default_cost`]; can exceed 1 for badly calibrated scores.
    pub value: f64,
}

/// Calibration-sensitive figures of scores that claim to be natural-log likelihood ratios.
#[derive(Debug, Clone, PartialEq)]
pub struct LlrMetrics {
    /// Number of target trials.
    pub n_target: usize,
    /// Number of non-target trials.
    pub n_nontarget: usize,
    /// One actual DCF per requested operating point, in the order requested.
    pub act_dcf: Vec<ActDcf>,
    /// Log-likelihood-ratio cost in bits: 0 is perfect, 1 is an uninformative system that always outputs 0.
    pub cllr: f64,
}

/// Actual DCF at each of `params` and Cllr, treating the scores as natural-log likelihood ratios.
///
/// Cosine scores are not LLRs: these figures only make sense after calibration.
pub fn llr_metrics<I>(trials: I, params: &[DcfParams]) -> Result<LlrMetrics, EvalError>
where
    I: IntoIterator<Item = (f64, bool)>,
{
    params.iter().try_for_each(DcfParams::validate)?;
    let (tar, non) = split_trials(trials)?;
    let (nt, nn) = (tar.len() as f64, non.len() as f64);

    let act_dcf = params
        .iter()
        .map(|p| {
            let threshold = p.llr_threshold();
            // Sorted scores: misses are the targets below the threshold, false alarms the non-targets at or above.
            let n_miss = tar.partition_point(|&s| s < threshold);
            let n_fa = non.len() - non.partition_point(|&s| s < threshold);
            ActDcf {
                params: *p,
                value: p.normalized_cost(n_miss as f64 / nt, n_fa as f64 / nn),
            }
        })
        .collect();

    // Summing in sorted order makes the result independent of the input order, to the last bit.
    let tar_cost: f64 = tar.iter().map(|&s| softplus(-s)).sum::<f64>() / nt;
    let non_cost: f64 = non.iter().map(|&s| softplus(s)).sum::<f64>() / nn;
    let cllr = (tar_cost + non_cost) / (2.0 * std::f64::consts::LN_2);

    Ok(LlrMetrics {
        n_target: tar.len(),
        n_nontarget: non.len(),
        act_dcf,
        cllr,
    })
}

/// `ln(1 + e^x)` without overflow for large `x` or loss of precision for very negative `x`.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// Validates `(score, is_target)` pairs and splits them into target and non-target scores, each sorted in
/// increasing order, `-0.0` folded into `0.0`.
pub(crate) fn split_trials<I>(trials: I) -> Result<(Vec<f64>, Vec<f64>), EvalError>
where
    I: IntoIterator<Item = (f64, bool)>,
{
    let (mut tar, mut non) = (Vec::new(), Vec::new());
    for (index, (score, is_target)) in trials.into_iter().enumerate() {
        if !score.is_finite() {
            return Err(EvalError::NonFiniteScore { index, score });
        }
        // Adding +0.0 maps -0.0 to +0.0 and leaves every other value unchanged.
        let score = score + 0.0;
        if is_target {
            tar.push(score);
        } else {
            non.push(score);
        }
    }
    match (tar.len(), non.len()) {
        (0, 0) => Err(EvalError::NoTrials),
        (0, n_nontarget) => Err(EvalError::NoTargets { n_nontarget }),
        (n_target, 0) => Err(EvalError::NoNonTargets { n_target }),
        _ => {
            // Finite values with -0.0 folded into 0.0: total_cmp is the numeric order.
            tar.sort_unstable_by(f64::total_cmp);
            non.sort_unstable_by(f64::total_cmp);
            Ok((tar, non))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trials(tar: &[f64], non: &[f64]) -> Vec<(f64, bool)> {
        tar.iter()
            .map(|&s| (s, true))
            .chain(non.iter().map(|&s| (s, false)))
            .collect()
    }

    #[test]
    fn curve_groups_ties_and_spans_both_extremes() {
        let curve = ErrorCurve::new(trials(&[0.5, 0.9], &[0.1, 0.5])).unwrap();
        assert_eq!(curve.thresholds(), &[0.1, 0.5, 0.9, f64::INFINITY]);
        assert_eq!(curve.p_miss(), &[0.0, 0.0, 0.5, 1.0]);
        assert_eq!(curve.p_fa(), &[1.0, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn eer_of_hand_worked_example() {
        // Targets 0.5, 0.9; non-targets 0.1, 0.5. Points (P_fa, P_miss): (1,0) (0.5,0) (0,0.5) (0,1).
        // Crossing between (0.5, 0) at t=0.5 and (0, 0.5) at t=0.9: on the segment P_fa + P_miss = 0.5 → EER 0.25.
        let eer = ErrorCurve::new(trials(&[0.5, 0.9], &[0.1, 0.5])).unwrap().eer();
        assert_eq!(eer.rate, 0.25);
        assert_eq!(eer.threshold, 0.5);
    }

    #[test]
    fn separable_scores_give_zero_eer_and_min_dcf() {
        let curve = ErrorCurve::new(trials(&[2.0, 3.0], &[-1.0, 0.0, 1.0])).unwrap();
        assert_eq!(curve.eer().rate, 0.0);
        assert_eq!(curve.eer().threshold, 1.0);
        let dcf = curve.min_dcf(&DcfParams::new(0.01)).unwrap();
        assert_eq!(dcf.value, 0.0);
        assert_eq!(dcf.threshold, 2.0);
    }

    #[test]
    fn constant_scores_are_uninformative() {
        let curve = ErrorCurve::new(trials(&[1.0; 3], &[1.0; 5])).unwrap();
        assert_eq!(curve.eer().rate, 0.5);
        let dcf = curve.min_dcf(&DcfParams::new(0.05)).unwrap();
        assert_eq!(dcf.value, 1.0);
        assert_eq!(dcf.threshold, f64::INFINITY);
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        let a = ErrorCurve::new(trials(&[0.0, 1.0], &[-0.0, -1.0])).unwrap();
        let b = ErrorCurve::new(trials(&[-0.0, 1.0], &[0.0, -1.0])).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 4);
        assert!(a.thresholds()[1].is_sign_positive());
    }

    #[test]
    fn bad_inputs_are_reported() {
        assert!(matches!(ErrorCurve::new(Vec::new()), Err(EvalError::NoTrials)));
        assert!(matches!(
            ErrorCurve::new(trials(&[], &[1.0])),
            Err(EvalError::NoTargets { n_nontarget: 1 })
        ));
        assert!(matches!(
            ErrorCurve::new(trials(&[1.0, 2.0], &[])),
            Err(EvalError::NoNonTargets { n_target: 2 })
        ));
        let nan = ErrorCurve::new(trials(&[1.0, f64::NAN], &[0.0]));
        assert!(matches!(nan, Err(EvalError::NonFiniteScore { index: 1, .. })));
        let bad_prior = compute_metrics(trials(&[1.0], &[0.0]), &[0.0]);
        assert!(matches!(bad_prior, Err(EvalError::InvalidDcfParams { .. })));
    }

    #[test]
    fn min_dcf_never_exceeds_one() {
        // Targets all below non-targets: the worst possible system still costs at most the trivial one.
        let curve = ErrorCurve::new(trials(&[-3.0, -2.0], &[2.0, 3.0])).unwrap();
        assert_eq!(curve.eer().rate, 1.0);
        for p in [0.001, 0.01, 0.5, 0.9] {
            assert_eq!(curve.min_dcf(&DcfParams::new(p)).unwrap().value, 1.0);
        }
    }

    #[test]
    fn llr_metrics_of_zero_scores_are_uninformative() {
        // An LLR of 0 everywhere is "no information": Cllr = 1 bit, and at P=0.5 the Bayes threshold is 0,
        // so every trial is accepted: P_fa = 1, normalised cost 0.5·1 / 0.5 = 1.
        let m = llr_metrics(trials(&[0.0; 4], &[0.0; 6]), &[DcfParams::new(0.5)]).unwrap();
        assert!((m.cllr - 1.0).abs() < 1e-15);
        assert_eq!(m.act_dcf[0].value, 1.0);
    }

    #[test]
    fn softplus_is_stable() {
        assert_eq!(softplus(1000.0), 1000.0);
        assert_eq!(softplus(-1000.0), 0.0);
        assert!((softplus(0.0) - std::f64::consts::LN_2).abs() < 1e-16);
    }
}
